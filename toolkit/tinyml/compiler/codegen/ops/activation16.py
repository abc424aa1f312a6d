"""16x8 SOFTMAX, LOGISTIC and TANH: int16 activations with zero point 0, TFLite's int16 algorithms (ai-edge-litert,
checked byte for byte), their tables built here at generation time where TFLite builds them when it prepares the
model. `activation.lower_softmax`, `lower_logistic` and `lower_tanh` dispatch here on the activation type.

- SOFTMAX: (x - row max) * input scale * beta rescaled so that [-65535, 0] is [-10, 0]; exp and 1/(1 + x) from
  TFLite's 513-entry tables (LUTPopulate<int16_t> in double: 512 steps, each entry biased by half its midpoint
  interpolation error), read with linear interpolation. Output scale 1/32768, zero point 0 (TFLite requires both).
- LOGISTIC, TANH: TFLite's general-scale path, x * input_multiplier rounded right by input_shift (the multiplier
  input scale * 4096 * 3 doubled until above 32767 / 2, truncated), then the interpolated table of sigmoid(i / 24)
  in Q0.16 (256 entries; TFLite compiles it in, we compute it). TFLite runs another kernel (gemmlowp's fixed-point
  functions) when the input scale is exactly 2^-12 (LOGISTIC) or 2^-12 / 2^-11 (TANH); tinyml refuses those scales.
  The output scale must be 1/32768 (TFLite requires it).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Call, Decl, Lit, Lowered, Ref
from tinyml.compiler.codegen.ops.common import require_int16, require_same_size, require_version
from tinyml.compiler.codegen.quant import INT16_MAX, INT16_MIN, quantize_multiplier, round_half_away
from tinyml.compiler.ir.graph import Operator, Tensor

F32 = np.float32
LUT_STEPS = 512             # TFLite's int16 tables: 512 steps, 513 entries (the last only for the slope)
SIGMOID_TABLE_SIZE = 256    # sigmoid(i / 24), i < 256, in Q0.16
SIGMOID_STEPS_PER_UNIT = 24
OUTPUT_SCALE = 1.0 / 32768.0
INPUT_RANGE = INT16_MAX - INT16_MIN  # 65535
VERSIONS = (2,)  # as the TFLite converter writes the 16x8 SOFTMAX, LOGISTIC and TANH


def int16_lut(fn: Callable[[float], float], input_scale: float, input_zero_point: int) -> list[int]:
    """TFLite's LUTPopulate<int16_t> in double for an output scale of 2 / 65535 (symmetric [-1, 1]): the function at
    512 steps over the input's int16 range, each entry less half its midpoint interpolation error, clamped."""
    input_min = input_scale * (INT16_MIN - input_zero_point)
    input_max = input_scale * (INT16_MAX - input_zero_point)
    output_scale = 2.0 / INPUT_RANGE
    scaling_inv = float(INPUT_RANGE + 1) / (output_scale * INT16_MAX - output_scale * INT16_MIN)
    step = (input_max - input_min) / LUT_STEPS
    half_step = step / 2.0

    def clamp(v: float) -> int:
        return int(min(max(v, float(INT16_MIN)), float(INT16_MAX)))

    table = []
    for i in range(LUT_STEPS):
        value = fn(input_min + i * step)
        sample = round_half_away(value * scaling_inv)
        interpolated = round_half_away((fn(input_min + (i + 1) * step) * scaling_inv + sample) / 2.0)
        midpoint = round_half_away(fn(input_min + i * step + half_step) * scaling_inv)
        table.append(clamp(sample - round_half_away((interpolated - midpoint) / 2.0)))
    table.append(clamp(round_half_away(fn(input_max) * scaling_inv)))
    return table


def sigmoid_table() -> list[int]:
    """sigmoid(i / 24) in Q0.16 for i < 255, each entry less half the error linear interpolation makes at the middle
    of its step (the exact values, rounded once), then 65535, so that the last step interpolates up to saturation:
    the table TFLite compiles into its int16 kernels (the tests compare every int16 input of both kernels with the
    interpreter)."""
    def sigmoid(steps: float) -> float:
        return 65536.0 / (1.0 + math.exp(-steps / SIGMOID_STEPS_PER_UNIT))

    table = []
    for i in range(SIGMOID_TABLE_SIZE - 1):
        midpoint_error = (sigmoid(i) + sigmoid(i + 1)) / 2.0 - sigmoid(i + 0.5)
        table.append(round_half_away(sigmoid(i) - midpoint_error / 2.0))
    return [*table, 0xFFFF]


