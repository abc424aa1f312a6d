"""Firmware builds: every board links, budgets are checked from the ELF, over-budget images are refused."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from tests.firmware.fwtools import build_selftest, write_dummy_model
from tinyml.device.boards import all_boards, get_board
from tinyml.device.build import build_compiled, build_firmware, gcc_flags, require_fit
from tinyml.errors import TinymlError

BOARDS = [b.name for b in all_boards()]


def _symbol(elf: Path, name: str) -> int:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return next(int(line.split()[0], 16) for line in out.splitlines() if line.endswith(f" {name}"))


def test_gcc_flags_follow_the_core() -> None:
    assert gcc_flags(get_board("microbit"))[:3] == ["-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"]
    assert gcc_flags(get_board("mps2-an386"))[:4] == ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16",
                                                      "-mfloat-abi=hard"]
    assert gcc_flags(get_board("mps3-an547"))[:4] == ["-mcpu=cortex-m55", "-mthumb", "-mfpu=auto", "-mfloat-abi=hard"]
    assert "-ffp-contract=off" in gcc_flags(get_board("disco-f746ng"))


@pytest.mark.parametrize("name", BOARDS)
def test_selftest_links_with_vectors_at_flash_base(name: str, tmp_path: Path) -> None:
    board = get_board(name)
    elf = build_selftest(board, tmp_path)
    assert _symbol(elf, "tm_vectors") == board.vectors_base   # flash_base, or after the RP2040's boot2
    assert _symbol(elf, "__stack_bottom") == board.ram_base
    assert _symbol(elf, "__stack_top") == board.ram_base + board.stack_bytes
    image = subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "-j", ".text", str(elf), "/dev/stdout"],
                           capture_output=True, check=True).stdout
    assert int.from_bytes(image[:4], "little") == board.ram_base + board.stack_bytes   # initial SP
    assert int.from_bytes(image[4:8], "little") == _symbol(elf, "Reset_Handler") | 1  # Thumb reset vector


@pytest.mark.parametrize("name", BOARDS)
def test_harness_builds_for_every_board(name: str, tmp_path: Path) -> None:
    board = get_board(name)
    model = write_dummy_model(tmp_path / "model", arena_bytes=1000)
    result = build_compiled(model, board, tmp_path)
    assert result.fits and result.violations == []
    assert 1000 + board.stack_bytes <= result.ram_bytes < board.ram_bytes
    assert 0 < result.flash_bytes < board.flash_bytes
    for name in ("firmware.elf", "firmware.bin", "firmware.hex"):
        assert (tmp_path / name).stat().st_size > 0
    info = json.loads((tmp_path / "build.json").read_text())
    assert info["board"] == board.name and info["arena_bytes"] == 1000 and info["fits"] is True
    assert info["toolchain"].startswith("arm-none-eabi-gcc")


def test_over_budget_is_refused_with_the_overflow(tmp_path: Path) -> None:
    board = get_board("microbit")
    model = write_dummy_model(tmp_path / "model", arena_bytes=20_000)
    result = build_compiled(model, board, tmp_path)
    assert not result.fits
    over = result.ram_bytes - board.ram_bytes
    assert over > 20_000 + board.stack_bytes - board.ram_bytes
    assert result.violations == [result.violations[0]] and f"RAM overflows by {over} bytes" in result.violations[0]
    assert not (tmp_path / "firmware.elf").exists() and not (tmp_path / "firmware.bin").exists()
    assert json.loads((tmp_path / "build.json").read_text())["fits"] is False
    with pytest.raises(TinymlError) as err:
        require_fit(result)
    assert err.value.exit_code == 3 and "microbit" in err.value.message


def test_undefined_symbol_fails_the_build(tmp_path: Path) -> None:
    model = write_dummy_model(tmp_path / "model")
    (tmp_path / "model" / "model.c").write_text((tmp_path / "model" / "model.c").read_text().replace(
        "void tm_model_init(void) {}",
        "void no_such_function(void);\nvoid tm_model_init(void) { no_such_function(); }"))
    with pytest.raises(TinymlError, match="undefined reference to `no_such_function'") as err:
        build_compiled(model, get_board("mps2-an385"), tmp_path)
    assert err.value.exit_code == 2


def test_build_firmware_real_model_replaces_output_atomically(mlperf_dir: Path, tmp_path: Path) -> None:
    model = mlperf_dir / "ad.tflite"
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.txt").write_text("from an older build")
    result = build_firmware(model, get_board("mps2-an386"), out)
    assert result.fits and result.out_dir == out and result.elf.is_file()
    assert not (out / "stale.txt").exists()
    assert result.model_hash == hashlib.sha256(model.read_bytes()).hexdigest()[:16]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]   # no temporary directories left behind


def test_vww_does_not_fit_a_small_board(mlperf_dir: Path, tmp_path: Path) -> None:
    result = build_firmware(mlperf_dir / "vww.tflite", get_board("microbit"), tmp_path / "out")
    assert not result.fits
    assert len(result.violations) == 1 and result.violations[0].startswith("RAM overflows by")
