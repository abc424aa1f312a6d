"""Firmware build: generated model + board templates + HAL -> firmware.elf/.bin/.hex and build.json.

`build_firmware` is the stage function (`tinyml build`). Lower pieces (`render_board_sources`, `hal_sources`,
`link`) are public so a test can link its own `main` against a board's startup, UART and counter.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, Sequence

import jinja2

from tinyml import __version__
from tinyml.device.boards import Board
from tinyml.errors import BAD_INPUT, OVER_BUDGET, TinymlError
from tinyml.paths import FIRMWARE_DIR, HAL_DIR, TEMPLATES_DIR

GCC = "arm-none-eabi-gcc"
OBJCOPY = "arm-none-eabi-objcopy"
OBJDUMP = "arm-none-eabi-objdump"
PROTOCOL_DIR = FIRMWARE_DIR / "protocol"
# Conv/FC weight layouts of the DSP kernels (Target.wide_fc): int16 runs fewer instructions and doubles those
# weights in flash; "auto" takes int16 when the doubled weights fit in half the flash.
WEIGHT_LAYOUTS: dict[str, bool | None] = {"auto": None, "int8": False, "int16": True}
OPTIMIZE = "-O2"  # speed over size: benchmarks are the point; budgets are still checked at -O2
UART_SOURCES = {"cmsdk": "cmsdk/uart.c", "stm32-usart-sr": "stm32/usart_sr.c", "stm32-usart-isr": "stm32/usart_isr.c",
                "stm32-lpuart": "stm32/usart_isr.c", "pl011": "pl011/uart.c", "nrf-uart": "nrf/uart.c"}


class CompiledModel(Protocol):
    """What the build needs from `tinyml.compiler.codegen.compile_model` (its CompileResult)."""

    sources: Sequence[Path]
    include_dirs: Sequence[Path]
    arena_bytes: int
    model_hash: str


@dataclass(frozen=True)
class Sizes:
    flash_bytes: int   # everything loaded into flash: code, constants (weights), .data initialisers
    ram_bytes: int     # reserved stack + .data + .bss (the arena is in .bss)


@dataclass(frozen=True)
class BuildResult:
    board: str
    out_dir: Path
    model_hash: str
    toolchain: str
    flash_bytes: int
    flash_budget: int
    ram_bytes: int
    ram_budget: int
    arena_bytes: int
    stack_bytes: int
    fits: bool
    violations: list[str] = field(default_factory=list)
    weights: str = "auto"   # the DSP kernels' conv/FC weight layout asked for (WEIGHT_LAYOUTS)

    @property
    def elf(self) -> Path:
        return self.out_dir / "firmware.elf"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        return data


def gcc_flags(board: Board) -> list[str]:
    """Code generation flags for the board's core; `-ffp-contract=off` keeps float results equal to the host."""
    cpu = board.core
    if board.fpu == "none" and board.core in ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"):
        cpu += "+nofp" if board.core != "cortex-m55" else "+nofp+nomve"
    if board.core == "cortex-m33" and not board.dsp:
        cpu += "+nodsp"
    flags = [f"-mcpu={cpu}", "-mthumb"]
    if board.fpu == "none":
        flags.append("-mfloat-abi=soft")
    else:
        flags += [f"-mfpu={'auto' if board.fpu == 'mve-fp' else board.fpu}", "-mfloat-abi=hard"]
    return flags + [OPTIMIZE, "-g", "-ffunction-sections", "-fdata-sections", "-ffp-contract=off", "-fno-common",
                    "-Wall", "-Wextra"]