def _operands(op: Operator, ctx: LoweringContext) -> tuple[Tensor, Tensor]:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    require_int16(ctx, op, x, y)
    require_version(ctx, op, VERSIONS, y)
    require_same_size(ctx, op, x, y)
    if float(F32(y.scale)) != OUTPUT_SCALE:
        raise ctx.fail(op, f"int16 output '{y.name}' has scale {y.scale:g}; TFLite requires 1/32768")
    return x, y


def lower_softmax_s16(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y = _operands(op, ctx)
    if x.shape != y.shape or not 1 <= len(x.shape) <= 4:
        raise ctx.fail(op, f"input {list(x.shape)} and output {list(y.shape)} must have one shape of rank 1 to 4")
    beta = F32(op.options.get("beta", 1.0))
    multiplier, shift = quantize_multiplier(float(F32(F32(x.scale) * beta)) / (10.0 / INPUT_RANGE))
    p = f"op{op.index}"
    exp_table = int16_lut(math.exp, 10.0 / INPUT_RANGE, INT16_MAX)
    reciprocal_table = int16_lut(lambda v: 1.0 / (1.0 + v), 1.0 / INPUT_RANGE, INT16_MIN)
    depth = x.shape[-1]
    decls = (Decl("int16_t", f"{p}_exp", tuple(exp_table), LUT_STEPS + 1),
             Decl("int16_t", f"{p}_reciprocal", tuple(reciprocal_table), LUT_STEPS + 1),
             Decl("tm_softmax_s16_params", f"{p}_params",
                  (x.size // depth, depth, multiplier, shift, f"{p}_exp", f"{p}_reciprocal")))
    call = Call("tm_softmax_s16", (Ref(f"{p}_params"), ctx.data(x), ctx.activation(y)))
    return Lowered(kernels=("activation/softmax_s16.c",), decls=decls, calls=(call,),
                   inplace_input=None if x.is_constant else x.index)


def _sigmoid_like(op: Operator, ctx: LoweringContext, kernel: str, fixed_point_shifts: tuple[int, ...]) -> Lowered:
    """LOGISTIC or TANH: TFLite's input multiplier and shift for a general input scale."""
    x, y = _operands(op, ctx)
    log2 = math.log2(float(F32(x.scale)))
    if abs(log2 - round(log2)) < 1e-3 and 12 + round(log2) in fixed_point_shifts:
        raise ctx.fail(op, f"input scale 2^{round(log2)} selects TFLite's fixed-point int16 {op.opcode} kernel, "
                           "which tinyml does not compile; requantize the input to another scale")
    multiplier, shift = float(F32(x.scale)) * 4096.0 * 3.0, 0
    while multiplier <= INT16_MAX / 2.0 and shift <= 30:
        shift += 1
        multiplier *= 2.0
    if shift > 30 or multiplier >= 65536.0:
        raise ctx.fail(op, f"input scale {x.scale:g} is outside what TFLite's int16 {op.opcode} computes without "
                           "overflow; requantize the input")
    p = f"op{op.index}"
    decls = (Decl("uint16_t", f"{p}_sigmoid", tuple(sigmoid_table()), SIGMOID_TABLE_SIZE),
             Decl("tm_sigmoid_s16_params", f"{p}_params", (int(multiplier), shift, f"{p}_sigmoid")))
    call = Call(kernel, (Ref(f"{p}_params"), Lit(x.size), ctx.data(x), ctx.activation(y)))
    return Lowered(kernels=(f"activation/{kernel[3:]}.c",), decls=decls, calls=(call,),
                   inplace_input=None if x.is_constant else x.index)


def lower_logistic_s16(op: Operator, ctx: LoweringContext) -> Lowered:
    return _sigmoid_like(op, ctx, "tm_logistic_s16", (0,))


def lower_tanh_s16(op: Operator, ctx: LoweringContext) -> Lowered:
    return _sigmoid_like(op, ctx, "tm_tanh_s16", (0, 1))
