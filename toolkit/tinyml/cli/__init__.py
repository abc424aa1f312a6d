"""The `tinyml` command line: argument parsing and printing only; every command calls one stage function."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tinyml.errors import TinymlError

# `tinyml build` and `tinyml bench`: the DSP kernels' weight layout (tinyml.device.build.WEIGHT_LAYOUTS)
weights_option = click.option(
    "--weights", type=click.Choice(["auto", "int8", "int16"]), default="auto", show_default=True,
    help="Conv/FC weight layout of the DSP kernels (M4/M7/M33/M55): int16 runs fewer instructions and doubles "
         "those weights in flash; auto takes int16 when the doubled weights fit in half the flash.")


class _Cli(click.Group):
    """Turns TinymlError into one line on stderr and its exit code; never a traceback for bad input."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TinymlError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Cli)
@click.version_option(package_name="tinyml")
def main() -> None:
    """tinyml: compile int8 TFLite models ahead of time into C for Cortex-M microcontrollers."""


def _emit(data: dict, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if as_json else text)


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for model.c, model.h, model_weights.c/.h.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def compile(model: Path, out_dir: Path, as_json: bool) -> None:  # noqa: A001 - the verb users type
    """Compile MODEL (.tflite, full-integer int8) into C sources in OUTPUT."""
    from tinyml.compiler.codegen import compile_model

    result = compile_model(model, out_dir)
    summary = {**result.summary(), "out_dir": str(result.out_dir),
               "runtime_sources": [str(p) for p in result.sources[2:]]}
    _emit(summary, as_json, f"{model}: {len(result.ops)} operators, arena {result.arena_bytes} B, "
                            f"weights {result.weights_bytes} B -> {out_dir}")


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--inputs", "inputs_path", required=True, type=click.Path(path_type=Path),
              help=".npy of N samples in the input's dtype (.npz: one array per model input): (N, *input_shape[1:]), "
                   "or (N, *input_shape) if the input's first dimension is not 1.")
