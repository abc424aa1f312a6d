"""Compile a .tflite model into C: model.h, model.c (one kernel call per operator) and model_weights.c."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml.codegen.context import C_TYPES, Lowered, LoweringContext
from tinyml.codegen.fuse import fuse_conv_add
from tinyml.codegen.inplace import make_inplace
from tinyml.codegen.ops import lower
from tinyml.codegen.target import Target
from tinyml.errors import TinymlError
from tinyml.ir.graph import DTYPE_CODES, Graph, Tensor
from tinyml.ir.reader import read_tflite
from tinyml.paths import RUNTIME_DIR, RUNTIME_INCLUDE_DIR
from tinyml.plan import MemoryPlan, live_bytes, plan_memory



DEFAULT_PREFIX = "tm_model"


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

    def summary(self) -> dict:
        return {"model_hash": self.model_hash, "arena_bytes": self.arena_bytes, "weights_bytes": self.weights_bytes,
                "ops": list(self.ops),
                "inputs": [_info_json(t) for t in self.inputs], "outputs": [_info_json(t) for t in self.outputs]}


def _info_json(t: TensorInfo) -> dict:
    return {"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "scale": t.scale, "zero_point": t.zero_point}


def compile_model(tflite_path: str | Path, out_dir: str | Path, prefix: str = DEFAULT_PREFIX,
                  target: Target | str | None = None) -> CompileResult:
    graph = read_tflite(tflite_path)
    return compile_graph(graph, Path(out_dir), prefix, target)


def compile_graph(graph: Graph, out_dir: Path, prefix: str = DEFAULT_PREFIX,
                  target: Target | str | None = None) -> CompileResult:
    """Lower, plan and emit `graph`. Every external symbol starts with `prefix` (macros with its upper case), so
    several models can be linked into one program. `target` (None: host, portable kernels; a core name such as
    "cortex-m4"; or a `Target`) selects each layer's kernel variant (see `tinyml.codegen.target`)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", prefix):
        raise TinymlError(f"symbol prefix '{prefix}' must be a lower-case C identifier")
    source_ops = tuple(op.opcode for op in graph.operators)
    graph = fuse_conv_add(graph)  # memory: residual CONV_2D + ADD as one operator, same bytes out
    ctx = LoweringContext(graph, prefix, target=Target.of(target))
    lowered = [make_inplace(op, ctx, lower(op, ctx)) for op in graph.operators]
    lowered = _shrink_peak_scratch(graph, ctx, lowered)
    for t in graph.outputs:
        if graph.tensors[t].is_constant:
            raise TinymlError(f"{graph.name}: output tensor {t} '{graph.tensors[t].name}' is a constant; nothing to compute")
    plan = plan_memory(graph, lowered)
    files = {
        "model.h": _model_h(graph, plan, prefix),
        "model.c": _model_c(graph, lowered, plan, prefix),
    }
    files["model_weights.c"], files["model_weights.h"] = _weights_c(graph, ctx)
    _write_atomically(out_dir, files)
    kernels = sorted({k for low in lowered for k in low.kernels})
    weights_bytes = (sum(graph.tensors[t].nbytes for t in ctx.constants)
                     + sum(values.size * _C_SIZES[ctype] for ctype, values in ctx.derived.values()))
    return CompileResult(
        out_dir=out_dir.resolve(),
        sources=tuple(out_dir.resolve() / f for f in ("model.c", "model_weights.c"))
        + tuple(RUNTIME_DIR / "src" / k for k in kernels),
        include_dirs=(out_dir.resolve(), RUNTIME_INCLUDE_DIR),
        arena_bytes=plan.arena_bytes,
        weights_bytes=weights_bytes,
        model_hash=graph.sha256[:16],
        inputs=tuple(_info(graph.tensors[t]) for t in graph.inputs),
        outputs=tuple(_info(graph.tensors[t]) for t in graph.outputs),
        ops=source_ops,
    )


_C_SIZES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4, "float": 4}


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


# Kernel variants with a smaller-scratch mode (ctx.low_scratch): the DSP convolution without im2col, the DSP fully
# connected without the widened input.
_SHRINKABLE = ("tm_conv2d_s8_dsp(", "tm_conv2d_add_s8_dsp(", "tm_fully_connected_s8_dsp(", "tm_conv_inplace_dsp_s8(tm_conv2d_s8_dsp_rows")


def _shrink_peak_scratch(graph: Graph, ctx: LoweringContext, lowered: list[Lowered]) -> list[Lowered]:
    """While the operator where the live bytes (tensors + scratch) peak has a variant with less scratch, use it: a
    layer's scratch is only worth its speed where it does not raise the arena. Same bytes out either way."""
    lowered = list(lowered)
    while True:
        live = live_bytes(graph, lowered)
        if not live:
            return lowered
        pos = max(range(len(live)), key=live.__getitem__)
        op, low = graph.operators[pos], lowered[pos]
        if op.index in ctx.low_scratch or not low.scratch_bytes or not low.call.lstrip().startswith(_SHRINKABLE):
            return lowered
        ctx.low_scratch.add(op.index)
        new = make_inplace(op, ctx, lower(op, ctx))
        if new.scratch_bytes >= low.scratch_bytes:
            ctx.low_scratch.discard(op.index)
            lower(op, ctx)  # restore the derived arrays of the variant kept
            return lowered
        lowered[pos] = new


