"""Board profiles: load and validate `boards/<name>.toml`; budgets, UART divisors and the power model.

A profile is plain data a person can read and diff. Every field is checked on load; a wrong or missing field
is a `TinymlError` (exit 2) naming the file and the field. (The module is `tinyml.device.boards`, singular, because
`tinyml.boards` is the data package holding the `.toml` files.)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyml.compiler.codegen.target import DSP_CORES
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.paths import BOARDS_DIR
from tinyml.tomlfile import read_toml

CORES = ("cortex-m0", "cortex-m0plus", "cortex-m3", *DSP_CORES)
# FPU names are gcc -mfpu values; "mve-fp" (Cortex-M55: FPU plus Helium) lets -mcpu pick (-mfpu=auto).
FPUS = ("none", "fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16", "mve-fp")
FPUS_BY_CORE = {
    "cortex-m0": ("none",), "cortex-m0plus": ("none",), "cortex-m3": ("none",),
    "cortex-m4": ("none", "fpv4-sp-d16"), "cortex-m7": ("none", "fpv5-sp-d16", "fpv5-d16"),
    "cortex-m33": ("none", "fpv5-sp-d16"), "cortex-m55": ("none", "mve-fp"),
}
# Cores whose DWT has a cycle counter (CYCCNT); Armv6-M has none.
DWT_CORES = ("cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
UART_DRIVERS = ("cmsdk", "stm32-usart-sr", "stm32-usart-isr", "stm32-lpuart", "pl011", "nrf-uart", "nrf-uarte")
NRF_DRIVERS = ("nrf-uart", "nrf-uarte")
FLASHERS = ("none", "openocd", "pyocd", "st-flash", "picotool")
# RP2040 second-stage boot loaders (firmware/hal/rp2040/boot2_<flash chip>.S), by the board's flash chip.
BOOT2 = ("w25q080",)
BOOT2_BYTES = 256
XIP_BASE = 0x10000000  # RP2040 flash (XIP), where the boot ROM looks for boot2
# nRF UART BAUDRATE register values (nRF51 and nRF52 reference manuals, UART BAUDRATE register).
NRF_BAUDRATE = {9600: 0x00275000, 19200: 0x004EA000, 38400: 0x009D5000, 57600: 0x00EBF000,
                115200: 0x01D7E000, 230400: 0x03AFB000, 460800: 0x075F7000, 921600: 0x0EBED000,
                1000000: 0x10000000}
# UARTE (EasyDMA) BAUDRATE values differ from the UART's above 19200 except at 115200 and 1 M (nRF52840 product
# specification, UARTE BAUDRATE register).
NRF_UARTE_BAUDRATE = {9600: 0x00275000, 19200: 0x004EA000, 38400: 0x009D0000, 57600: 0x00EB0000,
                      115200: 0x01D7E000, 230400: 0x03B00000, 460800: 0x07400000, 921600: 0x0F000000,
                      1000000: 0x10000000}
NRF_BAUDRATES = {"nrf-uart": NRF_BAUDRATE, "nrf-uarte": NRF_UARTE_BAUDRATE}


@dataclass(frozen=True)
class RegWrite:
    """One register step of the board set-up (clock tree, clock gates, pin muxing), run by `tm_hal_init`.

    `mask` None: write `value`. Otherwise read-modify-write the bits in `mask`, or with `wait` poll until
    `(reg & mask) == value` (bounded: firmware/hal/common/board_init.c). `delay_us` > 0 is a pause instead of a
    register access (`reg`, `value` unused), for the settling times the reference manuals ask for.
    """

    reg: int
    value: int
    mask: int | None
    wait: bool
    delay_us: int = 0

    @property
    def op(self) -> int:
        """The C table's op code: 0 write, 1 read-modify-write, 2 wait, 3 delay (board_init.c)."""
        return 3 if self.delay_us else 2 if self.wait else 0 if self.mask is None else 1


@dataclass(frozen=True)
class Clock:
    """The core clock set-up: register steps run first by `tm_hal_init`, before the UART's steps.

    After them the core runs at the profile's `boot_clock_hz` and the UART's input clock is `uart.clock_hz`.
    """

    source: str                    # what the core clock comes from after set-up, for people (docs, `boards`)
    setup: tuple[RegWrite, ...]


