"""LEAKY_RELU and HARD_SWISH: int8 -> int8 functions, so each is a 256-entry table (`tm_lut_s8`) computed here
with TFLite's own integer arithmetic, value by value; EXP, a table too (TFLite's own is one); and L2_NORMALIZATION,
the other activation of this set.

- LEAKY_RELU (ai-edge-litert's QuantizeLeakyRelu): q = x - in_zp; out_zp + MultiplyByQuantizedMultiplier(q, m, s)
  with (m, s) = QuantizeMultiplier(in_scale / out_scale) for q >= 0 and QuantizeMultiplier(in_scale * alpha /
  out_scale) below, both products and quotients in float32 as the kernel's Prepare computes them; clamped to int8.
- HARD_SWISH (the int8 path of TFLite's HardSwish): 16-bit fixed point. The input, shifted left 7, is multiplied
  by the int16 output multiplier (rounding doubling high mul) and, separately, rescaled to the "reluish" scale on
  which 3.0 is 32768 (saturating left shifts, or a rounding right shift), mapped from [-1, 1] to [0, 1], multiplied
  with the first (a doubling high mul that truncates toward zero) and shifted right (ties away from zero) to the
  output scale. Checked against the interpreter on all 256 inputs: its x86 build computes every element this way
  (no position-dependent SIMD rounding, unlike its requantization or MEAN).
"""
from __future__ import annotations

import numpy as np

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Call, Lit, Lowered
from tinyml.compiler.codegen.ops.activation import _float_table, _lut
from tinyml.compiler.codegen.ops.common import require_int8, require_same_size, require_version
from tinyml.compiler.codegen.quant import INT8_MAX, INT8_MIN, expf, quantize_multiplier, requantize
from tinyml.compiler.ir.graph import Operator, Tensor

F32 = np.float32
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def _operands(op: Operator, ctx: LoweringContext, versions: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    require_version(ctx, op, versions, y)
    require_int8(ctx, op, x, y)
    require_same_size(ctx, op, x, y)
    if x.quant.per_channel or y.quant.per_channel:
        raise ctx.fail(op, "per-channel quantized activations are not supported")
    return x, y


def _int8(v: int) -> int:
    return v - 256 if v > INT8_MAX else v


def lower_leaky_relu(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y = _operands(op, ctx, (1,))
    alpha = F32(ctx.option(op, "alpha", 0.0))
    in_scale, out_scale = F32(x.scale), F32(y.scale)
    identity = quantize_multiplier(float(F32(in_scale / out_scale)))
    slope = quantize_multiplier(float(F32(F32(in_scale * alpha) / out_scale)))
    table = []
    for v in range(256):
        q = _int8(v) - x.zero_point
        m, s = identity if q >= 0 else slope
        table.append(min(max(y.zero_point + requantize(q, m, s), INT8_MIN), INT8_MAX))
    return _lut(op, ctx, x, y, table)


# --- TFLite's 16-bit fixed-point helpers (gemmlowp's, on int16) ---

def _sat16(v: int) -> int:
    return min(max(v, INT16_MIN), INT16_MAX)


def _div_toward_zero(a: int, b: int) -> int:
    return abs(a) // b * (1 if a >= 0 else -1)


def _rounding_doubling_high_mul16(a: int, b: int) -> int:
    if a == b == INT16_MIN:
        return INT16_MAX
    ab = a * b
    return _div_toward_zero(ab + ((1 << 14) if ab >= 0 else 1 - (1 << 14)), 1 << 15)


def _doubling_high_mul16(a: int, b: int) -> int:
    """TFLite's SaturatingDoublingHighMul: like the rounding one without the nudge (it cancels the latter's bias)."""
    if a == b == INT16_MIN:
        return INT16_MAX
    return _div_toward_zero(a * b, 1 << 15)


def _rounding_divide_by_pot16(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def _int16_multiplier(multiplier: int) -> int:
    """TFLite's DownScaleInt32ToInt16Multiplier: the int32 multiplier's rounded upper half."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return INT16_MAX
    return (multiplier + (1 << 15)) >> 16


def _hard_swish_table(x: Tensor, y: Tensor, out_m: int, out_e: int, relu_m: int, relu_e: int) -> list[int]:
    table = []
    for v in range(256):
        hires = (_int8(v) - x.zero_point) * (1 << 7)
        preshift = _rounding_doubling_high_mul16(hires, out_m)
        reluish = hires
        if relu_e > 0:
            reluish = _sat16(reluish * (1 << (relu_e - 1)))
        reluish = _rounding_doubling_high_mul16(reluish, relu_m)
        if relu_e > 0:
            reluish = _sat16(reluish * 2)
        if relu_e < 0:
            reluish = _rounding_divide_by_pot16(reluish, -relu_e)
        reluish = (reluish + (1 << 15)) >> 1  # from [-1, 1] to [0, 1]
        out = _rounding_divide_by_pot16(_doubling_high_mul16(reluish, preshift), -out_e)
        table.append(min(max(out + y.zero_point, INT8_MIN), INT8_MAX))
    return table


def lower_hard_swish(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y = _operands(op, ctx, (1,))
    hires_scale = F32(F32(1.0 / 128.0) * F32(x.scale))
    out_m, out_e = quantize_multiplier(float(F32(hires_scale / F32(y.scale))))
    if out_e > 0:
        raise ctx.fail(op, f"output scale {y.scale:g} is below input scale / 128 ({x.scale:g} / 128): TFLite "
                           "refuses this HARD_SWISH; widen the output range")
    relu_m, relu_e = quantize_multiplier(float(F32(hires_scale / F32(F32(3.0) / F32(32768.0)))))
    table = _hard_swish_table(x, y, _int16_multiplier(out_m), out_e, _int16_multiplier(relu_m), relu_e)
    return _lut(op, ctx, x, y, table)


def lower_l2_normalization(op: Operator, ctx: LoweringContext) -> Lowered:
    """L2_NORMALIZATION over the last dimension (not a table: the norm depends on the row): `tm_l2_normalization_s8`,
    TFLite's integer kernel, whose output quantization is fixed at scale 1/128, zero point 0."""
    x, y = _operands(op, ctx, (2,))
    if x.shape != y.shape or not x.shape:
        raise ctx.fail(op, f"input {list(x.shape)} and output {list(y.shape)} must have one shape")
    if y.zero_point != 0 or F32(y.scale) != F32(1.0 / 128.0):
        raise ctx.fail(op, f"output '{y.name}' must have scale 1/128 and zero point 0 (TFLite requires it)")
    if ctx.fused_activation(op) != 0:
        raise ctx.fail(op, "a fused activation is not supported")
    depth = x.shape[-1]
    if depth > 1 << 15:
        raise ctx.fail(op, f"depth {depth} may overflow the int32 sum of squares")
    call = Call("tm_l2_normalization_s8", (Lit(x.size // depth), Lit(depth), Lit(x.zero_point), ctx.data(x),
                                           ctx.activation(y)))
    return Lowered(kernels=("activation/l2_normalization_s8.c",), calls=(call,))


def lower_exp(op: Operator, ctx: LoweringContext) -> Lowered:
    """EXP: TFLite's int8 kernel is a table from LUTPopulate (dequantize, expf, round, offset, clamp), the same
    construction as LOGISTIC's and TANH's."""
    x, y = _operands(op, ctx, (2,))
    return _lut(op, ctx, x, y, _float_table(x, y, expf))
