"""MEAN, as TFLite's builtin int8 kernels compute it (ai-edge-litert 2.3.0, x86, one thread).

TFLite picks one of two integer algorithms (checked byte for byte against the interpreter):

- keep_dims, 4-D input, axes resolving to exactly {1, 2} (spatial mean, NHWC): optimized_integer_ops::Mean.
  At prepare time, in float32:  bias = out_zp - (int)(in_zp * in_scale / out_scale +- 0.5f)  and
  real = in_scale / ((float)(H * W) * out_scale), quantized by QuantizeMultiplier. Per output:
  clamp(MultiplyByQuantizedMultiplier(raw_sum, real) + bias); the raw sum does not subtract the zero point.
  The channels handled by its 16-wide SIMD loop (the first 16 * floor(C / 16)) round the final right shift half
  toward +infinity (vrshlq); the remaining channels take the scalar path, which rounds half away from zero.
- everything else (keep_dims false, other axes, other ranks, equal or different quantization, even no axes):
  reference_ops::QuantizedMeanOrSum. multiplier/shift = QuantizeMultiplier(in_scale / out_scale) in double; the
  1/count factor is folded into it: s = min(floor(log2(count)), 32, 31 + shift), multiplier = (multiplier << s) /
  count, shift -= s. Per output: clamp(MultiplyByQuantizedMultiplier(sum - in_zp * count) + out_zp), half away.
"""
from __future__ import annotations

import numpy as np

from tinyml.compiler.codegen.context import LoweringContext, dims4
from tinyml.compiler.codegen.lowered import Call, Decl, Lowered, Ref
from tinyml.compiler.codegen.ops.common import require_const, require_int8
from tinyml.compiler.codegen.quant import quantize_multiplier
from tinyml.compiler.ir.graph import Operator

F32 = np.float32
SIMD_CHANNELS = 16  # channels per iteration of TFLite's vectorized H,W mean


def lower_mean(op: Operator, ctx: LoweringContext) -> Lowered:
    x, axis_t, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 0, outputs=True)
    require_int8(ctx, op, x, y)
    if x.quant.per_channel or y.quant.per_channel:
        raise ctx.fail(op, "per-channel quantized activations are not supported")
    rank = len(x.shape)
    if rank > 4:
        raise ctx.fail(op, f"input rank {rank} is not supported (at most 4)")
    if x.size == 0:
        raise ctx.fail(op, "empty input tensors are not supported")
    if axis_t.size == 0:
        raw_axes: list[int] = []  # an empty constant has no buffer data
    else:
        require_const(ctx, op, axis_t, "axes")
        raw_axes = [int(a) for a in axis_t.data.reshape(-1)]
    axes: list[int] = []
    for a in raw_axes:
        if not -rank <= a < rank:
            raise ctx.fail(op, f"axis {a} is out of range for a rank-{rank} input")
        a %= rank
        if a not in axes:
            axes.append(a)
    keep_dims = bool(op.options.get("keepDims", False))

    pad = 4 - rank
    dims = dims4(x.shape)
    reduce = [0, 0, 0, 0]
    for a in axes:
        reduce[a + pad] = 1
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64)) if axes else 1
    if count >= 1 << 24:
        raise ctx.fail(op, f"averaging {count} elements may overflow the int32 sum")
    in_scale, out_scale = F32(x.scale), F32(y.scale)

    if keep_dims and rank == 4 and sorted(axes) == [1, 2]:
        # optimized_integer_ops::Mean: float32 bias and multiplier, raw sums.
        temp = F32(F32(x.zero_point) * in_scale) / out_scale
        temp = F32(temp + F32(0.5)) if temp > 0 else F32(temp - F32(0.5))
        output_offset = y.zero_point - int(temp)  # C's float -> int32 conversion truncates
        real = F32(in_scale / F32(F32(count) * out_scale))
        multiplier, shift = quantize_multiplier(float(real))
        input_sum_offset = 0
        round_up_channels = x.shape[3] // SIMD_CHANNELS * SIMD_CHANNELS
    else:
        # reference_ops::QuantizedMeanOrSum: double multiplier with 1/count folded in.
        multiplier, shift = quantize_multiplier(float(in_scale) / float(out_scale))
        fold = min(count.bit_length() - 1, 32, 31 + shift)
        multiplier = (multiplier << fold) // count
        shift -= fold
        input_sum_offset = x.zero_point * count
        output_offset = y.zero_point
        round_up_channels = 0

    p = f"op{op.index}"
    decls = (Decl("tm_mean_params", f"{p}_params", (tuple(dims), tuple(reduce), input_sum_offset, multiplier, shift,
                                                    output_offset, round_up_channels)),)
    call = Call("tm_mean_s8", (Ref(f"{p}_params"), ctx.data(x), ctx.activation(y)))
    return Lowered(kernels=("reduce/mean_s8.c",), decls=decls, calls=(call,))
