"""Compile a .tflite model into C: model.h, model.c (one kernel call per operator) and model_weights.c."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tinyml.compiler.codegen import emit
from tinyml.compiler.codegen.buffers import buffer_requests
from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.fuse import fuse_conv_add
from tinyml.compiler.codegen.inplace import make_inplace
from tinyml.compiler.codegen.layers import Layer, describe_layers
from tinyml.compiler.codegen.lowered import Lowered
from tinyml.compiler.codegen.ops import lower
from tinyml.compiler.codegen.target import Target
from tinyml.compiler.ir.graph import Graph, Tensor
from tinyml.compiler.ir.reader import read_tflite
from tinyml.compiler.plan import MemoryPlan, live_bytes, plan_memory
from tinyml.errors import TinymlBug, TinymlError
from tinyml.paths import RUNTIME_DIR, RUNTIME_INCLUDE_DIR

DEFAULT_PREFIX = "tm_model"
VARIANTS_H = "tinyml_variants.h"  # the DSP kernel variants the model needs; the kernels include it


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int


@dataclass(frozen=True)
class CompileResult:
    out_dir: Path
    sources: tuple[Path, ...]        # generated sources + the runtime kernels the model uses
    include_dirs: tuple[Path, ...]
    arena_bytes: int
    weights_bytes: int
    model_hash: str                  # first 16 hex digits of the file's SHA-256
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    ops: tuple[str, ...]
    layers: tuple[Layer, ...] = ()   # per operator emitted: kernel, variant, MACs, its lines in model.c (profiles)

    def summary(self) -> dict:
        return {"model_hash": self.model_hash, "arena_bytes": self.arena_bytes, "weights_bytes": self.weights_bytes,
                "ops": list(self.ops),
                "inputs": [_info_json(t) for t in self.inputs], "outputs": [_info_json(t) for t in self.outputs]}


def _info_json(t: TensorInfo) -> dict:
    return {"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "scale": t.scale, "zero_point": t.zero_point}


def compile_model(tflite_path: str | Path, out_dir: str | Path, prefix: str = DEFAULT_PREFIX,
                  target: Target | str | None = None, arena_symbol: str | None = None) -> CompileResult:
    graph = read_tflite(tflite_path)
    return compile_graph(graph, Path(out_dir), prefix, target, arena_symbol)


def compile_graph(graph: Graph, out_dir: Path, prefix: str = DEFAULT_PREFIX,
                  target: Target | str | None = None, arena_symbol: str | None = None) -> CompileResult:
    """Lower, plan and emit `graph`. Every external symbol starts with `prefix` (macros with its upper case), so
    several models can be linked into one program. `target` (None: host, portable kernels; a core name such as
    "cortex-m4"; or a `Target`) selects each layer's kernel variant (see `tinyml.compiler.codegen.target`).
    `arena_symbol` (None: the model owns a static arena): the name of an arena the application defines instead
    (`uint8_t NAME[]`, at least `arena_bytes`, aligned to 16; model.h declares it), so that models invoked one
    after the other can share one block (the field app's shadow model)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", prefix):
        raise TinymlError(f"symbol prefix '{prefix}' must be a lower-case C identifier")
    if arena_symbol is not None and not re.fullmatch(r"[a-z][a-z0-9_]*", arena_symbol):
        raise TinymlError(f"arena symbol '{arena_symbol}' must be a lower-case C identifier")
    source_ops = tuple(op.opcode for op in graph.operators)
    graph = fuse_conv_add(graph)  # memory: residual CONV_2D + ADD as one operator, same bytes out
    ctx = LoweringContext(graph, prefix, target=Target.of(target))
    lowered = [make_inplace(op, ctx, lower(op, ctx)) for op in graph.operators]
    lowered = _shrink_peak_scratch(graph, ctx, lowered)
    lowered = _inplace_only_where_it_pays(graph, lowered)
    for t in graph.outputs:
        if graph.tensors[t].is_constant:
            raise TinymlError(f"{graph.name}: output tensor {t} '{graph.tensors[t].name}' is a constant; nothing to "
                              "compute")
    plan = _plan(graph, lowered)
    files = {
        "model.h": emit.model_h(graph, plan, prefix, arena_symbol),
        "model.c": emit.model_c(graph, lowered, plan, prefix, arena_symbol),
    }
    files["model_weights.c"], files["model_weights.h"] = emit.weights_c(graph, lowered, prefix, ctx.target.describe())
    variants = sorted(set().union(*(low.variant_bits for low in lowered)))
    if variants:
        files[VARIANTS_H] = emit.variants_h(graph, variants)
    else:  # no DSP kernel: a header left by an earlier build of another model must not narrow anything
        (out_dir / VARIANTS_H).unlink(missing_ok=True)
    _write_atomically(out_dir, files)
    kernels = sorted({k for low in lowered for k in low.kernels})
    return CompileResult(
        out_dir=out_dir.resolve(),
        sources=tuple(out_dir.resolve() / f for f in ("model.c", "model_weights.c"))
        + tuple(RUNTIME_DIR / "src" / k for k in kernels),
        include_dirs=(out_dir.resolve(), RUNTIME_INCLUDE_DIR),
        arena_bytes=plan.arena_bytes,
        weights_bytes=emit.weights_bytes(graph, lowered),
        model_hash=graph.sha256[:16],
        inputs=tuple(_info(graph.tensors[t]) for t in graph.inputs),
        outputs=tuple(_info(graph.tensors[t]) for t in graph.outputs),
        ops=source_ops,
        layers=describe_layers(graph, lowered, prefix),
    )


def _info(t: Tensor) -> TensorInfo:
    return TensorInfo(t.name, t.dtype, t.shape, t.scale, t.zero_point)


def _write_atomically(out_dir: Path, files: dict[str, str]) -> None:
    """Write into a temporary sibling directory, then move the files in: never a half-written output."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tinyml-", dir=out_dir))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text)
        for name in files:
            os.replace(tmp / name, out_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _plan(graph: Graph, lowered: list[Lowered]) -> MemoryPlan:
    """The memory plan; a plan that fails its own check is a bug in tinyml, reported with the model's hash."""
    try:
        return plan_memory(buffer_requests(graph, lowered))
    except TinymlBug as bug:
        raise TinymlBug(bug.message, graph.sha256[:16]) from bug


def _shrink_peak_scratch(graph: Graph, ctx: LoweringContext, lowered: list[Lowered]) -> list[Lowered]:
    """While the operator where the live bytes (tensors + scratch) peak has a variant with less scratch
    (`Variant.smaller_scratch`), use it: a layer's scratch is only worth its speed where it does not raise the
    arena. Same bytes out either way."""
    lowered = list(lowered)
    while True:
        live = live_bytes(buffer_requests(graph, lowered))
        if not live:
            return lowered
        pos = max(range(len(live)), key=live.__getitem__)
        op, low = graph.operators[pos], lowered[pos]
        if low.variant is None or not low.variant.smaller_scratch or not low.scratch_bytes:
            return lowered
        ctx.low_scratch.add(op.index)
        new = make_inplace(op, ctx, lower(op, ctx))
        if new.scratch_bytes >= low.scratch_bytes:
            ctx.low_scratch.discard(op.index)
            return lowered
        lowered[pos] = new


def _inplace_only_where_it_pays(graph: Graph, lowered: list[Lowered]) -> list[Lowered]:
    """An in-place convolution costs time (a kernel call per output row, the ring copies, no pixel pairs across
    rows): keep it only where running the layer out of place (`Lowered.out_of_place`) would raise the arena. Same
    bytes out either way."""
    lowered = list(lowered)
    arena = _plan(graph, lowered).arena_bytes
    for pos, low in enumerate(lowered):
        if low.out_of_place is None:
            continue
        trial = lowered[:pos] + [low.out_of_place] + lowered[pos + 1:]
        if _plan(graph, trial).arena_bytes <= arena:
            lowered = trial
    return lowered
