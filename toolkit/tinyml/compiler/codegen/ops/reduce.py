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

from tinyml.compiler.codegen.context import LoweringContext, c_float, dims4
from tinyml.compiler.codegen.lowered import Act, Call, Decl, Lit, Lowered, Ref
from tinyml.compiler.codegen.ops.common import require_const, require_int8, require_version
from tinyml.compiler.codegen.quant import quantize_multiplier
from tinyml.compiler.ir.graph import Operator, Tensor

F32 = np.float32
SIMD_CHANNELS = 16  # channels per iteration of TFLite's vectorized H,W mean
INDEX_WORDS = {"int32": 1, "int64": 2}  # ARG_MAX's output types, in 32-bit words per index


def reduce_operands(op: Operator, ctx: LoweringContext) -> tuple[Tensor, Tensor, list[int], list[int], int]:
    """The input, output, NHWC-padded input shape, reduced-dimension flags and element count per output of a
    MEAN, SUM or REDUCE_MAX (its axes a constant tensor: negative, repeated or none)."""
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
    pad = 4 - rank
    reduce = [0, 0, 0, 0]
    for a in axes:
        reduce[a + pad] = 1
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64)) if axes else 1
    if count >= 1 << 24:
        raise ctx.fail(op, f"reducing {count} elements may overflow the int32 sum")
    return x, y, list(dims4(x.shape)), reduce, count


def lower_mean(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y, dims, reduce, count = reduce_operands(op, ctx)
    axes = [d - (4 - len(x.shape)) for d in range(4) if reduce[d]]
    keep_dims = bool(op.options.get("keepDims", False))
    rank = len(x.shape)

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


def _require_output_shape(op: Operator, ctx: LoweringContext, x: Tensor, y: Tensor, reduce: list[int]) -> None:
    pad = 4 - len(x.shape)
    kept = [d for k, d in enumerate(x.shape) if not reduce[k + pad]]
    if int(np.prod(kept, dtype=np.int64)) != y.size:
        raise ctx.fail(op, f"output {list(y.shape)} does not follow from reducing input {list(x.shape)}")


def lower_sum(op: Operator, ctx: LoweringContext) -> Lowered:
    """SUM: TFLite's QuantizedMeanOrSum with compute_sum finishes the int32 sums in float32 (checked against the
    interpreter; its integer multiplier path differs by one in about a tenth of the outputs):
    clamp(round(sum * scale + bias) + out_zp), scale = in_scale / out_scale, bias = -in_zp * scale * count. With
    equal quantization the interpreter takes its generic path, whose bytes are the same."""
    x, y, dims, reduce, count = reduce_operands(op, ctx)
    require_version(ctx, op, (2,), y)
    _require_output_shape(op, ctx, x, y, reduce)
    scale = F32(F32(x.scale) / F32(y.scale))
    bias = F32(F32(F32(-x.zero_point) * scale) * F32(count))
    p = f"op{op.index}"
    decls = (Decl("tm_sum_params", f"{p}_params", (tuple(dims), tuple(reduce), c_float(scale), c_float(bias),
                                                   y.zero_point)),)
    call = Call("tm_sum_s8", (Ref(f"{p}_params"), ctx.data(x), ctx.activation(y)))
    return Lowered(kernels=("reduce/sum_s8.c",), decls=decls, calls=(call,))


def lower_reduce_max(op: Operator, ctx: LoweringContext) -> Lowered:
    """REDUCE_MAX: the largest stored value (the interpreter compares int8 values; output and input share one
    quantization)."""
    x, y, dims, reduce, _ = reduce_operands(op, ctx)
    require_version(ctx, op, (2,), y)
    _require_output_shape(op, ctx, x, y, reduce)
    p = f"op{op.index}"
    decls = (Decl("tm_reduce_params", f"{p}_params", (tuple(dims), tuple(reduce))),)
    call = Call("tm_reduce_max_s8", (Ref(f"{p}_params"), ctx.data(x), ctx.activation(y)))
    return Lowered(kernels=("reduce/reduce_max_s8.c",), decls=decls, calls=(call,))


def lower_arg_max(op: Operator, ctx: LoweringContext) -> Lowered:
    """ARG_MAX over one constant axis: the index of the first largest int8 value, as int32 or int64 (the TFLite
    converter's default output_type; the kernel writes its low and high 32-bit words)."""
    x, axis_t, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 0, outputs=True)
    require_version(ctx, op, (2,), y)
    require_int8(ctx, op, x)
    require_const(ctx, op, axis_t, "axis")
    if y.dtype not in INDEX_WORDS:
        raise ctx.fail(op, f"output '{y.name}' is {y.dtype}; int32 or int64 indices are supported")
    if axis_t.size != 1 or not -len(x.shape) <= int(axis_t.data.reshape(-1)[0]) < len(x.shape):
        raise ctx.fail(op, f"axis {axis_t.data.reshape(-1).tolist()} does not fit input {list(x.shape)}")
    axis = int(axis_t.data.reshape(-1)[0]) % len(x.shape)
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    if y.size != outer * inner or x.size == 0:
        raise ctx.fail(op, f"output {list(y.shape)} does not follow from input {list(x.shape)} on axis {axis}")
    call = Call("tm_arg_max_s8", (Lit(outer), Lit(x.shape[axis]), Lit(inner), Lit(INDEX_WORDS[y.dtype]), ctx.data(x),
                                  Act(y.index, "int32_t")))
    return Lowered(kernels=("reduce/arg_max_s8.c",), calls=(call,))
