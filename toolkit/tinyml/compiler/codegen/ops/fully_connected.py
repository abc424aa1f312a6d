"""FULLY_CONNECTED."""
from __future__ import annotations

import numpy as np

from tinyml.compiler.codegen import variants
from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import NULL, Call, Decl, Lowered, Ref
from tinyml.compiler.codegen.ops import dsp
from tinyml.compiler.codegen.ops.common import weighted_operands
from tinyml.compiler.codegen.quant import activation_range, quantize_multiplier
from tinyml.compiler.ir.graph import Operator

F32 = np.float32


def lower_fully_connected(op: Operator, ctx: LoweringContext) -> Lowered:
    x, w, bias, y = weighted_operands(ctx, op, "weights", 0)
    if op.options.get("weightsFormat", 0) != 0:
        raise ctx.fail(op, "shuffled weights format is not supported")
    if len(w.shape) != 2 or min(w.shape) < 1:
        raise ctx.fail(op, f"weights '{w.name}' must be 2-D, not {list(w.shape)}")
    out_features, in_features = w.shape
    if x.size % in_features or y.size != x.size // in_features * out_features:
        raise ctx.fail(op, f"input {list(x.shape)} does not fit weights {list(w.shape)}")
    per_channel = w.quant.per_channel
    if per_channel:
        multipliers = [quantize_multiplier(x.scale * s / y.scale) for s in w.quant.scale]
    else:
        product = F32(x.scale) * F32(w.quant.scale[0])  # TFLite multiplies the two float scales in float
        multipliers = [quantize_multiplier(float(product) / y.scale)]
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, y.zero_point)
    variant = variants.fully_connected(op, ctx)
    if variant.kernel == "tm_fully_connected_s8_dsp":  # SIMD variant (tinyml.compiler.codegen.ops.dsp), same bytes
        return dsp.lower_fully_connected(op, ctx, variant, x, w, bias, y, multipliers, act_min, act_max)
    p = f"op{op.index}"
    n = len(multipliers)
    decls = (
        Decl("int32_t", f"{p}_mult", tuple(m for m, _ in multipliers), n),
        Decl("int32_t", f"{p}_shift", tuple(s for _, s in multipliers), n),
        Decl("tm_channel_quant", f"{p}_q", (f"{p}_mult", f"{p}_shift")),
        Decl("tm_fc_params", f"{p}_params", (x.size // in_features, in_features, out_features, -x.zero_point,
                                             y.zero_point, act_min, act_max, int(per_channel))),
    )
    call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_q"), ctx.data(x), ctx.const(w),
                                 ctx.const(bias) if bias is not None else NULL, ctx.activation(y)))
    return Lowered(kernels=(variant.source,), decls=decls, calls=(call,), variant=variant)
