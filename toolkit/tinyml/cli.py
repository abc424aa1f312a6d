"""The `tinyml` command line: argument parsing and printing only; every command calls one stage function."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tinyml.errors import TinymlError


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
    from tinyml.codegen import compile_model

    result = compile_model(model, out_dir)
    summary = {**result.summary(), "out_dir": str(result.out_dir),
               "runtime_sources": [str(p) for p in result.sources[2:]]}
    _emit(summary, as_json, f"{model}: {len(result.ops)} operators, arena {result.arena_bytes} B, "
                            f"weights {result.weights_bytes} B -> {out_dir}")


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--inputs", "inputs_path", required=True, type=click.Path(path_type=Path),
              help=".npy of shape (N, *input_shape[1:]) in the input's dtype (or .npz, one array per model input).")
@click.option("--output", "output_path", required=True, type=click.Path(path_type=Path),
              help="Where to write the outputs (.npy; .npz for several outputs).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def infer(model: Path, inputs_path: Path, output_path: Path, as_json: bool) -> None:
    """Run MODEL on the host through the generated C (compiled with the host compiler, cached)."""
    from tinyml import npyio
    from tinyml.host import infer as run

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
    from tinyml.board import all_boards

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
@click.option("--json", "as_json", is_flag=True, help="Print build.json.")
def build(model: Path, board_name: str, out_dir: Path, as_json: bool) -> None:
    """Build firmware for MODEL (.tflite) on a board; exit code 3 if it does not fit."""
    from tinyml.board import get_board
    from tinyml.build import build_firmware, require_fit

    result = build_firmware(model, get_board(board_name), out_dir)
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
    from tinyml.board import get_board
    from tinyml.flash import flash as run_flasher

    line = run_flasher(get_board(board_name), build_dir, probe, dry_run)
    click.echo(line if dry_run else f"flashed {build_dir} with: {line}")


if __name__ == "__main__":
    main()
