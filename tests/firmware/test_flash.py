"""`tinyml flash`: the flasher command lines per board (dry run), the target names and scripts the real tools know,
verification, and a missing probe as one line, with the real OpenOCD and pyOCD (no probe is attached here)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tinyml.device.boards import all_boards, get_board
from tinyml.device.flash import flash, flash_steps
from tinyml.errors import TinymlError

OPENOCD_SCRIPTS = Path("/usr/share/openocd/scripts")
FLASHED = [b.name for b in all_boards() if b.flasher.tool != "none"]


def _tool(name: str) -> str:
    """The installed tool (scripts/setup.sh installs OpenOCD; requirements.txt pins pyOCD): never a skip."""
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail(f"{name} is not installed: run `bash scripts/setup.sh`")
    return path


def _fake_build(tmp_path: Path, board: str) -> Path:
    """What `flash` checks before it runs anything: build.json for the board and the image files."""
    out = tmp_path / "build"
    out.mkdir(exist_ok=True)
    (out / "build.json").write_text(json.dumps({"board": board, "fits": True}))
    for name in ("firmware.elf", "firmware.bin"):
        (out / name).write_bytes(b"\0" * 64)
    return out


@pytest.mark.parametrize("name, expected", [
    ("nucleo-f446re", "openocd -f board/st_nucleo_f4.cfg -c 'program {elf} verify reset exit'"),
    ("disco-f746ng", "openocd -f board/stm32f746g-disco.cfg -c 'program {elf} verify reset exit'"),
    ("nucleo-l4r5zi", "openocd -f board/st_nucleo_l4.cfg -c 'program {elf} verify reset exit'"),
    ("nucleo-u575zi", "openocd -f interface/stlink.cfg -f target/stm32u5x.cfg -c 'program {elf} verify reset exit'"),
    ("nrf52840dk", "pyocd load -W --target nrf52840 {elf} && "
                   "pyocd commander -W --target nrf52840 -c 'compare 0x0 {bin}' -c reset"),
    ("microbit", "pyocd load -W --target nrf51 {elf} && "
                 "pyocd commander -W --target nrf51 -c 'compare 0x0 {bin}' -c reset"),
    ("rpi-pico", "pyocd load -W --target rp2040 {elf} && "
                 "pyocd commander -W --target rp2040 -c 'compare 0x10000000 {bin}' -c reset"),
])
def test_dry_run_writes_and_verifies(name: str, expected: str, tmp_path: Path) -> None:
    out = _fake_build(tmp_path, name)
    line = flash(get_board(name), out, dry_run=True)
    assert line == expected.format(elf=out / "firmware.elf", bin=out / "firmware.bin")


def test_probe_serial_selects_the_probe(tmp_path: Path) -> None:
    out = _fake_build(tmp_path, "nucleo-l4r5zi")
    assert "-c 'adapter serial 0669FF' -c 'program" in flash(get_board("nucleo-l4r5zi"), out, "0669FF", True)
    out = _fake_build(tmp_path, "nrf52840dk")
    assert all("--uid" in step.argv for step in flash_steps(get_board("nrf52840dk"), out, "6830"))


def test_openocd_scripts_exist_in_debians_openocd() -> None:
    _tool("openocd")
    for board in all_boards():
        if board.flasher.tool == "openocd":
            for script in board.flasher.config:
                assert (OPENOCD_SCRIPTS / script).is_file(), f"{board.name}: {script} is not in Debian's OpenOCD"


def test_pyocd_targets_are_built_in() -> None:
    pyocd = _tool("pyocd")
    listed = subprocess.run([pyocd, "list", "--targets"], capture_output=True, text=True, timeout=120).stdout
    builtin = {line.split()[0] for line in listed.splitlines() if line.strip().endswith("builtin")}
    for board in all_boards():
        if board.flasher.tool == "pyocd":
            assert board.flasher.config[0] in builtin, f"{board.name}: no pyOCD built-in {board.flasher.config}"


@pytest.mark.parametrize("name", ["nucleo-f446re", "nucleo-u575zi", "nrf52840dk", "rpi-pico"])
def test_missing_probe_is_one_line_with_the_real_tool(name: str, tmp_path: Path, monkeypatch) -> None:
    board = get_board(name)
    monkeypatch.setenv("PATH", f"{Path(_tool(board.flasher.tool)).parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(TinymlError) as err:
        flash(board, _fake_build(tmp_path, name))
    assert err.value.exit_code == 4 and "\n" not in err.value.message
    assert err.value.message.startswith(f"{name}: no debug probe found ({board.flasher.tool}: ")
    assert "connect" in err.value.message


def _fake_tool(tmp_path: Path, monkeypatch, name: str, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_pyocd_compare_mismatch_fails_although_pyocd_exits_0(tmp_path: Path, monkeypatch) -> None:
    _fake_tool(tmp_path, monkeypatch, "pyocd", 'case "$1" in load) exit 0;; esac\n'
               'echo "Mismatched byte at 0x00000010 (offset 0x10): 0xff (memory) != 0x00 (file)"; exit 0')
    with pytest.raises(TinymlError, match=r"nrf52840dk: the flash does not hold the image .*Mismatched byte") as err:
        flash(get_board("nrf52840dk"), _fake_build(tmp_path, "nrf52840dk"))
    assert err.value.exit_code == 4
    _fake_tool(tmp_path, monkeypatch, "pyocd", 'case "$1" in load) exit 0;; esac\necho "All 64 bytes match."')
    assert flash(get_board("nrf52840dk"), _fake_build(tmp_path, "nrf52840dk")).startswith("pyocd load")


def test_openocd_verify_failure_is_reported(tmp_path: Path, monkeypatch) -> None:
    _fake_tool(tmp_path, monkeypatch, "openocd", 'echo "Error: checksum mismatch - attempting binary compare" >&2\n'
               'echo "** Verify Failed **" >&2; exit 1')
    with pytest.raises(TinymlError, match=r"openocd failed for nucleo-l4r5zi \(exit 1\): .*mismatch"):
        flash(get_board("nucleo-l4r5zi"), _fake_build(tmp_path, "nucleo-l4r5zi"))


def test_every_flashed_board_has_a_verifying_command(tmp_path: Path) -> None:
    for name in FLASHED:
        steps = flash_steps(get_board(name), _fake_build(tmp_path, name))
        text = " ".join(" ".join(step.argv) for step in steps)
        assert "verify" in text or "compare" in text or " -v " in text, name
