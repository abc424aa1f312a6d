"""The field app's settings (`tinyml build --app field`): the statistics layout, the input stream and the report
window, rendered into `field_config.h` (firmware/templates/field_config.h.j2) for the firmware in firmware/field.

The layout is `tinyml.device.statistics.layout_for` over the model's input 0 (channels: its last dimension,
trailing 1s left out) and outputs, so the device counts exactly what `statistics.accumulate` counts. When the
model's reference statistics (`<model>.stats.json`, written by `tinyml quantize`) exist, their layout is used (the
device's histograms must have the reference's bins for drift scores to compare them); asking for other bins is an
error. A model with `features.json` gets the on-chip feature extractor (`tinyml.device.features_sources`) and
takes raw int16 samples; any other model takes its input tensor's bytes as the stream.

With a shadow model the two models run one after the other, so by default (`shadow_arena="shared"`) both are
generated with their arena supplied from outside (`compile_model(..., arena_symbol=SHARED_ARENA_SYMBOL)`) and the
app defines one block for both (`shared_arena_layout`); "separate" keeps each model's own static arena.
"""
from __future__ import annotations

import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tinyml.device.statistics import StatsLayout, layout_for, load_statistics, stats_path
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.paths import HAL_DIR

if TYPE_CHECKING:
    from tinyml.compiler.codegen import TensorInfo

FIELD_DIR_NAME = "field"
MAX_REPORT_PAYLOAD = 4096       # docs/PROTOCOL.md: no frame is longer
REPORT_STRING_MAX = 32          # device id, firmware version, model hash
MAX_VALUES_PER_CHANNEL = 262143  # per inference (tm_stats.h: 32-bit sums of squares per inference)
SHADOW_PREFIX = "tm_shadow"     # the challenger's symbols
SHARED_ARENA_SYMBOL = "tm_field_arena"  # the block both models use with a shared arena (firmware/field)
SHADOW_ARENAS = ("shared", "separate")  # one block for both models, or each model's own static arena
SENSORS = ("protocol", "file")  # raw samples: streamed by the host (SAMPLES frames), or read from a recorded file
SENSOR_FILE_SOURCE = HAL_DIR / "common" / "sensor_file.c"  # the emulators' recorded sensor (semihosting)
INPUT_COPY_ALIGN = 4            # the input kept for the challenger starts on a word


# Where a chip keeps its factory-programmed unique id (MCU name prefix: address, bytes), read by the field app's
# tm_hal_device_id (firmware/field/tm_field_uid.c). Sources: STM32F405/F446 RM0090/RM0390 "Unique device ID register
# (96 bits)" 0x1FFF7A10; STM32F746 RM0385 0x1FF0F420; STM32L4R5 RM0432 0x1FFF7590; STM32U575 RM0456 0x0BFA0700;
# nRF51822/nRF52840 FICR DEVICEID[0..1] at 0x10000060 (nRF51 RM, nRF52840 PS "FICR"). Others have none here (the
# RP2040 keeps its id in the flash chip; the MPS2/MPS3 FPGA images and the LM3S6965 have none).
UNIQUE_IDS: dict[str, tuple[int, int]] = {
    "STM32F405": (0x1FFF7A10, 12), "STM32F446": (0x1FFF7A10, 12), "STM32F746": (0x1FF0F420, 12),
    "STM32L4R5": (0x1FFF7590, 12), "STM32U575": (0x0BFA0700, 12),
    "nRF51822": (0x10000060, 8), "nRF52840": (0x10000060, 8),
}


def unique_id_location(mcu: str) -> tuple[int, int] | None:
    """(address, bytes) of the MCU's unique id, or None."""
    return next((where for prefix, where in UNIQUE_IDS.items() if mcu.startswith(prefix)), None)


