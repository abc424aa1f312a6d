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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import jinja2

from tinyml import __version__
from tinyml.device import boot2, platformio
from tinyml.device.boards import FPUS_BY_CORE, Board
from tinyml.device.field_app import (
    SHADOW_PREFIX,
    FieldApp,
    FieldOptions,
    arena_symbol,
    field_app,
    field_costs,
    render_field_config,
)
from tinyml.device.mlperf_app import MlperfApp, mlperf_app
from tinyml.device.weight_layouts import DEFAULT_WEIGHTS, WEIGHT_LAYOUTS
from tinyml.errors import BAD_INPUT, OVER_BUDGET, TinymlError
from tinyml.paths import FIRMWARE_DIR, HAL_DIR, TEMPLATES_DIR, cache_dir

GCC = "arm-none-eabi-gcc"
OBJCOPY = "arm-none-eabi-objcopy"
OBJDUMP = "arm-none-eabi-objdump"
PROTOCOL_DIR = FIRMWARE_DIR / "protocol"
MLPERF_DIR = FIRMWARE_DIR / "mlperf"
FIELD_DIR = FIRMWARE_DIR / "field"
# The firmware's application: "bench" serves the framed serial protocol (firmware/protocol, `tinyml bench`),
# "mlperf" the MLPerf Tiny runner's text protocol (firmware/mlperf, `tinyml mlperf`), "field" the bench protocol
# plus sensor input, on-chip statistics and report frames (firmware/field, tinyml.device.field_device).
APPS = ("bench", "mlperf", "field")
OPTIMIZE = "-O2"  # speed over size: benchmarks are the point; budgets are still checked at -O2
UART_SOURCES = {"cmsdk": "cmsdk/uart.c", "stm32-usart-sr": "stm32/usart_sr.c", "stm32-usart-isr": "stm32/usart_isr.c",
                "stm32-lpuart": "stm32/usart_isr.c", "pl011": "pl011/uart.c", "nrf-uart": "nrf/uart.c",
                "nrf-uarte": "nrf/uarte.c"}


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
    weights: str = DEFAULT_WEIGHTS   # the DSP kernels' conv/FC weight layout asked for (WEIGHT_LAYOUTS)
    app: str = "bench"      # APPS
    mlperf_model: str | None = None  # app "mlperf": the model id it reports (kws01, vww01, ic01, ad01 or its own)
    builder: str = "gcc"    # what drove the compiler (BUILDERS)
    identity: str | None = None  # the registry identity built in ("kws@3 lin:ab12cd34"; `firmware_string`)
    field: dict[str, Any] | None = None  # app "field": its settings and RAM costs (tinyml.device.field_app)

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
    if board.fpu == "none" and FPUS_BY_CORE[board.core] != ("none",):  # a core whose FPU is optional: leave it out
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


FIRMWARE_STRING_BYTES = 32  # the longest string INFO carries (NAME_MAX_BYTES in firmware/protocol/tm_proto.c)


def firmware_string(identity: str | None = None) -> str:
    """The firmware version INFO reports: "tinyml 0.1.0", or with a registry identity ("kws@3 lin:ab12cd34", see
    tinyml.device.protocol.DeviceInfo.registry_id) "tinyml 0.1.0 kws@3 lin:ab12cd34" (the identity alone when the
    whole would not fit in the 32 bytes INFO carries per string)."""
    plain = f"tinyml {__version__}"
    if identity is None:
        return plain
    if not re.fullmatch(r"[A-Za-z0-9_.@: -]+", identity):  # it becomes a C string literal
        raise TinymlError(f"registry identity '{identity}' may hold only letters, digits and '_.@: -'", BAD_INPUT)
    if len(identity.encode()) > FIRMWARE_STRING_BYTES:
        raise TinymlError(f"registry identity '{identity}' is longer than the {FIRMWARE_STRING_BYTES} bytes the "
                          "device reports; register the model under a shorter name", BAD_INPUT)
    full = f"{plain} {identity}"
    return full if len(full.encode()) <= FIRMWARE_STRING_BYTES else identity


