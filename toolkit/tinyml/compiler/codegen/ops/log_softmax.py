"""LOG_SOFTMAX (int8): TFLite's integer kernel, which the interpreter runs for int8 (reference_integer_ops::
LogSoftmax), with the parameters its Prepare computes (PreprocessLogSoftmaxScalingExp, CalculateInputRadius with 5
integer bits for the scaled differences) and the output fixed at scale 16/256, zero point 127.

The exponential of each of the 256 possible differences x - max (gemmlowp's exp_on_negative_values in Q5.26,
rescaled to the Q12.19 accumulator, 0 below diff_min) is computed here, integer for integer, into a table; the kernel
(`tm_log_softmax_s8`) sums it per row and takes the fixed-point log in C, since the sum depends on the row."""
from __future__ import annotations

import math

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Call, Decl, Lowered, Ref
from tinyml.compiler.codegen.ops.common import require_int8, require_version
from tinyml.compiler.codegen.quant import F32, quantize_multiplier, requantize, round_half_away
from tinyml.compiler.codegen.quant import _rdpot as _divide_by_pot  # gemmlowp's RoundingDivideByPOT
from tinyml.compiler.codegen.quant import _srdhm as _mul  # gemmlowp's SaturatingRoundingDoublingHighMul
from tinyml.compiler.codegen.quant import _wrap32 as _wrap
from tinyml.compiler.ir.graph import Operator

INPUT_INTEGER_BITS = 5  # the scaled differences are Q5.26: exp(-32) is negligible
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 16.0 / 256.0, 127
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401),
               (4, 242))  # exp(-2^k) in Q0.31, for the bits of the input above its quarter


def _exp_interval(a: int) -> int:
    """exp(a) for a in [-1/4, 0), Q0.31: Taylor around -1/8 (gemmlowp's
    exp_on_interval_between_negative_one_quarter_and_0_excl)."""
    x = _wrap(a + (1 << 28))
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    rest = _divide_by_pot(_wrap(_mul(_wrap(_divide_by_pot(x4, 2) + x3), 715827883) + x2), 1)
    return _wrap(1895147668 + _mul(1895147668, _wrap(x + rest)))


def exp_on_negative_values(a: int) -> int:
    """exp(a) of a <= 0 in Q5.26, as Q0.31 (gemmlowp's exp_on_negative_values for 5 integer bits)."""
    quarter = 1 << (31 - INPUT_INTEGER_BITS - 2)
    mod_minus_quarter = _wrap((a & (quarter - 1)) - quarter)
    result = _exp_interval(mod_minus_quarter << INPUT_INTEGER_BITS)  # in [-1/4, 0): no saturation
    remainder = _wrap(mod_minus_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if remainder & (1 << (31 - INPUT_INTEGER_BITS + exponent)):
            result = _mul(result, multiplier)
    return (1 << 31) - 1 if a == 0 else result


def log_softmax_scaling(input_scale: float) -> tuple[int, int, int, int, int]:
    """(input multiplier, its left shift, reverse multiplier, reverse shift, diff_min) as TFLite's Prepare computes
    them; the input multiplier is not clamped to shift 30 (TFLite clamps it only with TFLITE_SINGLE_ROUNDING)."""
    real = min(input_scale * (1 << (31 - INPUT_INTEGER_BITS)), (1 << 31) - 1.0)
    mantissa, shift = math.frexp(real)
    multiplier = round_half_away(mantissa * (1 << 31))
    if multiplier == 1 << 31:
        multiplier, shift = multiplier // 2, shift + 1
    reverse_multiplier, reverse_shift = quantize_multiplier((1 << (31 - shift)) / multiplier)
    radius = math.floor(((1 << INPUT_INTEGER_BITS) - 1) * (1 << (31 - INPUT_INTEGER_BITS)) / (1 << shift))
    return multiplier, shift, reverse_multiplier, reverse_shift, -radius


def exp_table(multiplier: int, shift: int, diff_min: int) -> list[int]:
    """Per difference d = max - x in 0..255: exp(-d scaled) rescaled to Q12.19, or 0 below diff_min."""
    return [_divide_by_pot(exp_on_negative_values(requantize(-d, multiplier, shift)), 12) if -d >= diff_min else 0
            for d in range(256)]


def lower_log_softmax(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    require_version(ctx, op, (2,), y)
    require_int8(ctx, op, x, y)
    if x.shape != y.shape or not x.shape:
        raise ctx.fail(op, f"input {list(x.shape)} and output {list(y.shape)} must have one shape")
    if x.quant.per_channel:
        raise ctx.fail(op, "per-channel quantized activations are not supported")
    if y.zero_point != OUTPUT_ZERO_POINT or F32(y.scale) != F32(OUTPUT_SCALE):
        raise ctx.fail(op, f"output '{y.name}' must have scale 16/256 and zero point 127 (TFLite requires it)")
    multiplier, shift, reverse_multiplier, reverse_shift, diff_min = log_softmax_scaling(float(F32(x.scale)))
    if shift < 1:
        raise ctx.fail(op, f"input scale {x.scale} of '{x.name}' is below 2^-26 (TFLite cannot scale it either)")
    depth = x.shape[-1]
    p = f"op{op.index}"
    decls = (Decl("int32_t", f"{p}_exp", tuple(exp_table(multiplier, shift, diff_min)), 256),
             Decl("tm_log_softmax_params", f"{p}_params", (x.size // depth, depth, multiplier, shift,
                                                           reverse_multiplier, reverse_shift, diff_min, f"{p}_exp")))
    call = Call("tm_log_softmax_s8", (Ref(f"{p}_params"), ctx.data(x), ctx.activation(y)))
    return Lowered(kernels=("activation/log_softmax_s8.c",), decls=decls, calls=(call,),
                   inplace_input=None if x.is_constant else x.index)
