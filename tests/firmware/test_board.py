"""Board profiles: every shipped profile loads; a wrong or missing field is one clear error naming file and field."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tinyml.device.boards import all_boards, get_board, load_board
from tinyml.errors import TinymlError

EMULATED = {"mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "mps3-an547", "netduinoplus2", "lm3s6965evb",
            "microbit"}
REAL = {"nucleo-l4r5zi", "nucleo-f446re", "disco-f746ng", "nucleo-u575zi", "nrf52840dk", "rpi-pico"}
GOOD = get_board("lm3s6965evb").path.read_text()
CLOCK = '[clock]\nsource = "x"\n[[clock.setup]]\ndelay_us = 0\n\n[uart]'


def test_shipped_profiles_load() -> None:
    boards = {b.name: b for b in all_boards()}
    assert EMULATED | REAL <= set(boards)
    assert {n for n, b in boards.items() if b.emulator is not None} == EMULATED
    assert boards["microbit"].ram_bytes == 16384 and boards["lm3s6965evb"].ram_bytes == 65536
    for board in boards.values():
        summary = board.summary()
        assert {"name", "core", "flash_bytes", "ram_bytes", "emulator"} <= set(summary)
        assert board.stack_bytes < board.ram_bytes


def test_cycle_counter_is_dwt_only_on_real_cores_that_have_one() -> None:
    counters = {b.name: b.cycle_counter for b in all_boards()}
    assert counters["nucleo-l4r5zi"] == "dwt" and counters["nucleo-u575zi"] == "dwt"
    assert counters["rpi-pico"] == "systick"                              # Cortex-M0+: no DWT CYCCNT
    assert all(counters[name] == "systick" for name in EMULATED)          # QEMU models no DWT


def test_uart_divisors() -> None:
    assert get_board("mps2-an385").uart.divisor == 217                     # 25 MHz / 115200
    assert get_board("lm3s6965evb").uart.divisor == 434                    # 64 x 12.5 MHz / (16 x 115200)
    assert get_board("nucleo-l4r5zi").uart.divisor == 266667               # LPUART: 256 x 120 MHz / 115200
    assert get_board("nucleo-f446re").uart.divisor == 391                  # APB1 45 MHz / 115200
    assert get_board("rpi-pico").uart.divisor == 4340                      # 64ths: 4 x 125 MHz / 115200
    assert get_board("microbit").uart.divisor == 0x01D7E000                # nRF BAUDRATE for 115200
    assert get_board("nrf52840dk").uart.driver == "nrf-uarte"


def test_energy_model() -> None:
    # 1e6 cycles at 64 MHz = 15.625 ms at 52 uA/MHz x 64 MHz x 3 V = 9.984 mW -> 156 uJ
    assert get_board("nrf52840dk").power.energy_uj(1_000_000, 64_000_000) == pytest.approx(156.0)
    # fixed current: 4.4 mA x 3 V for 1 ms
    assert get_board("microbit").power.energy_uj(16_000, 16_000_000) == pytest.approx(13.2)


def _write(tmp_path: Path, text: str, name: str = "lm3s6965evb") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("edit, field", [
    (lambda t: t.replace('core = "cortex-m3"\n', ""), "core"),
    (lambda t: t.replace('core = "cortex-m3"', 'core = "cortex-m9"'), "core"),
    (lambda t: t.replace("clock_hz = 50_000_000", 'clock_hz = "fast"'), "clock_hz"),
    (lambda t: t.replace("dsp = false", "dsp = true"), "dsp"),
    (lambda t: t.replace('fpu = "none"', 'fpu = "fpv4-sp-d16"'), "fpu"),
    (lambda t: t.replace("ram_bytes = 65_536", "ram_bytes = -1"), "memory.ram_bytes"),
    (lambda t: t.replace("ram_base = 0x20000000", "ram_base = 0x20000001"), "memory.ram_base"),
    (lambda t: t.replace('driver = "pl011"', 'driver = "uart16550"'), "uart.driver"),
    (lambda t: t.replace("run_ma = 110.0\n", ""), "power.run_ua_per_mhz"),
    (lambda t: t.replace('tool = "openocd"', 'tool = "jlink"'), "flasher.tool"),
    (lambda t: t.replace('config = "board/ek-lm3s6965.cfg"\n', ""), "flasher.config"),
    (lambda t: t.replace("mask = 0x3\n", "mask = 0x3\nmsak = 1\n"), "uart.setup[2].msak"),
    (lambda t: t.replace('vendor = ', 'colour = "red"\nvendor = '), "colour"),
    (lambda t: t.replace('name = "lm3s6965evb"', 'name = "lm3s"'), "name"),
    (lambda t: t.replace("mask = 0x3\nvalue = 0x3", "mask = 0x3\nvalue = 0x7"), "uart.setup[2].value"),
    (lambda t: t.replace('config = "board/ek-lm3s6965.cfg"', "config = 7"), "flasher.config"),
    (lambda t: t.replace('config = "board/ek-lm3s6965.cfg"', 'config = ["board/ek-lm3s6965.cfg", 7]'),
     "flasher.config"),
    (lambda t: t.replace("[uart]", CLOCK), "clock.setup[0].delay_us"),
    (lambda t: t.replace("[uart]", CLOCK.replace("delay_us = 0", "reg = 0x40000000\nvalue = 1\nwait = true")),
     "clock.setup[0].mask"),
    (lambda t: t.replace("[uart]", CLOCK.replace('source = "x"\n', "")), "clock.source"),
    (lambda t: t.replace("[uart]", '[clock]\nsource = "x"\n\n[uart]'), "clock.setup"),
    (lambda t: t.replace('emulator = ', 'boot2 = "w25q080"\nemulator = '), "memory.flash_base"),
    (lambda t: t.replace('emulator = ', 'boot2 = "at25sf128a"\nemulator = '), "boot2"),
])
def test_bad_field_is_named(tmp_path: Path, edit, field: str) -> None:
    text = edit(GOOD)
    assert text != GOOD
    path = _write(tmp_path, text)
    with pytest.raises(TinymlError) as err:
        load_board(path)
    assert err.value.exit_code == 2
    assert err.value.message.startswith(f"{path}: field '{field}' ")
    assert "\n" not in err.value.message


def test_clock_steps_load_in_order_with_their_ops() -> None:
    board = get_board("nucleo-l4r5zi")
    assert board.clock is not None and board.boot_clock_hz == board.clock_hz == 120_000_000
    ops = [step.op for step in board.clock.setup]
    assert ops[:4] == [1, 0, 1, 2] and 3 in ops                    # rmw, write, rmw, wait ... and a 1 us pause
    assert get_board("mps2-an385").clock is None                    # QEMU boards keep the emulator's clock
    assert get_board("rpi-pico").vectors_base == 0x10000100 and get_board("microbit").vectors_base == 0


def test_nrf_uart_needs_supported_baud_and_pins(tmp_path: Path) -> None:
    good = get_board("microbit").path.read_text()
    for edit, field in ((good.replace("baud = 115200", "baud = 100000"), "uart.baud"),
                        (good.replace("tx_pin = 24\n", ""), "uart.tx_pin")):
        with pytest.raises(TinymlError, match=re.escape(f"field '{field}'")):
            load_board(_write(tmp_path, edit, "microbit"))


def test_invalid_toml_and_unknown_board(tmp_path: Path) -> None:
    with pytest.raises(TinymlError, match="not valid TOML"):
        load_board(_write(tmp_path, GOOD + "\n[[["))
    with pytest.raises(TinymlError, match="unknown board 'nope'; known boards: .*mps2-an386"):
        get_board("nope")

