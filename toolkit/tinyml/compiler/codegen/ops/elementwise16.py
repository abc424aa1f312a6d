"""16x8 ADD and MUL: int16 activations with zero point 0, TFLite's int16 arithmetic (ai-edge-litert, checked byte
for byte), broadcasting over up to four dimensions like the int8 kernels. `elementwise.lower_add` and `lower_mul`
dispatch here on the activation type, with the operands they checked.

- ADD: TFLite's general int16 path, the int8 ADD's arithmetic with a left shift of 15 (65535 << 15 still fits in
  int32): input multipliers scale / (2 * max input scale), output multiplier 2 * max / (2^15 * output scale), in
  double from the float32 scales. TFLite aborts when that output multiplier is not below 1; tinyml refuses it.
- ADD on TFLite's power-of-two path, taken when `pot_scale_int16` is true (the schema's default; the converter writes
  false) and every scale is a power of two (log2 within 1e-3 of an integer): one input must have the output's scale,
  the other the same or a smaller one; that one is divided by the power of two with rounding (gemmlowp's int16
  rounding, which from 2^16 on gives 1 or -1; tm_add_pot_s16 follows it) and added with saturation. The path does
  not broadcast (TFLite reads both inputs flat), so a broadcasting one is refused.
- MUL: the int16 product (it fits in int32) times input1 scale * input2 scale / output scale, computed in float32.
"""
from __future__ import annotations

import math

import numpy as np

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Call, Decl, Lit, Lowered, Ref
from tinyml.compiler.codegen.ops.common import broadcast_strides, require_version
from tinyml.compiler.codegen.quant import INT16_MAX, INT16_MIN, activation_range, quantize_multiplier
from tinyml.compiler.ir.graph import Operator, Tensor

F32 = np.float32
ADD_LEFT_SHIFT_S16 = 15  # TFLite's headroom for int16 addition
VERSIONS = (2,)  # as the TFLite converter writes the 16x8 ADD and MUL


def is_power_of_two_scale(scale: float) -> bool:
    """TFLite's CheckedLog2: log2(scale) within 1e-3 of an integer."""
    log2 = math.log2(float(F32(scale)))
    return abs(log2 - round(log2)) < 1e-3


def _broadcast_call(op: Operator, ctx: LoweringContext, kernel: str, params: tuple, a: Tensor, b: Tensor,
                    y: Tensor, inplace_input: int | None) -> Lowered:
    p = f"op{op.index}"
    param_type = "tm_add_params" if kernel == "tm_add_s16" else "tm_mul_params"
    decls = (Decl(param_type, f"{p}_params", params),
             Decl("tm_broadcast", f"{p}_bc", broadcast_strides(a.shape, b.shape, y.shape)))
    call = Call(kernel, (Ref(f"{p}_params"), Ref(f"{p}_bc"), ctx.data(a), ctx.data(b), ctx.activation(y)))
    return Lowered(kernels=(f"elementwise/{kernel[3:]}.c",), decls=decls, calls=(call,), inplace_input=inplace_input)


def lower_add_s16(op: Operator, ctx: LoweringContext, a: Tensor, b: Tensor, y: Tensor,
                  inplace_input: int | None) -> Lowered:
    """ADD of checked int16 operands (zero points 0, shapes broadcast to the output's)."""
    require_version(ctx, op, VERSIONS, y)
    if op.options.get("potScaleInt16", True) and all(is_power_of_two_scale(t.scale) for t in (a, b, y)):
        return _lower_add_pot(op, ctx, a, b, y, inplace_input)
    twice_max = 2.0 * float(max(F32(a.scale), F32(b.scale)))
    real_out = twice_max / (float(1 << ADD_LEFT_SHIFT_S16) * float(F32(y.scale)))
    if not real_out < 1.0:
        raise ctx.fail(op, f"output scale {y.scale:g} is too small for input scales {a.scale:g} and {b.scale:g}: "
                           "TFLite refuses this int16 ADD; widen the output range")
    ma, sa = quantize_multiplier(float(F32(a.scale)) / twice_max)
    mb, sb = quantize_multiplier(float(F32(b.scale)) / twice_max)
    mo, so = quantize_multiplier(real_out)
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, 0, INT16_MIN, INT16_MAX)
    params = (ADD_LEFT_SHIFT_S16, 0, ma, sa, 0, mb, sb, 0, mo, so, act_min, act_max)
    return _broadcast_call(op, ctx, "tm_add_s16", params, a, b, y, inplace_input)


def _lower_add_pot(op: Operator, ctx: LoweringContext, a: Tensor, b: Tensor, y: Tensor,
                   inplace_input: int | None) -> Lowered:
    """TFLite's power-of-two int16 ADD: the input of the smaller scale shifted right to the output's, added."""
    if a.shape != b.shape:
        raise ctx.fail(op, f"broadcasts {list(a.shape)} with {list(b.shape)} on TFLite's power-of-two int16 path, "
                           "which does not broadcast; convert with pot_scale_int16 false")
    shifts = [round(math.log2(float(F32(t.scale)))) - round(math.log2(float(F32(y.scale)))) for t in (a, b)]
    if max(shifts) != 0:
        raise ctx.fail(op, f"input scales {a.scale:g} and {b.scale:g} with output scale {y.scale:g}: TFLite's "
                           "power-of-two int16 ADD needs one input at the output's scale and the other below it")
    shifted, other = (a, b) if shifts[1] == 0 else (b, a)
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, 0, INT16_MIN, INT16_MAX)
    p = f"op{op.index}"
    decls = (Decl("tm_add_pot_s16_params", f"{p}_params", (-min(shifts), act_min, act_max)),)
    call = Call("tm_add_pot_s16", (Ref(f"{p}_params"), Lit(y.size), ctx.data(shifted), ctx.data(other),
                                   ctx.activation(y)))
    return Lowered(kernels=("elementwise/add_pot_s16.c",), decls=decls, calls=(call,), inplace_input=inplace_input)


def lower_mul_s16(op: Operator, ctx: LoweringContext, a: Tensor, b: Tensor, y: Tensor,
                  inplace_input: int | None) -> Lowered:
    """MUL of checked int16 operands (zero points 0, shapes broadcast to the output's)."""
    require_version(ctx, op, VERSIONS, y)
    m, s = quantize_multiplier(float(F32(F32(a.scale) * F32(b.scale)) / F32(y.scale)))
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, 0, INT16_MIN, INT16_MAX)
    return _broadcast_call(op, ctx, "tm_mul_s16", (0, 0, 0, m, s, act_min, act_max), a, b, y, inplace_input)
