"""One end-to-end test per firmware command: `tinyml boards`, `tinyml build`, `tinyml flash`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from tests import tflite_models as tm
from tinyml.cli import main


def test_boards_json() -> None:
    result = CliRunner().invoke(main, ["boards", "--json"])
    assert result.exit_code == 0, result.output
    boards = {b["name"]: b for b in json.loads(result.output)}
    assert boards["mps2-an386"]["emulator"] == "mps2-an386" and boards["nucleo-l4r5zi"]["emulator"] is None
    assert boards["microbit"]["ram_bytes"] == 16384 and boards["rpi-pico"]["core"] == "cortex-m0plus"


def test_build_then_flash_dry_run(tmp_path: Path) -> None:
    model = tmp_path / "net.tflite"
    model.write_bytes(tm.random_network(np.random.default_rng(5)).model)
    out = tmp_path / "build"
    runner = CliRunner()
    built = runner.invoke(main, ["build", str(model), "--board", "nucleo-f446re", "-o", str(out), "--json"])
    assert built.exit_code == 0, built.output
    summary = json.loads(built.output)
    assert summary["fits"] is True and summary["violations"] == [] and summary["board"] == "nucleo-f446re"
    assert summary["flash_bytes"] == json.loads((out / "build.json").read_text())["flash_bytes"]
    flashed = runner.invoke(main, ["flash", "--board", "nucleo-f446re", "--build-dir", str(out), "--dry-run"])
    assert flashed.exit_code == 0, flashed.output
    assert flashed.output.strip() == (f"openocd -f board/st_nucleo_f4.cfg -c "
                                      f"'program {out / 'firmware.elf'} verify reset exit'")
    wrong = runner.invoke(main, ["flash", "--board", "disco-f746ng", "--build-dir", str(out), "--dry-run"])
    assert wrong.exit_code == 2 and "built for nucleo-f446re, not disco-f746ng" in wrong.output


def test_build_over_budget_exits_3(mlperf_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["build", str(mlperf_dir / "vww.tflite"), "--board", "microbit",
                                       "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 3
    assert '"fits": false' in result.output
    assert "error: model does not fit microbit: RAM overflows by" in result.output
