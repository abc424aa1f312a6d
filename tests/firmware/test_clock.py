"""Clock set-up without silicon: each real board's register steps, run through a model of its family's clock tree
(tests/firmware/clock_model.py), reach the profile's clock with the flash wait states and voltage range set before
the switch, every wait is one the model satisfies, and the UART divisor comes from the clock after set-up."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from tests.firmware.clock_model import ModelError, simulate
from tinyml.device.boards import all_boards, get_board
from tinyml.device.build import render_board_sources

SET_UP = [b.name for b in all_boards() if b.clock is not None]
EXPECTED = {"nucleo-f446re": 180_000_000, "disco-f746ng": 216_000_000, "nucleo-l4r5zi": 120_000_000,
            "nucleo-u575zi": 160_000_000, "nrf52840dk": 64_000_000, "microbit": 16_000_000, "rpi-pico": 125_000_000}


def test_every_real_board_sets_its_clock_and_emulated_ones_keep_theirs() -> None:
    assert set(SET_UP) == set(EXPECTED)
    for board in all_boards():
        if board.name in EXPECTED:
            assert board.boot_clock_hz == board.clock_hz == EXPECTED[board.name]
        else:
            assert board.clock is None and board.emulator is not None     # QEMU boards: the emulator's clock


@pytest.mark.parametrize("name", SET_UP)
def test_steps_reach_the_profile_clock(name: str) -> None:
    board = get_board(name)
    result = simulate(board)
    assert result.core_hz == board.boot_clock_hz == board.clock_hz
    assert result.uart_hz == board.uart.clock_hz      # so TM_UART_DIVISOR is computed from the clock after set-up


@pytest.mark.parametrize("name", ["nucleo-f446re", "disco-f746ng", "nucleo-l4r5zi", "nucleo-u575zi"])
def test_wait_states_before_the_switch_are_required(name: str) -> None:
    """Moving the flash latency write after the SYSCLK switch must fail in the model (so the check has teeth)."""
    board = get_board(name)
    assert board.clock is not None
    steps = list(board.clock.setup)
    latency = next(i for i, s in enumerate(steps) if s.reg in (0x40023C00, 0x40022000) and not s.wait)
    switch = simulate(board).switched_at
    assert switch is not None and latency < switch
    moved = steps[:latency] + steps[latency + 2:switch + 1] + steps[latency:latency + 2] + steps[switch + 1:]
    with pytest.raises(ModelError, match="flash wait states"):
        simulate(replace(board, clock=replace(board.clock, setup=tuple(moved))))


def test_voltage_and_boost_before_the_switch_are_required() -> None:
    for name, reg in (("nucleo-f446re", 0x40007000), ("nucleo-l4r5zi", 0x40007080), ("nucleo-u575zi", 0x4602080C)):
        board = get_board(name)
        assert board.clock is not None
        kept = tuple(s for s in board.clock.setup if s.reg != reg and not (s.wait and s.reg == reg + 4))
        with pytest.raises(ModelError):
            simulate(replace(board, clock=replace(board.clock, setup=kept)))


def test_a_wait_the_hardware_never_satisfies_is_reported() -> None:
    board = get_board("rpi-pico")
    assert board.clock is not None
    no_xosc = tuple(s for s in board.clock.setup if s.reg != 0x40024000)
    with pytest.raises(ModelError, match=r"step 1 \(clock.setup\[1\]\): waits for .* would time out"):
        simulate(replace(board, clock=replace(board.clock, setup=no_xosc)))


@pytest.mark.parametrize("name", SET_UP)
def test_board_header_runs_clock_steps_first_and_every_wait_is_bounded(name: str, tmp_path: Path) -> None:
    board = get_board(name)
    assert board.clock is not None
    render_board_sources(board, tmp_path, harness=False)
    header = (tmp_path / "board.h").read_text()
    clock_block = header.split("#define TM_CLOCK_SETUP_STEPS")[1].split("#define TM_UART_SETUP_STEPS")[0]
    rows = re.findall(r"\{ (0x[0-9A-F]+)u, (0x[0-9A-F]+)u, (0x[0-9A-F]+)u, (\d)u \}", clock_block)
    assert [int(r[0], 16) for r in rows] == [s.reg for s in board.clock.setup]
    assert f"#define TM_BOOT_CLOCK_HZ {board.boot_clock_hz}u" in header
    assert f"#define TM_UART_DIVISOR {board.uart.divisor}u" in header
    board_init = (Path(__file__).parents[2] / "firmware/hal/common/board_init.c").read_text()
    assert "TM_CLOCK_SETUP_STEPS TM_UART_SETUP_STEPS" in board_init          # clock first, then the UART's steps
    assert re.search(r"while \(\(\*reg & s->mask\) != s->value && \+\+n < TM_WAIT_LIMIT\)", board_init)
