"""FULLY_CONNECTED: int8 (portable and DSP variants) and 16x8."""
from __future__ import annotations

import numpy as np

from tinyml.compiler.codegen import variants
from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import NULL, Call, Decl, Lowered, Ref, Sym
from tinyml.compiler.codegen.ops import dsp
from tinyml.compiler.codegen.ops.common import weighted_operands
from tinyml.compiler.codegen.ops.conv16 import require_s64_shifts
from tinyml.compiler.codegen.quant import INT16_MAX, INT16_MIN, activation_range, quantize_multiplier
from tinyml.compiler.ir.graph import Operator, Tensor

F32 = np.float32


def lower_fully_connected(op: Operator, ctx: LoweringContext) -> Lowered:
    x, w, bias, y = weighted_operands(ctx, op, "weights", 0)
    _check_shapes(op, ctx, x, w, y)
    if w.quant.per_channel:
        multipliers = [quantize_multiplier(x.scale * s / y.scale) for s in w.quant.scale]
    else:
        product = F32(x.scale) * F32(w.quant.scale[0])  # TFLite multiplies the two float scales in float
        multipliers = [quantize_multiplier(float(product) / y.scale)]
    per_channel, in_features, out_features = w.quant.per_channel, w.shape[1], w.shape[0]
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, y.zero_point)
    variant = variants.fully_connected(op, ctx)
    if variant.kernel == "tm_fully_connected_s8_dsp":  # SIMD variant (tinyml.compiler.codegen.ops.dsp), same bytes
        return dsp.lower_fully_connected(op, ctx, variant, x, w, bias, y, multipliers, act_min, act_max)
    p = f"op{op.index}"
    decls = _decls(p, multipliers, (x.size // in_features, in_features, out_features, -x.zero_point, y.zero_point,
                                    act_min, act_max, int(per_channel)))
    if variant.kernel == "tm_fully_connected_s8_mve":  # Helium: the input offset folded into the bias
        folded = ctx.derived_const(f"{p}_bias", "int32_t", dsp.folded_bias(w.data.reshape(out_features, in_features),
                                                                          bias, x.zero_point))
        call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_q"), ctx.data(x), ctx.const(w), Sym(folded.name),
                                     ctx.activation(y)))
        return Lowered(kernels=(variant.source,), decls=decls, calls=(call,), variant=variant, derived=(folded,))
    call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_q"), ctx.data(x), ctx.const(w),
                                 ctx.const(bias) if bias is not None else NULL, ctx.activation(y)))
    return Lowered(kernels=(variant.source,), decls=decls, calls=(call,), variant=variant)


def lower_fully_connected_s16(op: Operator, ctx: LoweringContext) -> Lowered:
    """16x8 (int16 activations, int8 weights, int64 bias): the portable `tm_fully_connected_s16` (which rounds as
    the interpreter does on its two paths, with and without bias). The interpreter's 16x8 multipliers come from the
    scales in double, per-tensor ones too (not from their float product, as int8's)."""
    x, w, bias, y = weighted_operands(ctx, op, "weights", 0, activations="int16")
    _check_shapes(op, ctx, x, w, y)
    multipliers = [quantize_multiplier(x.scale * s / y.scale) for s in w.quant.scale]
    require_s64_shifts(ctx, op, [s for _, s in multipliers])
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, y.zero_point, INT16_MIN, INT16_MAX)
    p = f"op{op.index}"
    out_features, in_features = w.shape
    decls = _decls(p, multipliers, (x.size // in_features, in_features, out_features, 0, 0, act_min, act_max,
                                    int(w.quant.per_channel)))
    call = Call("tm_fully_connected_s16", (Ref(f"{p}_params"), Ref(f"{p}_q"), ctx.data(x), ctx.const(w),
                                           ctx.const(bias) if bias is not None else NULL, ctx.activation(y)))
    return Lowered(kernels=("fully_connected/fully_connected_s16.c",), decls=decls, calls=(call,))


def _check_shapes(op: Operator, ctx: LoweringContext, x: Tensor, w: Tensor, y: Tensor) -> None:
    """Dense 2-D weights that fit the input and the output."""
    if op.options.get("weightsFormat", 0) != 0:
        raise ctx.fail(op, "shuffled weights format is not supported")
    if len(w.shape) != 2 or min(w.shape) < 1:
        raise ctx.fail(op, f"weights '{w.name}' must be 2-D, not {list(w.shape)}")
    out_features, in_features = w.shape
    if x.size % in_features or y.size != x.size // in_features * out_features:
        raise ctx.fail(op, f"input {list(x.shape)} does not fit weights {list(w.shape)}")


def _decls(p: str, multipliers: list[tuple[int, int]], params: tuple[int, ...]) -> tuple[Decl, ...]:
    """The requantization (tm_channel_quant) and the tm_fc_params of operator prefix `p`."""
    n = len(multipliers)
    return (
        Decl("int32_t", f"{p}_mult", tuple(m for m, _ in multipliers), n),
        Decl("int32_t", f"{p}_shift", tuple(s for _, s in multipliers), n),
        Decl("tm_channel_quant", f"{p}_q", (f"{p}_mult", f"{p}_shift")),
        Decl("tm_fc_params", f"{p}_params", params),
    )