def render_board_sources(board: Board, dest: Path, harness: bool = True, identity: str | None = None,
                         field: bool = False) -> list[Path]:
    """Write board.h, startup.c, linker.ld (and the harness main.c, reporting `firmware_string(identity)`; with
    `field`, the field app's hooks in it) into `dest`; return the C files."""
    env = _templates()
    names = ["board.h", "startup.c", "linker.ld"] + (["main.c"] if harness else [])
    for name in names:
        (dest / name).write_text(env.get_template(f"{name}.j2").render(
            board=board, version=__version__, firmware_version=firmware_string(identity), field=field))
    return [dest / n for n in names if n.endswith(".c")]


def hal_sources(board: Board) -> list[Path]:
    counter = "common/counter_dwt.c" if board.cycle_counter == "dwt" else "common/counter_systick.c"
    stage2 = [f"rp2040/boot2_{board.boot2}.S"] if board.boot2 else []  # the RP2040 boot ROM's second stage
    return [HAL_DIR / p for p in ("common/board_init.c", "common/stack.c", counter, UART_SOURCES[board.uart.driver],
                                  *stage2)]


def protocol_sources() -> tuple[list[Path], list[Path]]:
    """The device side of the serial protocol (firmware/protocol): sources and include dirs."""
    sources = sorted(PROTOCOL_DIR.glob("*.c"))
    if not sources:
        raise TinymlError(f"no device protocol sources in {PROTOCOL_DIR}", BAD_INPUT)
    return sources, [PROTOCOL_DIR]


@dataclass(frozen=True)
class FirmwareSources:
    """Everything a compiler driver (gcc here, SCons under PlatformIO) needs to build one image in `work`."""

    sources: list[Path]
    include_dirs: list[Path]
    linker_script: Path
    defines: tuple[str, ...] = ()  # NAME=VALUE for every source

    def compile_flags(self, board: Board) -> list[str]:
        return [*gcc_flags(board), *SPECS, *(f"-D{d}" for d in self.defines), *(f"-I{d}" for d in self.include_dirs)]

    def link_flags(self, board: Board, work: Path) -> list[str]:
        """Beyond the compile flags (gcc drives the link); the libraries (`-lm`) go last, after the objects."""
        return ["-nostartfiles", f"-T{self.linker_script}", "-Wl,--gc-sections", "-Wl,--noinhibit-exec",
                f"-Wl,-Map={work / 'firmware.map'}"]


SPECS = ("--specs=nano.specs", "--specs=nosys.specs")  # newlib-nano, no system calls (the HAL has its own I/O)


def firmware_sources(compiled: CompiledModel, board: Board, work: Path,
                     mlperf: MlperfApp | None = None, identity: str | None = None,
                     field: FieldApp | None = None) -> FirmwareSources:
    """Render the board's sources into `work` and list every file of the image: board, HAL, application, model.
    The application is the bench harness and the serial protocol, with `field` also the field app
    (firmware/field, its `field_config.h` and the feature extractor), or with `mlperf` the MLPerf Tiny app
    (firmware/mlperf) and its `mlperf_config.h`."""
    models, model_inc, defines = [*compiled.sources], [*compiled.include_dirs], ()
    if field is not None:
        defines = ("TM_PROTO_APP",)  # the protocol's application hook and frame writer (firmware/protocol)
        app_src, app_inc = protocol_sources()
        board_c = render_board_sources(board, work, harness=True, identity=identity, field=True)
        (work / "field_config.h").write_text(render_field_config(
            field, model_hash=compiled.model_hash, firmware_version=firmware_string(identity),
            board_name=board.name, mcu=board.mcu))
        app_src += [*sorted(FIELD_DIR.glob("*.c")), HAL_DIR / "common" / "field_defaults.c", *field.sources]
        app_inc += [FIELD_DIR, *field.include_dirs]
        if field.shadow is not None:
            # A second model (its model.c finds its own model.h beside it): the runtime kernels both use are built
            # once, with every DSP kernel variant (codegen.emit.variants_h: several models in one image).
            models = list(dict.fromkeys([*models, *field.shadow.sources]))
            model_inc += field.shadow.include_dirs
            defines = (*defines, "TM_VARIANTS=~0u")
    elif mlperf is None:
        app_src, app_inc = protocol_sources()
        board_c = render_board_sources(board, work, harness=True, identity=identity)
    else:
        app_src, app_inc = sorted(MLPERF_DIR.glob("*.c")), [MLPERF_DIR]
        board_c = render_board_sources(board, work, harness=False)
        (work / "mlperf_config.h").write_text(_templates().get_template("mlperf_config.h.j2").render(
            board=board, version=__version__, app=mlperf, model_hash=compiled.model_hash))
    return FirmwareSources(sources=[*board_c, *hal_sources(board), *app_src, *models],
                           include_dirs=[work, HAL_DIR, *app_inc, *model_inc],
                           linker_script=work / "linker.ld", defines=defines)