def toolchain_version() -> str:
    try:
        out = subprocess.run([GCC, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise TinymlError(f"{GCC} not found or broken ({exc}); install gcc-arm-none-eabi and "
                          "libnewlib-arm-none-eabi", BAD_INPUT) from exc
    return out.splitlines()[0]


def _templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True)


def render_board_sources(board: Board, dest: Path, harness: bool = True) -> list[Path]:
    """Write board.h, startup.c, linker.ld (and the harness main.c) into `dest`; return the C files."""
    env = _templates()
    names = ["board.h", "startup.c", "linker.ld"] + (["main.c"] if harness else [])
    for name in names:
        (dest / name).write_text(env.get_template(f"{name}.j2").render(board=board, version=__version__))
    return [dest / n for n in names if n.endswith(".c")]


def hal_sources(board: Board) -> list[Path]:
    counter = "common/counter_dwt.c" if board.cycle_counter == "dwt" else "common/counter_systick.c"
    return [HAL_DIR / p for p in ("common/board_init.c", "common/stack.c", counter, UART_SOURCES[board.uart.driver])]


def protocol_sources() -> tuple[list[Path], list[Path]]:
    """The device side of the serial protocol (firmware/protocol): sources and include dirs."""
    sources = sorted(PROTOCOL_DIR.glob("*.c"))
    if not sources:
        raise TinymlError(f"no device protocol sources in {PROTOCOL_DIR}", BAD_INPUT)
    return sources, [PROTOCOL_DIR]


def link(board: Board, sources: Sequence[Path], include_dirs: Sequence[Path], work: Path) -> Sizes:
    """Compile and link `work/firmware.elf` with `work/linker.ld`; sizes are read back from the ELF.

    An image over a memory region is still written (`--noinhibit-exec`) so its sizes can be reported; callers
    must not ship it (see `check_budget`). Every other linker complaint (an undefined symbol, which
    `--noinhibit-exec` would otherwise turn into a call to address 0) fails the build.
    """
    elf = work / "firmware.elf"
    includes = [f"-I{d}" for d in [work, HAL_DIR, *include_dirs]]
    cmd = [GCC, *gcc_flags(board), *includes, *map(str, sources), "-nostartfiles", "--specs=nano.specs",
           "--specs=nosys.specs", f"-T{work / 'linker.ld'}", "-Wl,--gc-sections", "-Wl,--noinhibit-exec",
           f"-Wl,-Map={work / 'firmware.map'}", "-o", str(elf), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    problems = [ln for ln in proc.stderr.splitlines()
                if re.search(r"error|undefined reference|multiple definition", ln) and not _REGION_OVERFLOW.search(ln)]
    if proc.returncode != 0 or problems or not elf.exists():
        first = (problems or proc.stderr.splitlines()[-1:] or ["no output"])[0]
        raise TinymlError(f"firmware build failed for {board.name}: {first.strip()} (rerun to see everything: "
                          f"{' '.join(cmd)})", BAD_INPUT)
    return elf_sizes(elf, board)


_REGION_OVERFLOW = re.compile(r"region `\w+' overflowed by \d+ bytes|will not fit in region")
_OBJDUMP_ROW = re.compile(r"^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+\S+\s*$")


def elf_sizes(elf: Path, board: Board) -> Sizes:
    """Flash = bytes loaded at flash addresses; RAM = allocated bytes at RAM addresses (from section headers)."""
    out = subprocess.run([OBJDUMP, "-h", str(elf)], capture_output=True, text=True, check=True).stdout.splitlines()
    flash = ram = 0
    for row, flags in zip(out, out[1:]):
        match = _OBJDUMP_ROW.match(row)
        if not match or "ALLOC" not in flags:
            continue
        size, vma, lma = (int(match.group(i), 16) for i in (2, 3, 4))
        if "LOAD" in flags and board.flash_base <= lma < board.flash_base + board.flash_bytes * 2:
            flash += size
        if board.ram_base <= vma < board.ram_base + board.ram_bytes * 2:
            ram += size
    return Sizes(flash_bytes=flash, ram_bytes=ram)


def check_budget(board: Board, sizes: Sizes, arena_bytes: int) -> list[str]:
    """One sentence per region over its budget: by how much, and what to try."""
    violations = []
    if sizes.flash_bytes > board.flash_bytes:
        violations.append(f"flash overflows by {sizes.flash_bytes - board.flash_bytes} bytes "
                          f"({sizes.flash_bytes} of {board.flash_bytes}): try a smaller model (fewer or pruned "
                          "weights) or a board with more flash")
    if sizes.ram_bytes > board.ram_bytes:
        violations.append(f"RAM overflows by {sizes.ram_bytes - board.ram_bytes} bytes ({sizes.ram_bytes} of "
                          f"{board.ram_bytes}, of which arena {arena_bytes} and stack {board.stack_bytes}): try "
                          "smaller activations (input resolution, channels) or a board with more RAM")
    return violations


def build_firmware(model_path: Path, board: Board, out_dir: Path, weights: str = "auto") -> BuildResult:
    """Generate the model's C, build firmware for `board` into `out_dir` (replaced atomically). `weights`: the
    conv/FC weight layout of the DSP kernels (WEIGHT_LAYOUTS; portable kernels ignore it).

    Returns the result whether or not it fits; an image over budget gets build.json but no firmware files.
    Use `require_fit` to turn that into the exit-code-3 error.
    """
    from tinyml.compiler.codegen import compile_model
    from tinyml.compiler.codegen.target import Target

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        target = replace(Target.for_board(board), wide_fc=WEIGHT_LAYOUTS[weights])
        compiled = compile_model(Path(model_path), work / "model", target=target)
        result = build_compiled(compiled, board, work, final_dir=out_dir, weights=weights)
        _replace_dir(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return result


def build_compiled(compiled: CompiledModel, board: Board, work: Path, final_dir: Path | None = None,
                   weights: str = "auto") -> BuildResult:
    """Build firmware in `work` from an already generated model (`final_dir`: where `work` will end up; `weights`:
    the layout it was generated with, recorded in build.json)."""
    toolchain = toolchain_version()
    proto_src, proto_inc = protocol_sources()
    board_c = render_board_sources(board, work, harness=True)
    sources = [*board_c, *hal_sources(board), *proto_src, *compiled.sources]
    sizes = link(board, sources, [*proto_inc, *compiled.include_dirs], work)
    violations = check_budget(board, sizes, compiled.arena_bytes)
    elf = work / "firmware.elf"
    if violations:
        elf.unlink()
    else:
        subprocess.run([OBJCOPY, "-O", "binary", str(elf), str(work / "firmware.bin")], check=True)
        subprocess.run([OBJCOPY, "-O", "ihex", str(elf), str(work / "firmware.hex")], check=True)
    result = BuildResult(board=board.name, out_dir=final_dir or work, model_hash=compiled.model_hash,
                         toolchain=toolchain, flash_bytes=sizes.flash_bytes, flash_budget=board.flash_bytes,
                         ram_bytes=sizes.ram_bytes, ram_budget=board.ram_bytes, arena_bytes=compiled.arena_bytes,
                         stack_bytes=board.stack_bytes, fits=not violations, violations=violations, weights=weights)
    build_json = result.to_json() | {"profile_sha256": hashlib.sha256(board.path.read_bytes()).hexdigest()[:16]}
    (work / "build.json").write_text(json.dumps(build_json, indent=2) + "\n")
    return result


def require_fit(result: BuildResult) -> None:
    if not result.fits:
        raise TinymlError(f"model does not fit {result.board}: " + "; ".join(result.violations), OVER_BUDGET)


def _replace_dir(new: Path, target: Path) -> None:
    """Move `new` to `target`, replacing an older build with two renames (never a half-written target)."""
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / "build")
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)
