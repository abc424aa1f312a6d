"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR: the source rows of every output row and the source columns of every
output column are computed here, as TFLite computes them; the kernels (`tm_resize_nearest_s8`,
`tm_resize_bilinear_s8`) copy or blend pixels.

TFLite's reference GetNearestNeighbor works in float32: scale = (in - 1) / (out - 1) with align_corners (and more
than one output), in / out otherwise; offset 0.5 with half_pixel_centers; index = round((i + offset) * scale) with
align_corners, floor otherwise; at most in - 1, at least 0 with half pixel centers. Without either flag the
interpreter takes its optimized kernel, in 16.16 fixed point: scale = (in << 16) / out + 1, index =
min((i * scale) >> 16, in - 1).

TFLite's int8 RESIZE_BILINEAR (ResizeBilinearInteger) works in 1/1024 steps: scale = (1024 * in + out / 2) / out
(with align_corners: (1024 * (in - 1) + (out - 1) / 2) / (out - 1)); position = i * scale (with half-pixel
centers + scale / 2 - 512); the lower source index position / 1024 (C division) at least 0, the upper
(position + 1023) / 1024 at most in - 1, the upper's weight position - 1024 * lower. Checked against the
interpreter, whose x86 build rounds the 2^20-scaled blend half away from zero (not TFLITE_SINGLE_ROUNDING).
"""
from __future__ import annotations

import math

import numpy as np

from tinyml.compiler.codegen.context import LoweringContext, dims4
from tinyml.compiler.codegen.lowered import Call, Decl, Lowered, Ref
from tinyml.compiler.codegen.ops.common import require_const, require_int8, require_version
from tinyml.compiler.codegen.quant import round_half_away
from tinyml.compiler.ir.graph import Operator, Tensor

F32 = np.float32


def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    if not align_corners and not half_pixel_centers:
        scale = (in_size << 16) // out_size + 1
        return [min((i * scale) >> 16, in_size - 1) for i in range(out_size)]
    if align_corners and out_size > 1:
        scale = F32(F32(in_size - 1) / F32(out_size - 1))
    else:
        scale = F32(F32(in_size) / F32(out_size))
    offset = F32(0.5) if half_pixel_centers else F32(0.0)
    result = []
    for i in range(out_size):
        position = float(F32(F32(F32(i) + offset) * scale))
        index = min(round_half_away(position) if align_corners else math.floor(position), in_size - 1)
        result.append(max(index, 0) if half_pixel_centers else index)
    return result


def lower_resize_nearest_neighbor(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y, out_h, out_w, align, half = _resize_operands(op, ctx)
    return _resize(op, ctx, x, y, "nearest", nearest_indices(x.shape[1], out_h, align, half),
                   nearest_indices(x.shape[2], out_w, align, half))

def _c_div(a: int, b: int) -> int:
    """C's integer division, truncating toward zero."""
    return abs(a) // b * (1 if a >= 0 else -1)


def bilinear_taps(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """Per output index: lower source index, upper source index, the upper's weight in 1/1024."""
    if align_corners and out_size > 1:
        scale = _c_div(1024 * (in_size - 1) + (out_size - 1) // 2, out_size - 1)
    else:
        scale = _c_div(1024 * in_size + out_size // 2, out_size)
    taps = []
    for i in range(out_size):
        position = i * scale + scale // 2 - 512 if half_pixel_centers else i * scale
        lower = max(_c_div(position, 1024), 0)
        upper = min(_c_div(position + 1023, 1024), in_size - 1)
        taps += [lower, upper, position - 1024 * lower]
    return taps


def _resize_operands(op: Operator, ctx: LoweringContext) -> tuple[Tensor, Tensor, int, int, bool, bool]:
    x, size, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 0, outputs=True)
    require_version(ctx, op, (2, 3), y)
    require_int8(ctx, op, x, y)
    require_const(ctx, op, size, "size")
    if len(x.shape) != 4 or size.size != 2:
        raise ctx.fail(op, f"input {list(x.shape)} must be 4-D (NHWC) and size two values")
    out_h, out_w = (int(v) for v in size.data.reshape(-1))
    if tuple(y.shape) != (x.shape[0], out_h, out_w, x.shape[3]) or min(out_h, out_w, x.size) < 1:
        raise ctx.fail(op, f"output {list(y.shape)} does not follow from input {list(x.shape)} and size "
                           f"{[out_h, out_w]}")
    align, half = bool(ctx.option(op, "alignCorners", False)), bool(ctx.option(op, "halfPixelCenters", False))
    return x, y, out_h, out_w, align, half


def _resize(op: Operator, ctx: LoweringContext, x: Tensor, y: Tensor, kind: str, rows: list[int],
            cols: list[int]) -> Lowered:
    p = f"op{op.index}"
    decls = (Decl("int32_t", f"{p}_rows", tuple(rows), len(rows)), Decl("int32_t", f"{p}_cols", tuple(cols), len(cols)),
             Decl(f"tm_resize_{kind}_params", f"{p}_params", (dims4(x.shape), y.shape[1], y.shape[2], f"{p}_rows",
                                                              f"{p}_cols")))
    call = Call(f"tm_resize_{kind}_s8", (Ref(f"{p}_params"), ctx.data(x), ctx.activation(y)))
    return Lowered(kernels=(f"reshape/resize_{kind}_s8.c",), decls=decls, calls=(call,))


def lower_resize_bilinear(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y, out_h, out_w, align, half = _resize_operands(op, ctx)
    if align and half:
        raise ctx.fail(op, "align_corners and half_pixel_centers together (TFLite refuses it too)")
    return _resize(op, ctx, x, y, "bilinear", bilinear_taps(x.shape[1], out_h, align, half),
                   bilinear_taps(x.shape[2], out_w, align, half))