def link(board: Board, image: FirmwareSources, work: Path, inputs: Sequence[Path] | None = None) -> Sizes:
    """Compile and link `work/firmware.elf` from the image's sources (or from `inputs`, their objects when another
    driver compiled them); sizes are read back from the ELF.

    An image over a memory region is still written (`--noinhibit-exec`) so its sizes can be reported; callers
    must not ship it (see `check_budget`). Every other linker complaint (an undefined symbol, which
    `--noinhibit-exec` would otherwise turn into a call to address 0) fails the build.
    """
    elf = work / "firmware.elf"
    cmd = [GCC, *image.compile_flags(board), *map(str, image.sources if inputs is None else inputs),
           *image.link_flags(board, work), "-o", str(elf), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    problems = link_problems(proc.stderr)
    if proc.returncode != 0 or problems or not elf.exists():
        first = (problems or proc.stderr.splitlines()[-1:] or ["no output"])[0]
        raise TinymlError(f"firmware build failed for {board.name}: {first.strip()} (rerun to see everything: "
                          f"{' '.join(cmd)})", BAD_INPUT)
    if board.boot2:
        boot2.seal(elf)
    return elf_sizes(elf, board)


def link_problems(stderr: str) -> list[str]:
    """The compiler's and linker's complaints other than a memory region overflow (which the budget check reports)."""
    return [ln for ln in stderr.splitlines()
            if re.search(r"error|undefined reference|multiple definition", ln) and not _REGION_OVERFLOW.search(ln)]


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


BUILDERS = ("gcc", "platformio")  # gcc: arm-none-eabi-gcc run here; platformio: `pio run` with tinyml's platform


def build_firmware(model_path: Path, board: Board, out_dir: Path, weights: str = DEFAULT_WEIGHTS,
                   builder: str = "gcc", app: str = "bench", mlperf_model: str | None = None,
                   identity: str | None = None, field: FieldOptions | None = None) -> BuildResult:
    """Generate the model's C, build firmware for `board` into `out_dir` (replaced atomically). `weights`: the
    conv/FC weight layout of the DSP kernels (WEIGHT_LAYOUTS; portable kernels ignore it); `builder`: BUILDERS;
    `app`: APPS; `mlperf_model`: with app "mlperf", the benchmark id to report instead of the one inferred from the
    model (`tinyml.device.mlperf_app`); `identity`: the model's registry identity the bench app reports
    (`firmware_string`; gcc builder only); `field`: with app "field", its options (defaults: FieldOptions()).

    Returns the result whether or not it fits; an image over budget gets build.json but no firmware files.
    Use `require_fit` to turn that into the exit-code-3 error.
    """
    if builder not in BUILDERS:
        raise TinymlError(f"unknown builder '{builder}'; expected one of {', '.join(BUILDERS)}", BAD_INPUT)
    check_app(app, builder, mlperf_model)
    if field is not None and app != "field":
        raise TinymlError("field options (--report-every, --stats-bins, --shadow, ...) need --app field", BAD_INPUT)
    if identity is not None and (builder != "gcc" or app not in ("bench", "field")):
        raise TinymlError("a registry identity is built into the bench app with the gcc builder only", BAD_INPUT)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        if builder == "platformio":
            result = _build_with_platformio(Path(model_path), board, work, weights, app, mlperf_model,
                                            final_dir=out_dir)
        else:
            compiled = compile_for_board(Path(model_path), board, work / "model", weights,
                                         arena_symbol=arena_symbol(field))
            mlperf = app_settings(Path(model_path), compiled, app, mlperf_model)
            field_settings = None
            if app == "field":
                options = field or FieldOptions()
                shadow = None if options.shadow is None else compile_for_board(
                    options.shadow, board, work / "shadow", weights, prefix=SHADOW_PREFIX,
                    arena_symbol=arena_symbol(options))
                if options.sensor == "file" and board.emulator is None:
                    raise TinymlError(f"--sensor file is for emulated boards (the firmware reads the file through "
                                      f"semihosting); {board.name} has no emulator: give it a tm_sensor_read",
                                      BAD_INPUT)
                field_settings = field_app(Path(model_path), compiled.inputs, compiled.outputs, options,
                                           work / "features", shadow=shadow, model_arena_bytes=compiled.arena_bytes)
            result = build_compiled(compiled, board, work, final_dir=out_dir, weights=weights, mlperf=mlperf,
                                    identity=identity, field=field_settings)
        _replace_dir(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return result


def check_app(app: str, builder: str = "gcc", mlperf_model: str | None = None) -> None:
    if app not in APPS:
        raise TinymlError(f"unknown app '{app}'; expected one of {', '.join(APPS)}", BAD_INPUT)
    if mlperf_model is not None and app != "mlperf":
        raise TinymlError("--mlperf-model needs --app mlperf", BAD_INPUT)
    if app == "field" and builder != "gcc":
        raise TinymlError("the field app is built with the gcc builder only (--builder gcc)", BAD_INPUT)


def app_settings(model_path: Path, compiled: CompiledModel, app: str, mlperf_model: str | None) -> MlperfApp | None:
    """The MLPerf Tiny app's settings for `compiled` with app "mlperf"; None for the bench app."""
    return mlperf_app(model_path, compiled.inputs, compiled.outputs, mlperf_model) if app == "mlperf" else None


def compile_for_board(model_path: Path, board: Board, out_dir: Path, weights: str = DEFAULT_WEIGHTS,
                      prefix: str = "tm_model", arena_symbol: str | None = None) -> CompiledModel:
    """The model's C for the board's core (kernel variants, weight layout) in `out_dir`; every external symbol
    starts with `prefix` (a second model in the same image: the field app's shadow model); `arena_symbol`: the
    application's arena it uses instead of its own (the field app's shared arena)."""
    from tinyml.compiler.codegen import compile_model
    from tinyml.compiler.codegen.target import Target

    if weights not in WEIGHT_LAYOUTS:
        raise TinymlError(f"unknown weight layout '{weights}'; expected one of {', '.join(WEIGHT_LAYOUTS)}",
                          BAD_INPUT)
    target = replace(Target.for_board(board), wide_fc=WEIGHT_LAYOUTS[weights])
    return compile_model(model_path, out_dir, prefix=prefix, target=target, arena_symbol=arena_symbol)


def build_compiled(compiled: CompiledModel, board: Board, work: Path, final_dir: Path | None = None,
                   weights: str = DEFAULT_WEIGHTS, mlperf: MlperfApp | None = None,
                   identity: str | None = None, field: FieldApp | None = None) -> BuildResult:
    """Build firmware in `work` from an already generated model (`final_dir`: where `work` will end up; `weights`:
    the layout it was generated with, recorded in build.json; `mlperf`: build the MLPerf Tiny app with these
    settings instead of the bench app; `field`: build the field app with these settings; `identity`: the registry
    identity it reports, see `firmware_string`)."""
    toolchain = toolchain_version()
    sizes = link(board, firmware_sources(compiled, board, work, mlperf, identity, field), work)
    return finish_image(compiled, board, work, sizes, toolchain, final_dir=final_dir, weights=weights, mlperf=mlperf,
                        identity=identity, field=field)


def finish_image(compiled: CompiledModel, board: Board, work: Path, sizes: Sizes, toolchain: str, *,
                 final_dir: Path | None = None, weights: str = DEFAULT_WEIGHTS, builder: str = "gcc",
                 mlperf: MlperfApp | None = None, identity: str | None = None,
                 field: FieldApp | None = None) -> BuildResult:
    """After the link: check the budgets, write firmware.bin/.hex (or drop an image over budget) and build.json."""
    violations = check_budget(board, sizes, compiled.arena_bytes)
    elf = work / "firmware.elf"
    field_info = None if field is None else field.to_json() | field_costs(elf, field)
    if violations:
        elf.unlink()
    else:
        subprocess.run([OBJCOPY, "-O", "binary", str(elf), str(work / "firmware.bin")], check=True)
        subprocess.run([OBJCOPY, "-O", "ihex", str(elf), str(work / "firmware.hex")], check=True)
    result = BuildResult(board=board.name, out_dir=final_dir or work, model_hash=compiled.model_hash,
                         toolchain=toolchain, flash_bytes=sizes.flash_bytes, flash_budget=board.flash_bytes,
                         ram_bytes=sizes.ram_bytes, ram_budget=board.ram_bytes, arena_bytes=compiled.arena_bytes,
                         stack_bytes=board.stack_bytes, fits=not violations, violations=violations, weights=weights,
                         builder=builder, app="mlperf" if mlperf else "field" if field else "bench",
                         mlperf_model=mlperf.model_id if mlperf else None, identity=identity, field=field_info)
    build_json = result.to_json() | {"profile_sha256": hashlib.sha256(board.path.read_bytes()).hexdigest()[:16]}
    (work / "build.json").write_text(json.dumps(build_json, indent=2) + "\n")
    return result


def _build_with_platformio(model: Path, board: Board, work: Path, weights: str, app: str, mlperf_model: str | None,
                           final_dir: Path | None = None) -> BuildResult:
    """`tinyml build --builder platformio`: a PlatformIO project for the board in `work`, `pio run`, and its
    artifacts (generated sources, firmware.elf/.bin/.hex/.map, build.json) moved into `work`."""
    if not model.is_file():
        raise TinymlError(f"{model}: no such model file", BAD_INPUT)
    core = platformio.prepare_core(cache_dir() / "platformio-core")
    project = work / "platformio"
    project.mkdir()
    (project / "platformio.ini").write_text(platformio.project_ini(
        [board], str(model.resolve()), str(core), str(platformio.PLATFORM_DIR), weights, app=app,
        mlperf_model=mlperf_model))
    proc = platformio.run_pio(["run", "-d", str(project), "-e", board.name])
    built = project / ".pio" / "build" / board.name
    if not (built / "build.json").is_file():
        output = (proc.stdout + proc.stderr).splitlines()
        line = next((ln for ln in reversed(output) if "error" in ln.lower()), output[-1] if output else "no output")
        raise TinymlError(f"pio run failed for {board.name}: {line.strip()}", BAD_INPUT)
    artifacts = [built / name for name in ("firmware.elf", "firmware.bin", "firmware.hex", "firmware.map")]
    for path in [*artifacts, *(built / "tinyml").iterdir()]:  # the same layout as the gcc builder's
        if path.exists():
            os.replace(path, work / path.name)
    info = json.loads((built / "build.json").read_text())
    info["out_dir"] = str(final_dir or work)
    (work / "build.json").write_text(json.dumps(info, indent=2) + "\n")
    shutil.rmtree(project)
    return BuildResult(**{**{k: v for k, v in info.items() if k != "profile_sha256"},
                          "out_dir": Path(info["out_dir"])})


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