@click.option("--output", "output_path", required=True, type=click.Path(path_type=Path),
              help="Where to write the outputs (.npy; .npz for several outputs).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def infer(model: Path, inputs_path: Path, output_path: Path, as_json: bool) -> None:
    """Run MODEL on the host through the generated C (compiled with the host compiler, cached)."""
    from tinyml import npyio
    from tinyml.device.targets.host import infer as run

    inputs = npyio.load_inputs(inputs_path)
    outputs = run(model, inputs, source=str(inputs_path))
    npyio.save_outputs(output_path, outputs)
    n = outputs[0].shape[0] if outputs else 0
    _emit({"model": str(model), "samples": n, "output": str(output_path),
           "output_shapes": [list(o.shape) for o in outputs]}, as_json,
          f"{model}: {n} samples -> {output_path}")


# ---- firmware commands (boards, build, flash) ----

@main.command()
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


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", "board_name", required=True, help="Board name (see `tinyml boards`) or a .toml profile.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Build directory (replaced): sources, firmware.elf/.bin/.hex, build.json.")
@weights_option
@click.option("--json", "as_json", is_flag=True, help="Print build.json.")
def build(model: Path, board_name: str, out_dir: Path, weights: str, as_json: bool) -> None:
    """Build firmware for MODEL (.tflite) on a board; exit code 3 if it does not fit."""
    from tinyml.device.boards import get_board
    from tinyml.device.build import build_firmware, require_fit

    result = build_firmware(model, get_board(board_name), out_dir, weights)
    _emit(result.to_json(), as_json,
          f"{result.board}: flash {result.flash_bytes}/{result.flash_budget} B, RAM {result.ram_bytes}/"
          f"{result.ram_budget} B (arena {result.arena_bytes} B, stack {result.stack_bytes} B) -> {out_dir}")
    require_fit(result)


@main.command()
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


@main.command()
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
@weights_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
def bench(model: Path, board_name: str, emulator: str | None, port: str | None, inputs_path: Path | None,
          output_path: Path | None, runs: int | None, build_dir: Path | None, cycles: bool, weights: str,
          as_json: bool) -> None:
    """Run MODEL on a board (emulated, or flashed on --port), check every output against the host reference and
    report instructions or cycles, latency, memory and energy per inference. Exit code 5 if any output differs."""
    from tinyml import npyio
    from tinyml.device.bench import bench as run_bench
    from tinyml.device.boards import get_board
    from tinyml.errors import MISMATCH

    if emulator and port:
        raise TinymlError("--emulator and --port exclude each other")
    board = get_board(board_name)
    inputs = npyio.load_inputs(inputs_path) if inputs_path else None
    report = run_bench(model, board, port=port, inputs=inputs, runs=runs, build_dir=build_dir,
                       progress=not as_json and sys.stderr.isatty(), source=str(inputs_path or "inputs"),
                       cycles=cycles, weights=weights)
    if output_path:
        npyio.save_outputs(output_path, report.outputs)
    _emit(report.to_json(), as_json,
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
          f"(arena {report.arena_bytes} B), peak stack {report.stack_peak_bytes} B")
    if report.mismatched_samples:
        shown = ", ".join(map(str, report.mismatched_samples[:20]))
        more = f" and {len(report.mismatched_samples) - 20} more" if len(report.mismatched_samples) > 20 else ""
        raise TinymlError(f"outputs differ from the reference for samples {shown}{more}", MISMATCH)


# ---- training commands (train, quantize, prune, distill, fit) ----

def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


@main.command()
@click.argument("recipe")
@click.option("--data", "data_spec", help="Built-in data set (digits, kws, vibration, gesture), a .npz file or a "
                                          "folder of WAV files (one sub-folder per class). Default: the recipe's.")
@click.option("--epochs", type=int, help="Training epochs (default: the recipe's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the split, initialisation, shuffling.")
@click.option("--width", type=float, help="Width multiplier (or RECIPE:WIDTH).")
@click.option("--depth", type=float, default=1.0, show_default=True, help="Depth multiplier.")
@click.option("--small-data", is_flag=True, help="Use the reduced built-in data set (fast tests).")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for model.keras, metrics.json, tinyml.json (and features.json).")
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json.")
def train(recipe: str, data_spec: str | None, epochs: int | None, seed: int, width: float | None, depth: float,
          small_data: bool, out_dir: Path, as_json: bool) -> None:
    """Train RECIPE (kws, image, resnet8, anomaly, gesture; RECIPE:WIDTH) and save it with its metrics."""
    from tinyml.train.trainer import train as run

    result = run(recipe, out_dir, data_spec=data_spec, epochs=epochs, seed=seed, width=width, depth=depth,
                 small_data=small_data, progress=True)
    m = result.metrics
    _emit(m, as_json, f"{m['recipe']} (width {m['width']:g}, depth {m['depth']:g}, {m['params']} params) on "
                      f"{m['dataset']['name']} [{m['dataset']['content_hash']}], seed {m['seed']}: float "
                      f"{m['metric']} val {_pct(m['float_val'])}, test {_pct(m['float_test'])} -> {out_dir}")


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--calib", "calib_spec", help="Calibration/evaluation data (built-in name, .npz, WAV folder); "
                                            "default: the data the model was trained on (its tinyml.json).")
