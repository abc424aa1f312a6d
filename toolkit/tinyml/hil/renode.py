"""Renode files for a board: a platform description (.repl) and a script (.resc), generated from the profile.

The platform needs nothing from the internet (no `ApplySVD`, no `using` of Renode's own platforms) and maps the
DWT cycle counter at 0xE0001000 on cores that have one, so `tinyml bench` over Renode measures cycles instead of
reading 0. Where Renode ships no platform for the MCU (STM32L4R5, STM32U575), the hand-written description in
`firmware/renode/<mcu>.repl` is used instead of the generated one. Renode 1.15 syntax throughout.

The script creates the machine, loads the platform and `../firmware.elf` (paths relative to the script, `$ORIGIN`),
and makes the console UART a TCP server (`CreateServerSocketTerminal`, no telnet negotiation) on `$uart_port`, where
the tinyml keyword library speaks the serial protocol. None of this has been run here: Renode is not installable.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2

from tinyml import __version__
from tinyml.device.boards import DWT_CORES, Board
from tinyml.paths import FIRMWARE_DIR, TEMPLATES_DIR

RENODE_DIR = FIRMWARE_DIR / "renode"
UART_PORT = 3456
RENODE_TEST = "renode-test"
# Renode CPU types (CPU.CortexM cpuType) per core; the M4 with its FPU is "cortex-m4f".
CPU_TYPES = {"cortex-m0": "cortex-m0", "cortex-m0plus": "cortex-m0+", "cortex-m3": "cortex-m3",
             "cortex-m4": "cortex-m4", "cortex-m7": "cortex-m7", "cortex-m33": "cortex-m33",
             "cortex-m55": "cortex-m55"}
# Renode UART models per firmware driver. NRF52840_UART models the UARTE with `easyDMA: true` (the nrf-uarte driver,
# as Renode's own nrf52840.repl sets it) and the legacy UART without it (nrf-uart).
UART_MODELS = {"cmsdk": "UART.CMSDK_APB_UART", "stm32-usart-sr": "UART.STM32_UART",
               "stm32-usart-isr": "UART.STM32F7_USART", "stm32-lpuart": "UART.STM32F7_USART",
               "pl011": "UART.PL011", "nrf-uart": "UART.NRF52840_UART", "nrf-uarte": "UART.NRF52840_UART"}
# Peripheral names as the reference manuals call the console UARTs (the name the Robot suite's tester uses).
UART_NAMES = {("stm32-usart-sr", 0x40004400): "usart2", ("stm32-usart-sr", 0x40011000): "usart1",
              ("stm32-usart-isr", 0x40011000): "usart1", ("stm32-usart-isr", 0x40013800): "usart1",
              ("stm32-lpuart", 0x40008000): "lpuart1"}
# Cores whose FPU has VRINTA (FPv5, MVE): the softmax's roundf uses it, and Renode implements it from 1.16.1 on.
VRINTA_FPUS = ("fpv5-sp-d16", "fpv5-d16", "mve-fp")
# MCUs for which Renode ships no platform: a hand-written description in firmware/renode/ is used.
HAND_WRITTEN = (("STM32L4R5", "stm32l4r5.repl"), ("STM32U575", "stm32u575.repl"))   # (MCU name prefix, file)


@dataclass(frozen=True)
class RenodePlatform:
    """What the templates need: everything comes from the board profile."""

    board: str
    mcu: str
    core: str
    cpu_type: str
    clock_hz: int
    mips: int
    dwt: bool
    flash_base: int
    flash_bytes: int
    vectors_base: int          # where the image's vector table is (after the RP2040's boot2 block)
    ram_base: int
    ram_bytes: int
    uart_name: str
    uart_model: str
    uart_base: int
    uart_args: tuple[tuple[str, str], ...]
    tags: tuple[tuple[int, str, int], ...]   # (address, name, value read back): registers the firmware polls
    uart_port: int
    needs: str


def minimum_renode(board: Board) -> str:
    """The oldest Renode release expected to run the board's image correctly (see docs/HIL.md)."""
    if board.fpu in VRINTA_FPUS:
        return "1.16.1 or later (VRINTA, used by roundf on this FPU, is missing from 1.15)"
    return "1.15 or later"


def platform_for(board: Board) -> RenodePlatform:
    uart = board.uart
    cpu_type = CPU_TYPES[board.core] + ("f" if board.core == "cortex-m4" and board.fpu != "none" else "")
    args: list[tuple[str, str]] = []
    if uart.driver in ("stm32-usart-isr", "stm32-lpuart", "pl011", "cmsdk"):
        args.append(("frequency", str(uart.clock_hz)))
    if uart.driver == "stm32-lpuart":
        args.append(("lowPowerMode", "true"))
    if uart.driver in ("nrf-uart", "nrf-uarte"):
        args.append(("easyDMA", "true" if uart.driver == "nrf-uarte" else "false"))
    return RenodePlatform(
        board=board.name, mcu=board.mcu, core=board.core, cpu_type=cpu_type, clock_hz=board.boot_clock_hz,
        mips=max(1, round(board.boot_clock_hz / 1e6)), dwt=board.core in DWT_CORES,
        flash_base=board.flash_base, flash_bytes=board.flash_bytes, vectors_base=board.vectors_base,
        ram_base=board.ram_base, ram_bytes=board.ram_bytes, uart_name=UART_NAMES.get((uart.driver, uart.base), "uart0"),
        uart_model=UART_MODELS[uart.driver], uart_base=uart.base, uart_args=tuple(args), tags=_polled(board),
        uart_port=UART_PORT, needs=minimum_renode(board))


def _polled(board: Board) -> tuple[tuple[int, str, int], ...]:
    """A tag per register the set-up steps poll, reading back every value they wait for (OR-ed when one register
    is polled for several flags, e.g. HSERDY then PLLRDY), named after the first such step."""
    steps = [(f"clock{i}", s) for i, s in enumerate(board.clock.setup if board.clock else ())]
    steps += [(f"setup{i}", s) for i, s in enumerate(board.uart.setup)]
    tags: dict[int, tuple[str, int]] = {}
    for name, step in steps:
        if step.wait:
            first, value = tags.get(step.reg, (name, 0))
            tags[step.reg] = (first, value | step.value)
    return tuple((reg, name, value) for reg, (name, value) in tags.items())



def _render(template: str, platform: RenodePlatform) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "renode"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template(template).render(p=platform, version=__version__).rstrip() + "\n"


def platform_text(board: Board) -> str:
    """The board's .repl: the hand-written one for MCUs Renode lacks, else generated from the profile."""
    for prefix, name in HAND_WRITTEN:
        if board.mcu.startswith(prefix):
            return (RENODE_DIR / name).read_text()
    return _render("platform.repl.j2", platform_for(board))


def script_text(board: Board) -> str:
    return _render("board.resc.j2", platform_for(board))


def uart_peripheral(board: Board) -> str:
    """The console UART as Renode names it, e.g. `sysbus.usart2` (the argument of Create Terminal Tester)."""
    return f"sysbus.{platform_for(board).uart_name}"


def write_renode_files(board: Board, directory: Path) -> tuple[Path, Path]:
    """`<board>.repl` and `<board>.resc` in `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    repl, resc = directory / f"{board.name}.repl", directory / f"{board.name}.resc"
    repl.write_text(platform_text(board))
    resc.write_text(script_text(board))
    return repl, resc


def renode_test() -> str | None:
    """The `renode-test` runner on PATH, or None."""
    return shutil.which(RENODE_TEST)