@dataclass(frozen=True)
class FieldOptions:
    """What `tinyml build --app field` lets a user choose."""

    report_every: int = 100         # inferences per report window
    bins: int | None = None         # input histogram bins (default: the reference statistics', else 16)
    group: int = 1                  # neighbouring features pooled into one channel
    confidence_bins: int = 16
    low_confidence: float = 0.5     # dequantized top-1 value below which an inference is low-confidence
    infer_every: int | None = None  # new feature frames per inference (default: one whole window)
    shadow: Path | None = None      # a challenger .tflite run beside the model
    shadow_every: int = 1           # the challenger runs on every k-th inference
    shadow_arena: str = "shared"    # SHADOW_ARENAS
    sensor: str = "protocol"        # SENSORS: "file" is for emulators (tinyml.device.field_device.sensor_file_args)

    def check(self) -> None:
        if not 1 <= self.report_every < 2**32:
            raise TinymlError(f"--report-every must be between 1 and 2^32 - 1, got {self.report_every}", BAD_INPUT)
        if self.infer_every is not None and not 1 <= self.infer_every < 2**32:
            raise TinymlError(f"--infer-every must be at least 1, got {self.infer_every}", BAD_INPUT)
        if not 1 <= self.shadow_every < 2**32:
            raise TinymlError(f"--shadow-every must be at least 1, got {self.shadow_every}", BAD_INPUT)
        if self.sensor not in SENSORS:
            raise TinymlError(f"--sensor must be one of {', '.join(SENSORS)}, got '{self.sensor}'", BAD_INPUT)
        if self.shadow_arena not in SHADOW_ARENAS:
            raise TinymlError(f"--shadow-arena must be one of {', '.join(SHADOW_ARENAS)}, got "
                              f"'{self.shadow_arena}'", BAD_INPUT)
        if not 1 <= self.group <= 255:
            raise TinymlError(f"--stats-group must be between 1 and 255 (a report carries it in one byte), got "
                              f"{self.group}", BAD_INPUT)


def arena_symbol(options: FieldOptions | None) -> str | None:
    """The arena symbol both models are compiled with (`compile_model(..., arena_symbol=...)`): SHARED_ARENA_SYMBOL
    with a shadow model sharing the arena, else None (each model owns its static arena)."""
    shared = options is not None and options.shadow is not None and options.shadow_arena == "shared"
    return SHARED_ARENA_SYMBOL if shared else None


@dataclass(frozen=True)
class SharedArena:
    """One block for the production model and the challenger, which run one after the other. Nothing of either
    model's arena lives across the two runs except the input the challenger needs (the production model may
    overwrite its own): it is kept at `input_offset`, past every byte the production model uses, and copied to
    the challenger's input just before it runs. The production model's argmax is taken before that copy."""

    bytes: int
    input_offset: int


