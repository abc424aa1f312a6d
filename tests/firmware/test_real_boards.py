"""Every real-board profile (the boards with a clock set-up: the silicon-only ones and the micro:bit) builds the
MLPerf Tiny KWS model with `tinyml build`, within its budgets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyml.cli import main
from tinyml.device.boards import all_boards

REAL = [b for b in all_boards() if b.clock is not None]


def test_every_silicon_only_board_sets_its_clock() -> None:
    assert {b.name for b in all_boards() if b.emulator is None} <= {b.name for b in REAL}


@pytest.mark.parametrize("board", REAL, ids=lambda b: b.name)
def test_kws_builds_with_the_clock_set_up(board, mlperf_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    result = CliRunner().invoke(main, ["build", str(mlperf_dir / "kws.tflite"), "--board", board.name, "-o", str(out),
                                       "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "build.json").read_text())["fits"] is True
    header = (out / "board.h").read_text()
    assert f"#define TM_BOOT_CLOCK_HZ {board.clock_hz}u" in header and board.clock is not None
    assert header.count("u }, \\") >= len(board.clock.setup) + len(board.uart.setup)
    assert (out / "firmware.elf").stat().st_size > 0 and (out / "firmware.bin").stat().st_size > 0
