"""The hil wing's command: `hil`."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from tinyml.cli.lifecycle import no_track_option, record
from tinyml.cli.output import emit
from tinyml.errors import TinymlError


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--board", "board_name", required=True, help="Board name (see `tinyml boards`) or a .toml profile.")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path),
              help="Suite directory (replaced; default: hil-BOARD): suite, vectors, image, Renode files and "
                   "Robot's output.xml, log.html, report.html.")
@click.option("--vectors", type=int, help="Test vectors: random samples to draw (default 3), or the first N of "
                                          "--inputs.")
@click.option("--inputs", "inputs_path", type=click.Path(path_type=Path),
              help=".npy of N samples shaped as for `tinyml infer` (.npz: one array per input).")
@click.option("--max-latency-ms", type=float, help="Latency budget per inference (ms at the board's clock_hz).")
@click.option("--renode", is_flag=True, help="Run the suite under renode-test instead of QEMU.")
@click.option("--build-dir", type=click.Path(path_type=Path),
              help="Firmware build directory (reused if it holds this model for this board; default: a cache).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@no_track_option
def hil(model: Path, board_name: str, out_dir: Path | None, vectors: int | None, inputs_path: Path | None,
        max_latency_ms: float | None, renode: bool, build_dir: Path | None, as_json: bool, no_track: bool) -> None:
    """Write a Robot Framework suite for MODEL on a board (expected outputs from the host build) with Renode
    platform files, and run it on QEMU (or under Renode with --renode). Exit code 5 if outputs differ, 3 if over
    budget, 4 if the device fails."""
    from tinyml import npyio
    from tinyml.device.boards import get_board
    from tinyml.hil.run import run_suite
    from tinyml.hil.suite import write_suite

    board = get_board(board_name)
    out_dir = out_dir or Path(f"hil-{board.name}")
    inputs = npyio.load_inputs(inputs_path) if inputs_path else None
    target = "renode" if renode else "qemu"
    progress = not as_json and sys.stderr.isatty()
    if progress:
        click.echo(f"hil: building {board.name} firmware and the host reference for {model}", err=True)
    write_suite(model, board, out_dir, vectors=vectors, inputs=inputs, max_latency_ms=max_latency_ms,
                build_dir=build_dir, source=str(inputs_path or "inputs"))
    if progress:
        click.echo(f"hil: running {out_dir / 'hil.robot'} on {target}", err=True)
    report = run_suite(out_dir, target)
    lines = [f"{t.name}: {'PASS' if t.passed else 'FAIL ' + ' '.join(t.message.split())}" for t in report.tests]
    passed = len(report.tests) - len(report.failed)
    emit(report.to_json(), as_json,
         f"{report.board} ({report.target}): {passed}/{len(report.tests)} tests passed -> {out_dir}/log.html\n  "
         + "\n  ".join(lines))
    record("hil", report.to_json(), [out_dir / "output.xml", out_dir / "log.html", out_dir / "report.html"])
    if report.failed:
        first = report.failed[0]
        raise TinymlError(f"HIL suite failed on {report.board}: {first.name}: {' '.join(first.message.split())} "
                          f"(log: {out_dir / 'log.html'})", report.exit_code)


COMMANDS = (hil,)