def shared_arena_layout(production_arena: int, shadow_arena: int, input_bytes: int) -> SharedArena:
    """The block: the larger of the challenger's arena and the production model's followed by the kept input (so
    the input costs nothing where the challenger's arena is the larger by at least the input)."""
    offset = -(-production_arena // INPUT_COPY_ALIGN) * INPUT_COPY_ALIGN
    return SharedArena(max(shadow_arena, offset + input_bytes), offset)


@dataclass(frozen=True)
class ShadowModel:
    """The challenger as the image holds it: compiled with SHADOW_PREFIX symbols."""

    path: Path
    model_hash: str
    classes: int                    # output 0's, compared by argmax with the production model's
    arena_bytes: int
    sources: tuple[Path, ...]
    include_dirs: tuple[Path, ...]


@dataclass(frozen=True)
class FieldApp:
    """Everything field_config.h states, plus the extra sources the image needs."""

    layout: StatsLayout
    features: int                   # the input's last dimension
    rows: int                       # input values / features
    report_every: int
    infer_every: int | str          # a number, or "TM_FEATURES_FRAMES" (one whole window, from the extractor)
    features_on_chip: bool
    shadow_every: int               # 0 without a shadow model
    report_bytes: int               # the longest report payload (a 32-byte device id)
    sources: tuple[Path, ...] = ()  # the feature extractor's
    include_dirs: tuple[Path, ...] = ()
    shadow: ShadowModel | None = None
    input_bytes: int = 0            # the production model's input tensor
    model_arena_bytes: int = 0      # the production model's arena (its plan)
    shared_arena: SharedArena | None = None  # with a shadow model sharing the arena
    sensor: str = "protocol"        # SENSORS
    feature_params: dict | None = None  # the model's features.json, for hosts that lay out a recorded sensor's file

    def to_json(self) -> dict:
        data = {"layout": self.layout.to_json(), "report_every": self.report_every,
                "infer_every": self.infer_every, "features_on_chip": self.features_on_chip,
                "shadow_every": self.shadow_every, "report_bytes": self.report_bytes, "sensor": self.sensor}
        if self.feature_params is not None:
            data["feature_params"] = self.feature_params
        if self.shadow is not None:
            data["shadow"] = {"model": str(self.shadow.path), "model_hash": self.shadow.model_hash,
                              "classes": self.shadow.classes, "arena_bytes": self.shadow.arena_bytes,
                              "arena": "separate" if self.shared_arena is None else "shared"}
        return data


def input_layout(shape: Sequence[int]) -> tuple[int, int]:
    """(rows, features) of an input tensor shaped (1, ...): features is its last dimension once trailing 1s are
    left out, as `statistics.accumulate` sees a sample."""
    dims = list(shape[1:]) or [1]
    while len(dims) > 1 and dims[-1] == 1:
        dims.pop()
    features = dims[-1]
    return math.prod(dims) // features, features


def report_payload_bytes(layout: StatsLayout) -> int:
    """The longest report payload for `layout` (docs/PROTOCOL.md "Report frames")."""
    head = 1 + (1 + REPORT_STRING_MAX) + 24 + 2 * (1 + REPORT_STRING_MAX) + 6
    return (head + layout.channels * (20 + 4 * layout.bins)
            + sum(9 + 4 * (o.classes + o.confidence_bins) for o in layout.outputs))


def field_app(model_path: Path, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo],
              options: FieldOptions, out_dir: Path, shadow: ShadowCompiled | None = None,
              model_arena_bytes: int = 0) -> FieldApp:
    """The field app's settings for a compiled model (`out_dir`: where the feature extractor's C may be written;
    `shadow`: the challenger compiled with SHADOW_PREFIX and `arena_symbol(options)`, when `options.shadow` names
    one; `model_arena_bytes`: the production model's arena)."""
    options.check()
    model_path = Path(model_path)
    if len(inputs) != 1 or inputs[0].dtype != "int8" or any(o.dtype != "int8" for o in outputs):
        raise TinymlError(f"{model_path}: the field app needs one int8 input and int8 outputs; the model has "
                          f"{[i.dtype for i in inputs]} -> {[o.dtype for o in outputs]}", BAD_INPUT)
    rows, features = input_layout(inputs[0].shape)
    layout = _layout(model_path, features, outputs, options)
    if rows * layout.group > MAX_VALUES_PER_CHANNEL:
        raise TinymlError(f"{model_path}: {rows * layout.group} input values per channel and inference; the "
                          f"field statistics take at most {MAX_VALUES_PER_CHANNEL}", BAD_INPUT)
    report_bytes = report_payload_bytes(layout)
    if report_bytes > MAX_REPORT_PAYLOAD:
        raise TinymlError(f"{model_path}: a report of {layout.channels} channels x {layout.bins} bins needs "
                          f"{report_bytes} bytes, a frame holds {MAX_REPORT_PAYLOAD}: use fewer --stats-bins or a "
                          "larger --stats-group", BAD_INPUT)
    extractor = _feature_sources(model_path, inputs, out_dir)
    if extractor is None and options.infer_every is not None:
        raise TinymlError(f"{model_path}: --infer-every counts feature frames, but the model has no "
                          "features.json (it takes whole input tensors)", BAD_INPUT)
    infer_every: int | str = 1
    if extractor is not None:
        infer_every = options.infer_every or "TM_FEATURES_FRAMES"
    sources, params = tuple(extractor[0]) if extractor else (), None
    if options.sensor == "file":
        if extractor is None:
            raise TinymlError(f"{model_path}: --sensor file reads raw samples, but the model has no features.json "
                              "(it takes whole input tensors over the serial link)", BAD_INPUT)
        params, infer_every = _recorded_sensor(model_path, options.infer_every)
        sources += (SENSOR_FILE_SOURCE,)
    input_bytes = math.prod(inputs[0].shape)
    shared = None if shadow is None or arena_symbol(options) is None else shared_arena_layout(
        model_arena_bytes, shadow.arena_bytes, input_bytes)
    return FieldApp(layout=layout, features=features, rows=rows, report_every=options.report_every,
                    infer_every=infer_every, features_on_chip=extractor is not None,
                    shadow_every=options.shadow_every if shadow else 0, report_bytes=report_bytes,
                    sources=sources, include_dirs=tuple(extractor[1]) if extractor else (),
                    shadow=_shadow(options.shadow or model_path, inputs[0], outputs[0], shadow) if shadow else None,
                    input_bytes=input_bytes, model_arena_bytes=model_arena_bytes, shared_arena=shared,
                    sensor=options.sensor, feature_params=params)


