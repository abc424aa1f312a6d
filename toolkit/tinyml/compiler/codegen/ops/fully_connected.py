"""FULLY_CONNECTED."""
from __future__ import annotations

import numpy as np

from tinyml.compiler.codegen.context import Lowered, LoweringContext, c_array
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
    if ctx.target.dsp:  # SIMD variant (tinyml.compiler.codegen.ops.dsp), same bytes out
        return dsp.lower_fully_connected(op, ctx, x, w, bias, y, multipliers, act_min, act_max)
    p = f"op{op.index}"
    n = len(multipliers)
    decls = "\n".join([
        f"static const int32_t {p}_mult[{n}] = {c_array(m for m, _ in multipliers)};",
        f"static const int32_t {p}_shift[{n}] = {c_array(s for _, s in multipliers)};",
        f"static const tm_channel_quant {p}_q = {{{p}_mult, {p}_shift}};",
        f"static const tm_fc_params {p}_params = {{{x.size // in_features}, {in_features}, {out_features}, "
        f"{-x.zero_point}, {y.zero_point}, {act_min}, {act_max}, {int(per_channel)}}};",
    ])
    bias_expr = ctx.const(bias) if bias is not None else "NULL"
    call = (f"tm_fully_connected_s8(&{p}_params, &{p}_q, {ctx.data(x)}, {ctx.const(w)}, {bias_expr}, "
            f"{ctx.activation(y)});")
    return Lowered(kernels=("fully_connected/fully_connected_s8.c",), decls=decls, call=call)
