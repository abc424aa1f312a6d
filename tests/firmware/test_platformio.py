"""PlatformIO with tinyml's own platform: the repository's platformio.ini and board manifests follow the profiles,
`pio run -e mps2-an386` builds offline (no network at all) an image that passes `tinyml bench`, and
`tinyml build --builder platformio` makes the same image as the default builder."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from platformio.dependencies import get_core_dependencies

from tests.conftest import REPO
from tinyml.cli import main
from tinyml.device.boards import all_boards, get_board
from tinyml.device.build import build_firmware
from tinyml.device.platformio import (
    PIO_ENV,
    PLATFORM_DIR,
    manifest_text,
    prepare_core,
    repository_ini,
    scons_package_version,
)
from tinyml.errors import BAD_INPUT, OVER_BUDGET

PIO = str(Path(sys.executable).with_name("pio"))


def test_repository_ini_and_board_manifests_follow_the_profiles():
    assert (REPO / "platformio.ini").read_text() == repository_ini(), "regenerate: see docs/FIRMWARE.md"
    boards = all_boards()
    assert sorted(p.stem for p in (PLATFORM_DIR / "boards").glob("*.json")) == sorted(b.name for b in boards)
    for board in boards:
        assert (PLATFORM_DIR / "boards" / f"{board.name}.json").read_text() == manifest_text(board), board.name


def test_the_scons_package_is_the_one_platformio_asks_for(tmp_path):
    wanted = get_core_dependencies()["tool-scons"]  # e.g. "~4.41101.0"
    assert wanted == f"~{scons_package_version()}"
    core = prepare_core(tmp_path / "core")
    meta = json.loads((core / "packages" / "tool-scons" / ".piopm").read_text())
    assert (meta["name"], meta["version"]) == ("tool-scons", scons_package_version())
    assert meta["spec"]["owner"] == "platformio"


def pio(args: list[str], env: dict[str, str], network: bool = True) -> subprocess.CompletedProcess:
    """`pio ARGS`; without `network`, in a network namespace of its own (no interface but loopback)."""
    cmd = [PIO, *args] if network else ["unshare", "--net", PIO, *args]
    return subprocess.run(cmd, env={**os.environ, **PIO_ENV, **env}, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.qemu
def test_pio_run_builds_offline_an_image_that_passes_bench(tmp_path):
    prepare_core(REPO / ".pio" / "core")
    build_root = tmp_path / "pio-build"
    proc = pio(["run", "-d", str(REPO), "-e", "mps2-an386"], {"PLATFORMIO_BUILD_DIR": str(build_root)}, network=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    build_dir = build_root / "mps2-an386"
    info = json.loads((build_dir / "build.json").read_text())
    assert (info["board"], info["builder"], info["fits"]) == ("mps2-an386", "platformio", True)
    result = CliRunner().invoke(main, ["bench", str(REPO / "models" / "mlperf-tiny" / "kws.tflite"), "--board",
                                       "mps2-an386", "--build-dir", str(build_dir), "--runs", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["outputs_match"] == report["outputs_total"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(("board_name", "app"), [("mps2-an386", "bench"), ("lm3s6965evb", "bench"),
                                                 ("rpi-pico", "bench"), ("mps2-an386", "mlperf")])
def test_builder_platformio_makes_the_same_image_as_gcc(board_name, app, mlperf_dir, tmp_path):
    board = get_board(board_name)
    model = mlperf_dir / "kws.tflite"
    gcc = build_firmware(model, board, tmp_path / "gcc", app=app)
    pio = build_firmware(model, board, tmp_path / "pio", builder="platformio", app=app)
    assert (tmp_path / "gcc" / "firmware.bin").read_bytes() == (tmp_path / "pio" / "firmware.bin").read_bytes()
    assert {**gcc.to_json(), "out_dir": "", "builder": ""} == {**pio.to_json(), "out_dir": "", "builder": ""}
    assert sorted(p.name for p in (tmp_path / "gcc").iterdir()) == sorted(p.name for p in (tmp_path / "pio").iterdir())


@pytest.mark.slow
def test_builder_platformio_reports_budgets_and_bad_models_in_one_line(mlperf_dir, tmp_path):
    over = CliRunner().invoke(main, ["build", str(mlperf_dir / "vww.tflite"), "--board", "microbit", "-o",
                                     str(tmp_path / "vww"), "--builder", "platformio"])
    assert over.exit_code == OVER_BUDGET
    assert over.output.strip().splitlines()[-1].startswith("error: model does not fit microbit: RAM overflows by")
    assert not (tmp_path / "vww" / "firmware.elf").exists()
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0" * 64)
    broken = CliRunner().invoke(main, ["build", str(bad), "--board", "mps2-an386", "-o", str(tmp_path / "bad"),
                                       "--builder", "platformio"])
    assert broken.exit_code == BAD_INPUT
    assert "not a TFLite flatbuffer" in broken.output and "Traceback" not in broken.output
    assert not (tmp_path / "bad").exists()


def test_upload_uses_the_board_flasher_and_says_why_it_cannot(tmp_path):
    prepare_core(REPO / ".pio" / "core")
    proc = pio(["run", "-d", str(REPO), "-e", "mps2-an386", "-t", "upload"],
               {"PLATFORMIO_BUILD_DIR": str(tmp_path / "pio-build")})
    assert proc.returncode != 0
    assert "board mps2-an386 is emulated only (flasher = none)" in proc.stdout + proc.stderr