def _recorded_sensor(model_path: Path, infer_every: int | None) -> tuple[dict, int]:
    """(the model's features.json, frames per inference) for a `--sensor file` build. By default a clip per
    inference (FeatureParams.frames_between_clips)."""
    from tinyml.device.features_sources import features_json, read_features
    from tinyml.features import FeatureParams

    found = features_json(model_path)
    if found is None:
        raise TinymlError(f"{model_path}: no features.json beside it", BAD_INPUT)
    data = read_features(found)
    params = FeatureParams.from_json(data)
    return data, infer_every or params.frames_between_clips


class ShadowCompiled(Protocol):
    """What the field app needs from the challenger's `CompileResult`."""

    sources: Sequence[Path]
    include_dirs: Sequence[Path]
    arena_bytes: int
    model_hash: str
    inputs: Sequence[TensorInfo]
    outputs: Sequence[TensorInfo]


def _shadow(path: Path, production_in: TensorInfo, production_out: TensorInfo,
            compiled: ShadowCompiled) -> ShadowModel:
    """The challenger (`path`), checked: it must read the production model's int8 input bytes as they are (same
    shape, scale and zero point) and classify into as many classes."""
    x = compiled.inputs[0] if len(compiled.inputs) == 1 else None
    same_input = x is not None and (x.dtype, tuple(x.shape), x.scale, x.zero_point) == (
        production_in.dtype, tuple(production_in.shape), production_in.scale, production_in.zero_point)
    if not same_input:
        raise TinymlError(f"shadow model {path}: it must take the same int8 input (shape, scale, zero "
                          f"point) as the production model, {tuple(production_in.shape)} at "
                          f"{production_in.scale:g}/{production_in.zero_point}; it takes "
                          f"{[(tuple(i.shape), i.dtype, i.scale, i.zero_point) for i in compiled.inputs]}", BAD_INPUT)
    classes = math.prod(production_out.shape[1:]) or 1
    y = compiled.outputs[0]
    if y.dtype != "int8" or (math.prod(y.shape[1:]) or 1) != classes:
        raise TinymlError(f"shadow model {path}: its output 0 must be int8 with the production "
                          f"model's {classes} classes; it is {y.dtype} {tuple(y.shape)}", BAD_INPUT)
    return ShadowModel(path, compiled.model_hash, classes, compiled.arena_bytes, tuple(compiled.sources),
                       tuple(compiled.include_dirs))


def _layout(model_path: Path, features: int, outputs: Sequence[TensorInfo], options: FieldOptions) -> StatsLayout:
    """layout_for the model, or the reference statistics' layout when `<model>.stats.json` exists."""
    computed = layout_for(features, [math.prod(o.shape[1:]) or 1 for o in outputs], bins=options.bins or 16,
                          group=options.group, confidence_bins=options.confidence_bins,
                          low_confidence=options.low_confidence,
                          output_quant=[(o.scale or 1 / 256, o.zero_point) for o in outputs])
    reference_file = stats_path(model_path)
    if not reference_file.is_file():
        return computed
    reference = load_statistics(reference_file).layout
    if options.bins is not None and options.bins != reference.bins:
        raise TinymlError(f"{model_path}: --stats-bins {options.bins}, but its reference statistics "
                          f"({reference_file.name}) have {reference.bins} bins; drift scores compare the two, so "
                          "build with the reference's bins or recompute the reference", BAD_INPUT)
    if (reference.channels, len(reference.outputs)) != (computed.channels, len(computed.outputs)) or any(
            r.classes != c.classes for r, c in zip(reference.outputs, computed.outputs, strict=True)):
        raise TinymlError(f"{model_path}: its reference statistics ({reference_file.name}) describe another model "
                          f"({reference.channels} channels, {[o.classes for o in reference.outputs]} classes); "
                          "recompute them with tinyml quantize", BAD_INPUT)
    return reference


def _feature_sources(model_path: Path, inputs: Sequence[TensorInfo],
                     out_dir: Path) -> tuple[list[Path], list[Path]] | None:
    """The on-chip feature extractor's sources and include dirs, or None for a model without features.json."""
    has_features = (model_path.parent / "features.json").is_file() or model_path.with_suffix(
        ".features.json").is_file()
    try:
        module = importlib.import_module("tinyml.device.features_sources")
    except ModuleNotFoundError:
        if has_features:
            raise TinymlError(f"{model_path} has features.json, but this tinyml has no on-chip feature extractor "
                              "(tinyml.device.features_sources); stream its input tensors with a copy of the "
                              "model without features.json", BAD_INPUT) from None
        return None
    found = module.feature_sources(model_path, inputs, out_dir)
    return None if found is None else (list(found[0]), list(found[1]))


