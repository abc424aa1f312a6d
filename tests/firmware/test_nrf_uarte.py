"""The nRF52840 console driver (firmware/hal/nrf/uarte.c, UARTE with EasyDMA). It cannot run here (QEMU has no
nRF52840; Renode is not installable), so: every register offset it uses is the product specification's, it builds
for the board, and the image drives the UARTE (ENABLE = 8, DMA buffers in RAM) instead of the legacy UART."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.firmware.fwtools import write_dummy_model
from tinyml.device.boards import get_board
from tinyml.device.build import build_compiled
from tinyml.paths import HAL_DIR

# nRF52840 Product Specification v1.7, section 6.34.9 "Registers" (UARTE), offsets from the instance base.
PRODUCT_SPEC = {"TASKS_STARTRX": 0x000, "TASKS_STOPRX": 0x004, "TASKS_STARTTX": 0x008, "TASKS_STOPTX": 0x00C,
                "TASKS_FLUSHRX": 0x02C, "EVENTS_CTS": 0x100, "EVENTS_NCTS": 0x104, "EVENTS_RXDRDY": 0x108,
                "EVENTS_ENDRX": 0x110, "EVENTS_TXDRDY": 0x11C, "EVENTS_ENDTX": 0x120, "EVENTS_ERROR": 0x124,
                "EVENTS_RXTO": 0x144, "EVENTS_RXSTARTED": 0x14C, "EVENTS_TXSTARTED": 0x150,
                "EVENTS_TXSTOPPED": 0x158, "SHORTS": 0x200, "INTEN": 0x300, "INTENSET": 0x304, "INTENCLR": 0x308,
                "ERRORSRC": 0x480, "ENABLE": 0x500, "PSEL_RTS": 0x508, "PSEL_TXD": 0x50C, "PSEL_CTS": 0x510,
                "PSEL_RXD": 0x514, "BAUDRATE": 0x524, "RXD_PTR": 0x534, "RXD_MAXCNT": 0x538, "RXD_AMOUNT": 0x53C,
                "TXD_PTR": 0x544, "TXD_MAXCNT": 0x548, "TXD_AMOUNT": 0x54C, "CONFIG": 0x56C}
SOURCE = (HAL_DIR / "nrf" / "uarte.c").read_text()


def test_register_offsets_are_the_product_specifications() -> None:
    used = {name: int(off, 16) for name, off in re.findall(r"#define (\w+) REG\((0x[0-9A-Fa-f]+)u\)", SOURCE)}
    assert {"TASKS_STARTRX", "TASKS_STARTTX", "EVENTS_ENDRX", "EVENTS_ENDTX", "RXD_PTR", "TXD_PTR"} <= set(used)
    assert {name: PRODUCT_SPEC.get(name) for name in used} == used
    assert "#define ENABLE_UARTE 8u" in SOURCE                          # ENABLE: 8 = UARTE, 4 = legacy UART
    assert "0x518" not in SOURCE and "0x51C" not in SOURCE              # the legacy RXD/TXD registers


def test_uarte_baud_and_board_profile() -> None:
    board = get_board("nrf52840dk")
    assert board.uart.driver == "nrf-uarte" and board.uart.base == 0x40002000
    assert board.uart.divisor == 0x01D7E000                             # UARTE BAUDRATE Baud115200
    assert get_board("microbit").uart.driver == "nrf-uart"             # the nRF51 has no UARTE


def test_builds_with_dma_buffers_in_ram(tmp_path: Path) -> None:
    board = get_board("nrf52840dk")
    build_compiled(write_dummy_model(tmp_path / "model", arena_bytes=1000), board, tmp_path)
    out = subprocess.run(["arm-none-eabi-nm", str(tmp_path / "firmware.elf")], capture_output=True, text=True,
                         check=True).stdout
    symbols = {parts[2]: int(parts[0], 16) for parts in (ln.split() for ln in out.splitlines()) if len(parts) == 3}
    for buffer in ("tx_buf", "rx_dma"):                                 # EasyDMA reaches Data RAM only
        assert board.ram_base <= symbols[buffer] < board.ram_base + board.ram_bytes
