"""The device wing's commands: `boards`, `build`, `flash` and `bench`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tinyml.cli.lifecycle import no_track_option, record
from tinyml.cli.output import emit
from tinyml.device.weight_layouts import DEFAULT_WEIGHTS, WEIGHT_LAYOUTS
from tinyml.errors import MISMATCH, TinymlError

# `tinyml build` and `tinyml bench`: the DSP kernels' weight layout (tinyml.device.weight_layouts)
weights_option = click.option(
    "--weights", type=click.Choice(list(WEIGHT_LAYOUTS)), default=DEFAULT_WEIGHTS, show_default=True,
    help="Conv/FC weight layout of the DSP kernels (M4/M7/M33/M55): int8 (the default) stores the weights once, "
         "half the flash of int16 copies; int16 runs fewer instructions and doubles those weights in flash; auto "
         "takes int16 when the doubled weights fit in half the board's flash.")


def app_options(command):
    """`--app` and `--mlperf-model` (checked by tinyml.device.build, so a wrong value is one line, exit code 2)."""
    command = click.option("--mlperf-model", help="With --app mlperf: the benchmark the model stands for (kws01, "
                                                  "vww01, ic01, ad01); default: from the model's input.")(command)
    return click.option("--app", default="bench", show_default=True,
                        help="Firmware application: bench (tinyml's serial protocol, `tinyml bench`), mlperf "
                             "(the MLPerf Tiny runner's protocol, `tinyml mlperf`) or field (bench plus sensor "
                             "input, on-chip statistics and report frames, docs/FIRMWARE.md).")(command)


def field_options(command):
    """`tinyml build --app field` options (tinyml.device.field_app.FieldOptions; unset: its defaults)."""
    options = [
        click.option("--report-every", type=int, help="Field app: inferences per report window [default: 100]."),
        click.option("--stats-bins", "bins", type=int,
                     help="Field app: input histogram bins [default: the reference statistics', else 16]."),
        click.option("--stats-group", "group", type=int,
                     help="Field app: neighbouring input features pooled into one channel [default: 1]."),
        click.option("--infer-every", type=int, help="Field app: new feature frames per inference [default: one "
                                                     "whole window]; only for models with features.json."),
        click.option("--shadow", type=click.Path(path_type=Path),
                     help="Field app: a challenger .tflite run beside the model (agreement, confusion matrix)."),
        click.option("--shadow-every", type=int, help="Field app: the challenger runs on every k-th inference "
                                                      "[default: 1]."),
        click.option("--sensor", type=click.Choice(["protocol", "file"]),
                     help="Field app, a model with features.json: raw samples streamed by the host over the serial "
                          "link, or read from a recorded file the emulator hands the firmware (emulated boards; "
                          "`tinyml field run` lays the clips out) [default: protocol]."),
        click.option("--shadow-arena", type=click.Choice(["shared", "separate"]),
                     help="Field app: one arena for both models, run one after the other, or each its own "
                          "[default: shared]."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of boards.")
def boards(as_json: bool) -> None:
    """List the board profiles (boards/*.toml) with their budgets."""
    from tinyml.device.boards import all_boards

    found = all_boards()
    if as_json:
        click.echo(json.dumps([b.summary() for b in found], indent=2))
        return
    click.echo(f"{'board':16} {'core':14} {'MHz':>5} {'flash KB':>9} {'RAM KB':>7}  emulator")
    for b in found:
        click.echo(f"{b.name:16} {b.core:14} {b.clock_hz // 1_000_000:>5} {b.flash_bytes // 1024:>9} "
                   f"{b.ram_bytes // 1024:>7}  {b.emulator or '-'}")


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", "board_name", required=True, help="Board name (see `tinyml boards`) or a .toml profile.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Build directory (replaced): sources, firmware.elf/.bin/.hex, build.json.")
@weights_option
@click.option("--builder", type=click.Choice(["gcc", "platformio"]), default="gcc", show_default=True,
              help="Run arm-none-eabi-gcc directly, or `pio run` with tinyml's PlatformIO platform.")
@app_options
@click.option("--registry-id", help="Build MODEL as this registered version (NAME@VERSION or NAME@ALIAS; the file "
                                    "must be its model): the firmware reports its identity and lineage hash.")
@click.option("--json", "as_json", is_flag=True, help="Print build.json.")
@field_options
@no_track_option
def build(model: Path, board_name: str, out_dir: Path, weights: str, builder: str, app: str,
          mlperf_model: str | None, registry_id: str | None, as_json: bool, no_track: bool,
          **field: object) -> None:
    """Build firmware for MODEL (.tflite, or a registered NAME@VERSION / NAME@ALIAS) on a board; exit code 3 if it
    does not fit."""
    from tinyml.device.boards import get_board
    from tinyml.device.build import build_firmware, require_fit
    from tinyml.device.field_app import FieldOptions
    from tinyml.lifecycle.registry import registered_model

    given = {k: v for k, v in field.items() if v is not None}
    options = FieldOptions(**given) if given or app == "field" else None
    with registered_model(model, registry_id) as (path, identity):
        result = build_firmware(path, get_board(board_name), out_dir, weights, builder, app, mlperf_model,
                                identity=identity, field=options)
    costs = result.field or {}
    emit(result.to_json(), as_json,
          f"{result.board}: flash {result.flash_bytes}/{result.flash_budget} B, RAM {result.ram_bytes}/"
          f"{result.ram_budget} B (arena {result.arena_bytes} B, stack {result.stack_bytes} B) -> {out_dir}"
          + (f"; reports {result.identity}" if result.identity else "")
          + (f"; statistics {costs['stats_bytes']} B, features {costs['features_bytes']} B of RAM"
             if "stats_bytes" in costs else "")
          + (f"; shadow arena {costs['shadow_arena_bytes']} B, arenas {costs['arenas_bytes']} B "
             f"({costs['arena_saving_bytes']} B saved by sharing)" if "arenas_bytes" in costs else ""))
    record("build", result.to_json(), [out_dir / "build.json", out_dir / "firmware.elf"])
    require_fit(result)


@click.command()
@click.option("--board", "board_name", required=True, help="Board name (see `tinyml boards`) or a .toml profile.")
@click.option("--build-dir", type=click.Path(path_type=Path), default=Path("build"), show_default=True,
              help="Directory written by `tinyml build -o`.")
@click.option("--port", "probe", help="Serial number of the debug probe to use (when several are attached).")
@click.option("--dry-run", is_flag=True, help="Print the flasher command instead of running it.")
def flash(board_name: str, build_dir: Path, probe: str | None, dry_run: bool) -> None:
    """Write a built image to a board with the profile's flasher."""
    from tinyml.device.boards import get_board
    from tinyml.device.flash import flash as run_flasher

    line = run_flasher(get_board(board_name), build_dir, probe, dry_run)
    click.echo(line if dry_run else f"flashed {build_dir} with: {line}")


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", "board_name", required=True, help="Board name (see `tinyml boards`) or a .toml profile.")
@click.option("--emulator", type=click.Choice(["qemu"]), help="Run in the board's emulator (the default).")
@click.option("--port", help="Serial port or pyserial URL of a flashed board (instead of the emulator).")
@click.option("--inputs", "inputs_path", type=click.Path(path_type=Path),
              help=".npy of N samples shaped as for `tinyml infer` (.npz: one array per input); default: random "
                   "samples.")
@click.option("--output", "output_path", type=click.Path(path_type=Path),
              help="Write the outputs the device returned (.npy; .npz for several outputs).")
@click.option("--runs", type=int, help="Inferences: random samples to draw (default 10), or the first N of --inputs.")
@click.option("--build-dir", type=click.Path(path_type=Path),
              help="Firmware build directory (reused if it holds this model for this board; default: a cache).")
@click.option("--cycles", is_flag=True, help="Also estimate cycles per inference and MAC/cycle from a traced run "
                                              "(emulated Cortex-M4/M7: their instruction timings).")
@click.option("--profile", "per_layer", is_flag=True,
              help="Also profile one inference per layer (the first sample): instructions, estimated cycles, MACs, "
                   "MAC/cycle and the kernel variant, read from the emulator's trace (emulated Cortex-M4/M7).")
@weights_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@no_track_option
def bench(model: Path, board_name: str, emulator: str | None, port: str | None, inputs_path: Path | None,
          output_path: Path | None, runs: int | None, build_dir: Path | None, cycles: bool, per_layer: bool,
          weights: str, as_json: bool, no_track: bool) -> None:
    """Run MODEL on a board (emulated, or flashed on --port), check every output against the host reference and
    report instructions or cycles, latency, memory and energy per inference. Exit code 5 if any output differs."""
    from tinyml import npyio
    from tinyml.device.bench import bench as run_bench
    from tinyml.device.boards import get_board

    if emulator and port:
        raise TinymlError("--emulator and --port exclude each other")
    if per_layer and port:
        raise TinymlError("--profile reads the emulator's trace; it cannot profile the board on --port")
    board = get_board(board_name)
    if per_layer:
        from tinyml.device.profile import require_profilable

        require_profilable(board)
    inputs = npyio.load_inputs(inputs_path) if inputs_path else None
    report = run_bench(model, board, port=port, inputs=inputs, runs=runs, build_dir=build_dir,
                       progress=not as_json and sys.stderr.isatty(), source=str(inputs_path or "inputs"),
                       cycles=cycles, weights=weights)
    if output_path:
        npyio.save_outputs(output_path, report.outputs)
    layers = None
    if per_layer:
        from tinyml.device.profile import profile

        layers = profile(model, board, inputs=inputs, build_dir=build_dir, weights=weights,
                         source=str(inputs_path or "inputs"))
    emit(report.to_json() | ({"profile": layers.to_json()} if layers else {}), as_json,
          f"{report.board} ({report.target}): {report.outputs_match}/{report.outputs_total} outputs match the "
          f"reference ({', '.join(report.references)}) over {report.runs} runs\n"
          f"  {report.counter} per inference: {report.count_per_inference:,} (min {min(report.per_inference):,}, "
          f"max {max(report.per_inference):,})\n"
          f"  MACs per inference: {report.macs:,}\n"
          + (f"  cycle estimate: {report.cycles_estimate:,} per inference, "
             f"{report.mac_per_cycle_estimate:.3f} MAC/cycle (Cortex-M4 timings, zero wait states)\n"
             if report.cycles_estimate is not None else "")
          + f"  latency estimate: {report.latency_ms_estimate:.3f} ms = {report.latency_basis}\n"
          f"  energy estimate: {report.energy_uj_estimate:.3f} uJ per inference\n"
          f"  flash {report.flash_bytes} B (weights {report.weights_bytes} B), RAM {report.ram_bytes} B "
          f"(arena {report.arena_bytes} B), peak stack {report.stack_peak_bytes} B"
          + (f"\n  firmware: {report.firmware_version}" if " lin:" in report.firmware_version else "")
          + (f"\nper-layer profile of sample 0 (Cortex-M4 timings, zero wait states):\n{layers.table()}"
             if layers else ""))
    record("bench", report.to_json(), [model])
    if report.mismatched_samples:
        shown = ", ".join(map(str, report.mismatched_samples[:20]))
        more = f" and {len(report.mismatched_samples) - 20} more" if len(report.mismatched_samples) > 20 else ""
        raise TinymlError(f"outputs differ from the reference for samples {shown}{more}", MISMATCH)


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", "board_name", required=True, help="An emulated board (see `tinyml boards`).")
@click.option("--mode", type=click.Choice(["performance", "accuracy"]), default="performance", show_default=True,
              help="The runner's test: throughput over 5 windows, or Top-1 (ad01: AUC) over a data set.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path),
              help="The runner's data set: sample files and y_labels.csv (DIR or DIR/<model id>). Performance "
                   "without it loads random inputs.")
@click.option("--samples", type=int, help="Use only the first N samples (or N random inputs).")
@click.option("--mlperf-model", help="The benchmark the model stands for (kws01, vww01, ic01, ad01); default: from "
                                     "the model's input.")
@click.option("--window-ms", type=float, default=1000.0, show_default=True,
              help="Performance: device time each timed window lasts (N inferences chosen to fill it).")
@click.option("--build-dir", type=click.Path(path_type=Path),
              help="Firmware build directory (reused if it holds this model's mlperf app; default: a cache).")
@click.option("--serve", "serve_s", type=float,
              help="Instead of a session: keep the device running for this many seconds (or until Ctrl-C) and print "
                   "its pty path, for the MLCommons runner's DUT(path).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
def mlperf(model: Path, board_name: str, mode: str, data_dir: Path | None, samples: int | None,
           mlperf_model: str | None, window_ms: float, build_dir: Path | None, serve_s: float | None,
           as_json: bool) -> None:
    """Run an MLPerf Tiny runner session (the MLCommons Tiny protocol) against MODEL's `--app mlperf` firmware in
    the board's emulator, over a pty as the runner would: median throughput, or Top-1 / AUC."""
    from tinyml.device.boards import get_board
    from tinyml.device.mlperf import serve, session

    if serve_s is not None:
        serve(model, get_board(board_name), lambda path, app: emit(
                  {"port": path, "model_id": app.model_id, "seconds": serve_s}, as_json,
                  f"{app.model_id} on {board_name} (QEMU): serial port {path} at 115200 baud for {serve_s:g} s; "
                  "Ctrl-C stops it"),
              mlperf_model=mlperf_model, build_dir=build_dir, seconds=serve_s)
        return
    report = session(model, get_board(board_name), mode, data_dir=data_dir, samples=samples,
                     mlperf_model=mlperf_model, build_dir=build_dir, window_ms=window_ms,
                     progress=not as_json and sys.stderr.isatty())
    head = f"{report.board}: {report.model_id}, {report.name} ({report.profile})\n"
    if mode == "performance":
        text = (f"  median throughput {report.throughput:.3f} inferences/s over {len(report.throughputs)} windows of "
                f"{report.inferences_per_window} inferences ({report.warmups} warm-up)\n"
                f"  device time: {report.time_basis}")
    elif report.auc is not None:
        text = f"  AUC {report.auc:.4f} over {report.samples} samples"
    else:
        text = f"  Top-1 {100 * report.top1:.2f}% over {report.samples} samples"
    emit(report.to_json(), as_json, head + text)


COMMANDS = (boards, build, flash, bench, mlperf)