def _model_h(graph: Graph, plan: MemoryPlan, prefix: str) -> str:
    up = prefix.upper()
    return f"""/* Generated by tinyml from {Path(graph.name).name}. Do not edit. */
#ifndef {up}_H
#define {up}_H
#include "tinyml/model_api.h"

#define {up}_HASH "{graph.sha256[:16]}"
#define {up}_ARENA_BYTES {plan.arena_bytes}u
#define {up}_NUM_INPUTS {len(graph.inputs)}u
#define {up}_NUM_OUTPUTS {len(graph.outputs)}u

void {prefix}_init(void);
void {prefix}_invoke(void);
const tm_io *{prefix}_input(uint32_t index);
const tm_io *{prefix}_output(uint32_t index);

#endif
"""


def _label(t: Tensor, limit: int = 48) -> str:
    """A tensor's name for a C comment: shortened, and unable to close the comment."""
    name = t.name.replace("*/", "* /")
    return f"'{name if len(name) <= limit else name[:limit - 3] + '...'}'"


def _io_entry(t: Tensor) -> str:
    return (f"  {{arena + T{t.index}_OFFSET, {t.nbytes}u, {float(np.float32(t.scale)).hex()}f, {t.zero_point}, "
            f"{DTYPE_CODES[t.dtype]}u}},  /* {_label(t)} {list(t.shape)} {t.dtype} */")


def _model_c(graph: Graph, lowered: list[Lowered], plan: MemoryPlan, prefix: str) -> str:
    up = prefix.upper()
    offsets = "\n".join(f"#define T{t}_OFFSET {off}u  /* {_label(graph.tensors[t])} */"
                        for t, off in sorted(plan.tensor_offsets.items()))
    scratch = "\n".join(f"#define OP{i}_SCRATCH_OFFSET {off}u" for i, off in sorted(plan.scratch_offsets.items()))
    blocks, calls = [], []
    for op, low in zip(graph.operators, lowered):
        names = ", ".join(_label(graph.tensors[t]) for t in op.inputs if t >= 0 and not graph.tensors[t].is_constant)
        out = ", ".join(_label(graph.tensors[t]) for t in op.outputs)
        header = f"/* operator {op.index}: {op.opcode} v{op.version}  {names} -> {out} */"
        if low.decls:
            blocks.append(f"{header}\n{low.decls}")
        calls.append(f"  {header}\n  {low.call}")
    dsp_include = ("\n#include \"tinyml/kernels_dsp.h\""
                   if any(k.endswith("_dsp.c") for low in lowered for k in low.kernels) else "")
    inputs = "\n".join(_io_entry(graph.tensors[t]) for t in graph.inputs)
    outputs = "\n".join(_io_entry(graph.tensors[t]) for t in graph.outputs)
    return f"""/* Generated by tinyml from {Path(graph.name).name} (sha256 {graph.sha256[:16]}). Do not edit.
 * {len(graph.operators)} operators; activations live in one static arena of {plan.arena_bytes} bytes. */
#include <stddef.h>
#include <stdint.h>
#include "model.h"
#include "model_weights.h"
#include "tinyml/kernels.h"{dsp_include}

static uint8_t arena[{up}_ARENA_BYTES > 0 ? {up}_ARENA_BYTES : 1] __attribute__((aligned(16)));

{offsets}
{scratch}

{chr(10).join(blocks)}

static const tm_io inputs[] = {{
{inputs}
}};
static const tm_io outputs[] = {{
{outputs}
}};

void {prefix}_init(void) {{}}

const tm_io *{prefix}_input(uint32_t index) {{ return index < {up}_NUM_INPUTS ? &inputs[index] : NULL; }}
const tm_io *{prefix}_output(uint32_t index) {{ return index < {up}_NUM_OUTPUTS ? &outputs[index] : NULL; }}

void {prefix}_invoke(void) {{
{chr(10).join(calls)}
}}
"""


def _weights_c(graph: Graph, ctx: LoweringContext) -> tuple[str, str]:
    """The constant tensors as aligned const arrays, and the header that declares them."""
    decls, defs = [], []
    for t_index, sym in sorted(ctx.constants.items()):
        t = graph.tensors[t_index]
        ctype = C_TYPES[t.dtype]
        values = t.data.reshape(-1)
        decls.append(f"extern const {ctype} {sym}[{max(values.size, 1)}];")
        rows = [", ".join(str(int(v)) for v in values[i:i + 32]) for i in range(0, values.size, 32)]
        defs.append(f"/* tensor {t_index} {_label(t)} {list(t.shape)} {t.dtype} */\n"
                    f"const {ctype} {sym}[{max(values.size, 1)}] __attribute__((aligned(4))) = {{\n  "
                    + ",\n  ".join(rows) + "\n};")
    for sym, (ctype, values) in ctx.derived.items():
        decls.append(f"extern const {ctype} {sym}[{max(values.size, 1)}];")
        rows = [", ".join(str(int(v)) for v in values[i:i + 32]) for i in range(0, values.size, 32)]
        defs.append(f"/* derived for a kernel variant ({ctx.target.describe()}) */\n"
                    f"const {ctype} {sym}[{max(values.size, 1)}] __attribute__((aligned(4))) = {{\n  "
                    + ",\n  ".join(rows) + "\n};")
    guard = f"{ctx.prefix.upper()}_WEIGHTS_H"
    header = (f"/* Generated by tinyml: declarations of the constant tensors. */\n#ifndef {guard}\n"
              f"#define {guard}\n#include <stdint.h>\n" + "\n".join(decls) + "\n#endif\n")
    return f"""/* Generated by tinyml from {Path(graph.name).name}: constant tensors. Do not edit. */
#include <stdint.h>
#include "model_weights.h"

{chr(10).join(defs)}
""", header
