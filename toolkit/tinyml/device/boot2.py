"""The RP2040's second-stage boot loader block: its CRC-32, computed and written into the linked image.

The boot ROM copies the first 256 bytes of flash to SRAM and runs them only if the CRC-32 of the first 252 bytes
equals the little-endian word in the last four (RP2040 datasheet section 2.8.1.3). Its CRC-32 is the MPEG-2
variant: polynomial 0x04C11DB7, no reflection of input or output, initial value 0xFFFFFFFF, no final XOR.
The code is firmware/hal/rp2040/boot2_<flash chip>.S in the `.boot2` section, which the linker script pads to 256
bytes at the start of flash; `seal` fills in the CRC after the link, before `.bin`/`.hex` are made from the ELF.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tinyml.errors import BAD_INPUT, TinymlError

OBJCOPY = "arm-none-eabi-objcopy"
BLOCK = 256          # bytes the boot ROM reads
CODE = BLOCK - 4     # bytes the CRC covers
POLY = 0x04C11DB7


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2, bit by bit (256 bytes: no table needed)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ POLY if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    return crc


def sealed(block: bytes) -> bytes:
    """The 256-byte block with the CRC of its first 252 bytes in the last four."""
    if len(block) != BLOCK:
        raise TinymlError(f"the boot2 block is {len(block)} bytes, not {BLOCK}", BAD_INPUT)
    return block[:CODE] + crc32_mpeg2(block[:CODE]).to_bytes(4, "little")


def seal(elf: Path) -> None:
    """Write the CRC into the `.boot2` section of `elf` (in place)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "boot2.bin"
        subprocess.run([OBJCOPY, "-O", "binary", "--only-section=.boot2", str(elf), str(raw)], check=True,
                       capture_output=True)
        raw.write_bytes(sealed(raw.read_bytes()))
        subprocess.run([OBJCOPY, f"--update-section=.boot2={raw}", str(elf)], check=True, capture_output=True)