def render_field_config(app: FieldApp, *, model_hash: str, firmware_version: str, board_name: str | None = None,
                        mcu: str = "", template_dir: Path | None = None) -> str:
    """field_config.h for `app` (also used by the tests' host build of the statistics); `mcu`: the board's, for
    the location of its unique id."""
    import jinja2

    from tinyml.paths import TEMPLATES_DIR

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template_dir or TEMPLATES_DIR),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    board = {"name": board_name} if board_name else None
    return env.get_template("field_config.h.j2").render(
        board=board, layout=app.layout, features=app.features, rows=app.rows, report_every=app.report_every,
        infer_every=app.infer_every, features_on_chip=app.features_on_chip, shadow_every=app.shadow_every,
        shadow_classes=app.shadow.classes if app.shadow else 0, shared_arena=app.shared_arena,
        firmware_version=firmware_version,
        model_hash=model_hash, unique_id=unique_id_location(mcu))


NM = "arm-none-eabi-nm"
STATS_SYMBOL = "tm_field_stats"          # the statistics block (firmware/field/tm_field.c)
ARENA_SYMBOL = "arena"                   # each generated model.c's static arena (without an arena symbol)
CONFUSION_SYMBOL = "tm_field_confusion"  # the shadow model's confusion matrix (firmware/field/tm_field_shadow.c)
IDENTITY_SYMBOL = "tm_field_identity"    # the device identity block (firmware/field/tm_field_device.c)
_RAM_TYPES = frozenset("bBdD")


def elf_ram_symbols(elf: Path) -> list[tuple[str, int, str]]:
    """(name, bytes, source file) of every data/bss symbol in `elf`, from its symbol table and debug lines."""
    import subprocess

    out = subprocess.run([NM, "-S", "-l", str(elf)], capture_output=True, text=True, check=True).stdout
    symbols = []
    for line in out.splitlines():
        head, _, where = line.partition("\t")
        parts = head.split()
        if len(parts) == 4 and parts[2] in _RAM_TYPES:
            symbols.append((parts[3], int(parts[1], 16), where.rsplit(":", 1)[0]))
    return symbols


def field_costs(elf: Path, app: FieldApp) -> dict[str, int]:
    """The field app's RAM, read from the linked image: the statistics block, the identity block and everything
    the feature extractor's sources define (0 without one). Empty when the image was not written."""
    if not Path(elf).is_file():
        return {}
    symbols = elf_ram_symbols(elf)
    sizes = {name: size for name, size, _ in symbols}
    if STATS_SYMBOL not in sizes:
        raise TinymlError(f"{elf}: no {STATS_SYMBOL} symbol; is it a field app image?", BAD_INPUT)
    extractor_dirs = {str(d.resolve()) for d in app.include_dirs} | {str(s.resolve().parent) for s in app.sources}
    features = sum(size for _, size, source in symbols
                   if source and any(source.startswith(d + "/") for d in extractor_dirs))
    costs = {"stats_bytes": sizes[STATS_SYMBOL], "identity_bytes": sizes.get(IDENTITY_SYMBOL, 0),
             "features_bytes": features}
    if app.shadow is not None:
        # The arenas as linked: each model's static `arena`, or the one block both share (SharedArena, with the
        # input kept for the challenger); the saving is against two static arenas of the plans' sizes (a static
        # arena has at least one byte, emit.model_c).
        shared = sizes.get(SHARED_ARENA_SYMBOL, 0)
        linked = sum(size for name, size, _ in symbols if name == ARENA_SYMBOL) + shared
        separate = max(app.model_arena_bytes, 1) + max(app.shadow.arena_bytes, 1)
        costs |= {"confusion_bytes": sizes.get(CONFUSION_SYMBOL, 0),
                  "production_arena_bytes": app.model_arena_bytes, "shadow_arena_bytes": app.shadow.arena_bytes,
                  "shared_arena_bytes": shared, "arenas_bytes": linked, "arena_saving_bytes": separate - linked}
    return costs
