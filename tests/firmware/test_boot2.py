"""RP2040 second-stage boot loader: the 256-byte block at the start of flash carries the CRC-32 the boot ROM
computes (datasheet section 2.8.1.3: CRC-32/MPEG-2 of the first 252 bytes, little-endian in the last four),
the code fits in 252 bytes and refers to nothing inside itself by absolute address (it runs from SRAM), and the
image's vector table follows at 0x10000100. Not run on a Pico (see docs/FIRMWARE.md)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.firmware.fwtools import write_dummy_model
from tinyml.device.boards import get_board
from tinyml.device.boot2 import crc32_mpeg2, sealed
from tinyml.device.build import build_compiled


def _reference_crc(data: bytes) -> int:
    """CRC-32/MPEG-2 written independently of tinyml's: a 256-entry table, MSB first."""
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = (c << 1) ^ 0x04C11DB7 if c & 0x80000000 else c << 1
        table.append(c & 0xFFFFFFFF)
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


def test_crc_is_the_boot_roms_variant() -> None:
    assert crc32_mpeg2(b"123456789") == _reference_crc(b"123456789") == 0x0376E6E7   # the catalogue check value
    block = sealed(bytes(range(252)) + b"\0\0\0\0")
    assert int.from_bytes(block[252:], "little") == _reference_crc(block[:252])


@pytest.fixture(scope="module")
def pico_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pico")
    build_compiled(write_dummy_model(out / "model", arena_bytes=1000), get_board("rpi-pico"), out)
    return out


def _symbols(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return {parts[2]: int(parts[0], 16) for parts in (line.split() for line in out.splitlines()) if len(parts) == 3}


def test_image_starts_with_a_valid_boot2_block(pico_build: Path) -> None:
    image = (pico_build / "firmware.bin").read_bytes()
    assert int.from_bytes(image[252:256], "little") == _reference_crc(image[:252])
    from_hex = subprocess.run(["arm-none-eabi-objcopy", "-I", "ihex", "-O", "binary",
                               str(pico_build / "firmware.hex"), "/dev/stdout"], capture_output=True, check=True).stdout
    assert from_hex[:256] == image[:256]                          # the .hex is made from the sealed ELF too
    symbols = _symbols(pico_build / "firmware.elf")
    assert symbols["tm_boot2"] == 0x10000000 and symbols["tm_vectors"] == 0x10000100
    assert symbols["__boot2_code_end"] - 0x10000000 <= 252
    sp, reset = int.from_bytes(image[256:260], "little"), int.from_bytes(image[260:264], "little")
    board = get_board("rpi-pico")
    assert board.ram_base < sp <= board.ram_base + board.ram_bytes
    assert reset == symbols["Reset_Handler"] | 1                  # Thumb


def test_boot2_is_position_independent(pico_build: Path) -> None:
    """The boot ROM runs the block from SRAM (0x20041F00): no literal may point into the block in flash, and
    every branch is PC-relative except the final `bx` into the image."""
    symbols = _symbols(pico_build / "firmware.elf")
    code = (pico_build / "firmware.bin").read_bytes()[:symbols["__boot2_code_end"] - 0x10000000]
    words = [int.from_bytes(code[i:i + 4], "little") for i in range(0, len(code) - 3, 2)]
    assert not any(0x10000000 <= w < 0x10000100 for w in words)
    listing = subprocess.run(["arm-none-eabi-objdump", "-d", "-j", ".boot2", str(pico_build / "firmware.elf")],
                             capture_output=True, text=True, check=True).stdout
    assert "\tbl\t" not in listing and "blx" not in listing and listing.count("\tbx\t") == 1
