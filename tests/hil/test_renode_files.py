"""The Renode files `tinyml hil` writes: equal to the golden files in tests/hil/golden/ for every board profile
(regenerate with `python -m tests.hil.golden`), self-contained, with a DWT where the core has one."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.hil.golden import GOLDEN_DIR, regenerate
from tinyml.device.boards import DWT_CORES, all_boards, get_board
from tinyml.hil.renode import platform_text, script_text, uart_peripheral

BOARDS = [b.name for b in all_boards()]
REAL_BOARDS = [b.name for b in all_boards() if b.emulator is None]


def test_every_real_board_has_golden_files() -> None:
    assert {"nucleo-f446re", "nucleo-l4r5zi", "nucleo-u575zi", "disco-f746ng", "nrf52840dk"} <= set(REAL_BOARDS)
    for name in REAL_BOARDS:
        assert (GOLDEN_DIR / f"{name}.repl").is_file() and (GOLDEN_DIR / f"{name}.resc").is_file()


@pytest.mark.parametrize("name", BOARDS)
def test_generated_files_equal_the_golden_files(name: str, tmp_path: Path) -> None:
    regenerate(tmp_path)
    for suffix in (".repl", ".resc"):
        golden = GOLDEN_DIR / f"{name}{suffix}"
        assert (tmp_path / golden.name).read_text() == golden.read_text(), (
            f"{golden.name} changed; if intended, regenerate with `python -m tests.hil.golden` and review the diff")


@pytest.mark.parametrize("name", BOARDS)
def test_platform_needs_nothing_from_the_internet(name: str) -> None:
    board = get_board(name)
    repl, resc = platform_text(board), script_text(board)
    for text in (repl, resc):
        code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith(("//", ":", "#")))
        assert "ApplySVD" not in code and "http" not in code
    assert not re.search(r"^\s*using\b", repl, re.M), "the platform must not depend on Renode's own files"
    assert (re.search(r"^dwt: Miscellaneous\.DWT @ sysbus 0xE0001000$", repl, re.M) is not None) == \
        (board.core in DWT_CORES)
    uart = uart_peripheral(board).removeprefix("sysbus.")
    assert re.search(rf"^{uart}: UART\.\w+ @ sysbus 0x{board.uart.base:08X}$", repl, re.M)
    assert f"connector Connect sysbus.{uart} tinyml_uart" in resc
    assert f"cpu VectorTableOffset 0x{board.vectors_base:08X}" in resc


def test_hand_written_platforms_for_mcus_renode_lacks() -> None:
    for name, file in (("nucleo-l4r5zi", "stm32l4r5.repl"), ("nucleo-u575zi", "stm32u575.repl")):
        shipped = (Path(__file__).resolve().parents[2] / "firmware" / "renode" / file).read_text()
        assert platform_text(get_board(name)) == shipped
        assert "Renode version:" in shipped


def test_nrf52840_uart_is_the_uarte_with_easydma() -> None:
    """The nRF52840 firmware drives UARTE0 (EasyDMA), as Renode's own nrf52840.repl models it; the nRF51 keeps
    the legacy UART."""
    assert "easyDMA: true" in platform_text(get_board("nrf52840dk"))
    assert "easyDMA: false" in platform_text(get_board("microbit"))


def test_polled_setup_registers_read_back_ready() -> None:
    """rpi-pico's set-up waits for XOSC STABLE, PLL LOCK and RESET_DONE (pll_sys in the clock steps, then io/pads/
    uart0 in the UART's): each register tagged with every value the firmware waits for on it."""
    repl = platform_text(get_board("rpi-pico"))
    assert 'Tag <0x40024004, 0x40024007> "clock2" 0x80000000' in repl
    assert 'Tag <0x40028000, 0x40028003> "clock10" 0x80000000' in repl
    assert 'Tag <0x4000C008, 0x4000C00B> "clock6" 0x00401120' in repl