@click.option("--seed", type=int, help="Split seed (default: the model's training seed).")
@click.option("-o", "--output", "out_path", required=True, type=click.Path(path_type=Path),
              help="The int8 .tflite to write (a .json report is written beside it).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def quantize(model: Path, calib_spec: str | None, seed: int | None, out_path: Path, as_json: bool) -> None:
    """Full-integer int8 PTQ of MODEL (.keras, model dir, SavedModel dir or .onnx); reports float, int8 (TFLite)
    and compiled-C (host) accuracy on the test split."""
    from tinyml.train.quantize import quantize as run

    r = run(model, out_path, calib_spec, seed=seed)
    _emit(r.to_json(), as_json,
          f"{out_path}: {r.tflite_bytes} B; test {r.metric} over {r.test_samples} samples: float "
          f"{_pct(r.float_accuracy)}, int8 TFLite {_pct(r.int8_accuracy)}, compiled C on host "
          f"{_pct(r.host_c_accuracy)} ({'bit-exact with TFLite' if r.host_equals_tflite else 'DIFFERS'})"
          + (f"\n  ONNX {r.onnx['onnx_input']} {r.onnx['onnx_input_shape']} -> int8 input "
             f"{r.onnx['tflite_input']} {r.onnx['tflite_input_shape']}; data read as {r.onnx['data_layout']}"
             if r.onnx else ""))


@main.command()
@click.option("--board", "board_name", required=True, help="Board name (see `tinyml boards`) or a .toml profile.")
@click.option("--recipe", "recipe", required=True, help="Recipe to search (kws, image, resnet8, anomaly, gesture).")
@click.option("--max-ram-kb", type=float, help="RAM budget (KB; default and upper bound: the board's).")
@click.option("--max-flash-kb", type=float, help="Flash budget (KB; default and upper bound: the board's).")
@click.option("--max-latency-ms", type=float, help="Latency budget per inference (ms at the board's clock).")
@click.option("--max-energy-uj", type=float, help="Energy budget per inference (uJ, board power model).")
@click.option("--min-accuracy", type=float, help="Minimum int8 validation accuracy (AUC for anomaly), 0..1.")
@click.option("--data", "data_spec", help="Data instead of the recipe's (built-in name, .npz, WAV folder).")
@click.option("--epochs", type=int, help="Training epochs per candidate (default: the recipe's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-train", type=int, default=8, show_default=True, help="Train at most this many candidates.")
@click.option("--device-samples", type=int, help="Test samples to run in the emulator (default: the whole split).")
@click.option("--widths", help="Comma-separated width multipliers (default: the recipe's grid).")
@click.option("--depths", help="Comma-separated depth multipliers (default: the recipe's grid).")
@click.option("--prune-ratios", default="0.25,0.5", show_default=True,
              help="Channel fractions to prune from the most accurate trained candidate (fine-tuned); 'none': no "
                   "pruned candidates.")
@click.option("--distill/--no-distill", default=True, show_default=True,
              help="Add a narrower student distilled from the largest trained candidate (classifiers).")
@click.option("--small-data", is_flag=True, help="Use the reduced built-in data set (fast tests).")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path),
              help="Work and result directory (default: fit-RECIPE-BOARD).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def fit(board_name: str, recipe: str, max_ram_kb: float | None, max_flash_kb: float | None,
        max_latency_ms: float | None, max_energy_uj: float | None, min_accuracy: float | None,
        data_spec: str | None, epochs: int | None, seed: int, max_train: int, device_samples: int | None,
        widths: str | None, depths: str | None, prune_ratios: str, distill: bool, small_data: bool,
        out_dir: Path | None, as_json: bool) -> None:
    """Search RECIPE's width/depth grid, plus channel-pruned and distilled models derived from the trained
    candidates, for the most accurate int8 model within the board's budgets, build it and run it in the board's
    emulator. Exit code 3 if nothing fits."""
    from tinyml.train.fit import fit as run

    def floats(text: str | None, name: str) -> tuple[float, ...] | None:
        try:
            return tuple(float(v) for v in text.split(",")) if text else None
        except ValueError:
            raise TinymlError(f"{name} takes comma-separated numbers, got '{text}'") from None

    out_dir = out_dir or Path(f"fit-{recipe}-{Path(board_name).stem}")
    r = run(recipe, board_name, out_dir, max_ram_kb=max_ram_kb, max_flash_kb=max_flash_kb,
            max_latency_ms=max_latency_ms, max_energy_uj=max_energy_uj, min_accuracy=min_accuracy,
            epochs=epochs, data_spec=data_spec, seed=seed, small_data=small_data, max_train=max_train,
            device_samples=device_samples, widths=floats(widths, "--widths"), depths=floats(depths, "--depths"),
            prune_ratios=() if prune_ratios.strip().lower() in ("", "none") else floats(prune_ratios,
                                                                                        "--prune-ratios"),
            distill=distill, progress=True)
    if as_json:
        click.echo(json.dumps(r.to_json(), indent=2))
        return
    metric = r.chosen["metric"] if r.chosen else "accuracy"
    w = max([12, *(len(c["tag"]) for c in r.table)])
    click.echo(f"{'candidate':{w}} {'params':>8} {'MACs':>10} {'flash B':>8} {'RAM B':>7} {'ms est':>9} "
               f"{'uJ est':>9} {'int8 val':>8} {'int8 test':>9}  fits")
    for c in r.table:
        acc = lambda v: f"{v:.4f}" if v is not None else "-"  # noqa: E731
        click.echo(f"{c['tag']:{w}} {c['params']:>8} {c['macs']:>10} {c['flash_bytes']:>8} {c['ram_bytes']:>7} "
                   f"{c['latency_ms_estimate']:>9.2f} {c['energy_uj_estimate']:>9.2f} {acc(c['int8_val']):>8} "
                   f"{acc(c['int8_test']):>9}  {'yes' if c['fits'] else '; '.join(c['violations'])}")
    ch = r.chosen
    click.echo(f"chosen {ch['candidate']} for {r.board}: int8 test {metric} {_pct(ch['accuracy_int8'])} "
               f"(compiled C {_pct(ch['accuracy_host_c'])}), flash {ch['flash_bytes']} B, RAM {ch['ram_bytes']} B, "
               f"~{ch['latency_ms_estimate']:.2f} ms, ~{ch['energy_uj_estimate']:.2f} uJ -> {ch['model']}")
    if r.device:
        d = r.device
        click.echo(f"QEMU: {d['samples']} test samples, {metric} {_pct(d['accuracy'])}, outputs "
                   f"{'match' if d['outputs_match_reference'] else 'DIFFER from'} the reference, "
                   f"{d['instructions_per_inference']:,} instructions per inference (estimated "
                   f"{d['instructions_estimate']:,})")
    click.echo(f"Pareto plot: {r.pareto_plot}")


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--sparsity", type=float, help="Magnitude pruning: fraction of each kernel's weights set to zero.")
@click.option("--channels", type=float, help="Structured pruning: fraction of channels removed per prunable layer.")
@click.option("--epochs", type=int, help="Fine-tuning epochs (default: a third of the recipe's).")
@click.option("--data", "data_spec", help="Data (default: the model's training data).")
@click.option("--board", "board_name", default="mps2-an386", show_default=True,
              help="Board for flash/arena sizes and emulator instruction counts.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for the pruned model.keras, model.tflite and metrics.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def prune(model: Path, sparsity: float | None, channels: float | None, epochs: int | None, data_spec: str | None,
          board_name: str, out_dir: Path, as_json: bool) -> None:
    """Prune a trained MODEL (magnitude --sparsity or structured --channels), fine-tune, report before/after."""
    from tinyml.train.prune import prune as run

    r = run(model, out_dir, sparsity=sparsity, channels=channels, epochs=epochs, data_spec=data_spec,
            board_name=board_name, progress=True)
    if as_json:
        click.echo(json.dumps(r.to_json(), indent=2))
        return
    click.echo(f"{r.mode} pruning {r.amount:g} of {model} ({r.fine_tune_epochs} fine-tuning epochs), on {r.board}:")
    click.echo(f"{'':10} {'params':>8} {'non-zero':>8} {'MACs':>10} {'flash B':>8} {'arena B':>8} "
               f"{'instructions':>13} {'float':>7} {'int8':>7} {'C host':>7}")
    for name, s in (("before", r.before), ("after", r.after)):
        click.echo(f"{name:10} {s.params:>8} {s.nonzero_params:>8} {s.macs:>10} {s.flash_bytes:>8} "
                   f"{s.arena_bytes:>8} {s.instructions if s.instructions is not None else '-':>13} "
                   f"{s.float_accuracy:>7.4f} {s.int8_accuracy:>7.4f} {s.host_c_accuracy:>7.4f}")
    click.echo(f"note: {r.note}")