@dataclass(frozen=True)
class Uart:
    driver: str
    base: int
    baud: int
    clock_hz: int          # the UART's input clock after the board's clock set-up
    tx_pin: int | None     # nRF only: GPIO numbers written to PSELTXD/PSELRXD
    rx_pin: int | None
    setup: tuple[RegWrite, ...]

    @property
    def divisor(self) -> int:
        """The value the driver writes to its baud-rate register(s); see each driver in firmware/hal."""
        if self.driver in NRF_DRIVERS:
            return NRF_BAUDRATES[self.driver][self.baud]
        if self.driver == "pl011":
            return (self.clock_hz * 4 + self.baud // 2) // self.baud   # 64ths: IBRD = d >> 6, FBRD = d & 63
        if self.driver == "stm32-lpuart":
            return (self.clock_hz * 256 + self.baud // 2) // self.baud
        return (self.clock_hz + self.baud // 2) // self.baud             # CMSDK BAUDDIV, STM32 BRR (16x)


@dataclass(frozen=True)
class Power:
    """Run-mode current, either per MHz (`run_ua_per_mhz`) or at one clock (`run_ma` at `run_clock_hz`)."""

    volts: float
    run_ua_per_mhz: float | None
    run_ma: float | None
    run_clock_hz: int | None
    sleep_ua: float
    source: str

    def run_mw(self, clock_hz: int) -> float:
        """Active power at `clock_hz`: µA/MHz scales with the clock; a fixed mA figure is used as given."""
        if self.run_ua_per_mhz is not None:
            return self.run_ua_per_mhz * clock_hz / 1e6 * self.volts / 1000
        assert self.run_ma is not None
        return self.run_ma * self.volts

    def energy_uj(self, cycles: int, clock_hz: int) -> float:
        """Energy of `cycles` CPU cycles at `clock_hz`: active power times cycles / clock."""
        return self.run_mw(clock_hz) * 1000 * cycles / clock_hz


@dataclass(frozen=True)
class Flasher:
    tool: str
    config: tuple[str, ...]  # openocd: its scripts (each a -f); pyocd: the one target name; others: none


@dataclass(frozen=True)
class Board:
    name: str
    vendor: str
    mcu: str
    core: str
    fpu: str
    dsp: bool
    clock_hz: int           # maximum core clock: latency and energy estimates are cycles / clock_hz
    boot_clock_hz: int      # core clock the firmware runs at after its set-up (`clock`); the emulator's clock in QEMU
    clock: Clock | None     # core clock set-up; None: the firmware keeps the reset (or emulated) clock
    flash_base: int
    flash_bytes: int
    ram_base: int
    ram_bytes: int
    stack_bytes: int
    power: Power
    uart: Uart
    emulator: str | None    # QEMU machine name, None for a real board only
    flasher: Flasher
    platformio_board: str | None
    boot2: str | None       # RP2040 only: the flash chip whose second-stage boot loader leads the image (BOOT2)
    path: Path

    @property
    def vectors_base(self) -> int:
        """Where the vector table is linked: the start of flash, or after the RP2040's 256-byte boot2 block."""
        return self.flash_base + (BOOT2_BYTES if self.boot2 else 0)

    @property
    def cycle_counter(self) -> str:
        """"dwt" (DWT CYCCNT) on real cores that have one; "systick" on Armv6-M and under QEMU (no DWT)."""
        return "dwt" if self.core in DWT_CORES and self.emulator is None else "systick"

    def summary(self) -> dict[str, Any]:
        """The `tinyml boards --json` object."""
        return {"name": self.name, "vendor": self.vendor, "mcu": self.mcu, "core": self.core, "fpu": self.fpu,
                "dsp": self.dsp, "clock_hz": self.clock_hz, "flash_bytes": self.flash_bytes,
                "ram_bytes": self.ram_bytes, "emulator": self.emulator, "flasher": self.flasher.tool,
                "platformio_board": self.platformio_board, "boot_clock_hz": self.boot_clock_hz,
                "clock_source": self.clock.source if self.clock else "no set-up (reset or emulated clock)"}


class _Fields:
    """Typed access to one TOML table; every failure names the file and the dotted field."""

    def __init__(self, path: Path, table: dict[str, Any], prefix: str = "") -> None:
        self.path, self.table, self.prefix = path, table, prefix
        self.used: set[str] = set()

    def fail(self, key: str, why: str) -> TinymlError:
        return TinymlError(f"{self.path}: field '{self.prefix}{key}' {why}", BAD_INPUT)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(key)
        if key not in self.table:
            if default is ...:
                raise self.fail(key, "is missing")
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail(key, f"must be {names}, not {type(value).__name__} {value!r}")
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self.get(key, str)
        if value not in options:
            raise self.fail(key, f"is {value!r}; expected one of {', '.join(options)}")
        return value

    def positive(self, key: str, default: Any = ...) -> Any:
        value = self.get(key, (int, float), default)
        if value is not None and value <= 0:
            raise self.fail(key, f"must be positive, not {value}")
        return value

    def address(self, key: str) -> int:
        value = self.get(key, int)
        if not 0 <= value <= 0xFFFFFFFF or value % 4:
            raise self.fail(key, f"must be a word-aligned 32-bit address, not {value:#x}")
        return value

    def sub(self, key: str) -> _Fields:
        return _Fields(self.path, self.get(key, dict), f"{self.prefix}{key}.")

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise self.fail(unknown[0], "is not a known field (misspelt?)")


def _reg_write(f: _Fields) -> RegWrite:
    if "delay_us" in f.table:
        step = RegWrite(reg=0, value=0, mask=None, wait=False, delay_us=f.get("delay_us", int))
        if not 0 < step.delay_us <= 1000:
            raise f.fail("delay_us", f"must be 1 to 1000 (microseconds), not {step.delay_us}")
    else:
        step = RegWrite(reg=f.address("reg"), value=f.get("value", int), mask=f.get("mask", int, None),
                        wait=f.get("wait", bool, False))
        if step.wait and step.mask is None:
            raise f.fail("mask", "is required with wait = true")
        for key in ("value", "mask"):
            number = getattr(step, key)
            if number is not None and not 0 <= number <= 0xFFFFFFFF:
                raise f.fail(key, f"must fit in 32 bits, not {number:#x}")
        if step.mask is not None and step.value & ~step.mask:
            raise f.fail("value", f"{step.value:#x} has bits outside mask {step.mask:#x}")
    f.done()
    return step


def _steps(f: _Fields) -> tuple[RegWrite, ...]:
    """The `setup` list of a table: register steps (`reg`, `value`, `mask`?, `wait`?) or pauses (`delay_us`)."""
    steps = f.get("setup", list, [])
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            raise f.fail(f"setup[{i}]", "must be a table {reg, value, mask?, wait?} or {delay_us}")
    return tuple(_reg_write(_Fields(f.path, step, f"{f.prefix}setup[{i}].")) for i, step in enumerate(steps))


def _clock(f: _Fields) -> Clock:
    clock = Clock(source=f.get("source", str), setup=_steps(f))
    if not clock.setup:
        raise f.fail("setup", "is empty; leave out [clock] to keep the reset clock")
    f.done()
    return clock


def _uart(f: _Fields) -> Uart:
    driver = f.choice("driver", UART_DRIVERS)
    uart = Uart(driver=driver, base=f.address("base"), baud=f.positive("baud"),
                clock_hz=f.positive("clock_hz"), tx_pin=f.get("tx_pin", int, None),
                rx_pin=f.get("rx_pin", int, None), setup=_steps(f))
    if driver in NRF_DRIVERS:
        if uart.baud not in NRF_BAUDRATES[driver]:
            raise f.fail("baud", f"is {uart.baud}; the {driver} driver supports {sorted(NRF_BAUDRATES[driver])}")
        if uart.tx_pin is None or uart.rx_pin is None:
            raise f.fail("tx_pin" if uart.tx_pin is None else "rx_pin", f"is missing (needed by {driver})")
    elif uart.divisor < 16:
        raise f.fail("baud", f"{uart.baud} is too fast for a {uart.clock_hz} Hz UART clock")
    f.done()
    return uart


def _power(f: _Fields) -> Power:
    power = Power(volts=f.positive("volts"), run_ua_per_mhz=f.positive("run_ua_per_mhz", None),
                  run_ma=f.positive("run_ma", None), run_clock_hz=f.positive("run_clock_hz", None),
                  sleep_ua=f.positive("sleep_ua"), source=f.get("source", str))
    if (power.run_ua_per_mhz is None) == (power.run_ma is None):
        raise f.fail("run_ua_per_mhz", "or 'run_ma' (with 'run_clock_hz'): give exactly one")
    if power.run_ma is not None and power.run_clock_hz is None:
        raise f.fail("run_clock_hz", "is missing (needed with run_ma)")
    f.done()
    return power


def _flasher(f: _Fields) -> Flasher:
    tool = f.choice("tool", FLASHERS)
    config = f.get("config", (str, list), None)
    scripts = tuple([config] if isinstance(config, str) else config or [])
    if not all(isinstance(s, str) and s for s in scripts):
        raise f.fail("config", f"must be a string or a list of strings, not {config!r}")
    if tool in ("openocd", "pyocd") and not scripts:
        raise f.fail("config", f"is missing (needed by {tool}: " +
                     ("its board or interface and target scripts)" if tool == "openocd" else "the target name)"))
    if tool == "pyocd" and len(scripts) != 1:
        raise f.fail("config", f"must be one pyOCD target name, not {config!r}")
    f.done()
    return Flasher(tool=tool, config=scripts)


def load_board(path: Path) -> Board:
    """Read and validate one profile."""
    table = read_toml(path, "board profile")
    f = _Fields(path, table)
    name = f.get("name", str)
    if name != path.stem:
        raise f.fail("name", f"is {name!r} but the file is {path.name}")
    core = f.choice("core", CORES)
    fpu = f.choice("fpu", FPUS)
    if fpu not in FPUS_BY_CORE[core]:
        raise f.fail("fpu", f"{fpu!r} does not exist on {core}; expected one of {', '.join(FPUS_BY_CORE[core])}")
    dsp = f.get("dsp", bool)
    if dsp and core not in DSP_CORES:
        raise f.fail("dsp", f"is true but {core} has no DSP extension")
    mem = f.sub("memory")
    emulator = f.get("emulator", str)
    board = Board(
        name=name, vendor=f.get("vendor", str), mcu=f.get("mcu", str), core=core, fpu=fpu, dsp=dsp,
        clock_hz=f.positive("clock_hz"), boot_clock_hz=f.positive("boot_clock_hz"),
        clock=_clock(f.sub("clock")) if "clock" in table else None,
        flash_base=mem.address("flash_base"), flash_bytes=mem.positive("flash_bytes"),
        ram_base=mem.address("ram_base"), ram_bytes=mem.positive("ram_bytes"),
        stack_bytes=mem.positive("stack_bytes"),
        power=_power(f.sub("power")), uart=_uart(f.sub("uart")),
        emulator=None if emulator == "none" else emulator, flasher=_flasher(f.sub("flasher")),
        platformio_board=f.get("platformio_board", str, None),
        boot2=f.choice("boot2", BOOT2) if "boot2" in table else None, path=path)
    if board.stack_bytes % 8 or board.stack_bytes >= board.ram_bytes:
        raise mem.fail("stack_bytes", "must be a multiple of 8 and smaller than ram_bytes")
    if board.boot2 and board.flash_base != XIP_BASE:
        raise mem.fail("flash_base", f"must be {XIP_BASE:#x} with boot2 (the RP2040's flash), "
                                     f"not {board.flash_base:#x}")
    if board.boot_clock_hz > board.clock_hz:
        raise f.fail("boot_clock_hz", f"{board.boot_clock_hz} is above clock_hz {board.clock_hz}")
    mem.done()
    f.done()
    return board


def board_paths(directory: Path = BOARDS_DIR) -> list[Path]:
    return sorted(directory.glob("*.toml"))


def all_boards(directory: Path = BOARDS_DIR) -> list[Board]:
    return [load_board(p) for p in board_paths(directory)]


def get_board(name: str, directory: Path = BOARDS_DIR) -> Board:
    """A board by name, or a profile path (anything ending in .toml)."""
    if name.endswith(".toml"):
        return load_board(Path(name))
    path = directory / f"{name}.toml"
    if not path.exists():
        known = ", ".join(p.stem for p in board_paths(directory))
        raise TinymlError(f"unknown board {name!r}; known boards: {known}", BAD_INPUT)
    return load_board(path)