@main.command()
@click.option("--teacher", "teacher", required=True, type=click.Path(path_type=Path),
              help="Trained teacher (model directory from `tinyml train`, or .keras).")
@click.option("--student", "student", required=True, help="Student recipe, RECIPE[:WIDTH] (e.g. kws:0.25).")
@click.option("--temperature", type=float, default=4.0, show_default=True)
@click.option("--alpha", type=float, default=0.7, show_default=True, help="Weight of the distillation term.")
@click.option("--epochs", type=int, help="Epochs for both students (default: the recipe's).")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds (e.g. 0,1,2).")
@click.option("--data", "data_spec", help="Data (default: the teacher's training data).")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def distill(teacher: Path, student: str, temperature: float, alpha: float, epochs: int | None, seeds: str,
            data_spec: str | None, out_dir: Path, as_json: bool) -> None:
    """Distill a student recipe from a teacher; compare with the same student trained alone (same data, epochs,
    seeds)."""
    from tinyml.train.distill import distill as run

    try:
        seed_list = tuple(int(s) for s in seeds.split(","))
    except ValueError:
        raise TinymlError(f"--seeds takes comma-separated integers, got '{seeds}'") from None
    r = run(teacher, student, out_dir, temperature=temperature, alpha=alpha, epochs=epochs, seeds=seed_list,
            data_spec=data_spec, progress=True)
    if as_json:
        click.echo(json.dumps(r.to_json(), indent=2))
        return
    click.echo(f"teacher {r.teacher_params} params, float test {_pct(r.teacher_float)}; student {r.student} "
               f"width {r.width:g} ({r.student_params} params), T={r.temperature:g}, alpha={r.alpha:g}, "
               f"{r.epochs} epochs")
    for s in r.seeds:
        click.echo(f"  seed {s.seed}: alone int8 {_pct(s.alone_int8)}, distilled int8 {_pct(s.distilled_int8)} "
                   f"(compiled C {_pct(s.distilled_host_c)})")
    click.echo(f"mean int8 test {r.metric}: alone {_pct(r.alone_int8_mean)}, distilled {_pct(r.distilled_int8_mean)}")


if __name__ == "__main__":
    main()
