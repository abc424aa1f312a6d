"""SOFTMAX, and every elementwise int8 -> int8 function as a 256-entry table built at generation time:
LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1 and QUANTIZE (int8 requantization). SOFTMAX, LOGISTIC and TANH of int16
(16x8) inputs go to `activation16`."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinyml.compiler.codegen.context import LoweringContext, c_float
from tinyml.compiler.codegen.lowered import Call, Decl, Lit, Lowered, Offset, Ref, Sym
from tinyml.compiler.codegen.ops import activation16
from tinyml.compiler.codegen.ops.common import require_int8, require_same_size
from tinyml.compiler.codegen.quant import (
    INT8_MAX,
    INT8_MIN,
    activation_range,
    expf,
    quantize_multiplier,
    requantize,
    requantize_round_up,
    round_half_away,
    tanhf,
)
from tinyml.compiler.ir.graph import Operator, Tensor

F32 = np.float32


def lower_softmax(op: Operator, ctx: LoweringContext) -> Lowered:
    if ctx.tensor(op, 0).dtype == "int16":
        return activation16.lower_softmax_s16(op, ctx)
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    require_int8(ctx, op, x, y)
    if x.shape != y.shape or not x.shape:
        raise ctx.fail(op, f"input {list(x.shape)} and output {list(y.shape)} must have one shape")
    beta = F32(op.options.get("beta", 1.0))
    scale = F32(-F32(x.scale) * beta)
    table = [F32(0)] * 256
    for v in range(256):
        table[255 - v] = expf(F32(scale * F32(v)))
    depth = x.shape[-1]
    p = f"op{op.index}"
    decls = (
        Decl("float", f"{p}_exp", tuple(c_float(t) for t in table), 256),
        Decl("tm_softmax_params", f"{p}_params", (x.size // depth, depth, c_float(F32(y.scale)), y.zero_point,
                                                  f"{p}_exp")),
    )
    call = Call("tm_softmax_s8", (Ref(f"{p}_params"), ctx.data(x), ctx.activation(y)))
    return Lowered(kernels=("activation/softmax_s8.c",), decls=decls, calls=(call,), inplace_input=x.index)


def _float_table(x: Tensor, y: Tensor, fn: Callable[[np.float32], np.float32]) -> list[int]:
    """TFLite's LUTPopulate: dequantize in float, apply fn, round(fn * (1/out_scale)) + zp, clamp."""
    inverse_scale = F32(F32(1.0) / F32(y.scale))
    table = []
    for v in range(256):
        q = v - 256 if v > INT8_MAX else v  # table index is the byte (uint8) of the int8 value
        dequantized = F32(F32(x.scale) * F32(q - x.zero_point))
        rescaled = F32(round_half_away(float(F32(fn(dequantized) * inverse_scale))))
        quantized = int(F32(rescaled + F32(y.zero_point)))
        table.append(min(max(quantized, INT8_MIN), INT8_MAX))
    return table


def _sigmoid(v: np.float32) -> np.float32:
    return F32(F32(1.0) / F32(F32(1.0) + expf(F32(-v))))


def _requant_table(x: Tensor, y: Tensor, act_min: int, act_max: int, multiplier: tuple[int, int],
                   rounding: Callable[[int, int, int], int] = requantize) -> list[int]:
    m, s = multiplier
    table = []
    for v in range(256):
        q = v - 256 if v > INT8_MAX else v
        table.append(min(max(y.zero_point + rounding(q - x.zero_point, m, s), act_min), act_max))
    return table


def _lut(op: Operator, ctx: LoweringContext, x: Tensor, y: Tensor, table: list[int]) -> Lowered:
    p = f"op{op.index}"
    decls = (Decl("int8_t", f"{p}_table", tuple(table), 256),)
    call = Call("tm_lut_s8", (Sym(f"{p}_table"), Lit(x.size), ctx.data(x), ctx.activation(y)))
    return Lowered(kernels=("activation/lut_s8.c",), decls=decls, calls=(call,),
                   inplace_input=None if x.is_constant else x.index)


def _unary(op: Operator, ctx: LoweringContext) -> tuple[Tensor, Tensor]:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    require_int8(ctx, op, x, y)
    require_same_size(ctx, op, x, y)
    return x, y


def lower_logistic(op: Operator, ctx: LoweringContext) -> Lowered:
    if ctx.tensor(op, 0).dtype == "int16":
        return activation16.lower_logistic_s16(op, ctx)
    x, y = _unary(op, ctx)
    return _lut(op, ctx, x, y, _float_table(x, y, _sigmoid))


def lower_tanh(op: Operator, ctx: LoweringContext) -> Lowered:
    if ctx.tensor(op, 0).dtype == "int16":
        return activation16.lower_tanh_s16(op, ctx)
    x, y = _unary(op, ctx)
    return _lut(op, ctx, x, y, _float_table(x, y, tanhf))


def _relu(op: Operator, ctx: LoweringContext, fused: int) -> Lowered:
    x, y = _unary(op, ctx)
    act_min, act_max = activation_range(fused, y.scale, y.zero_point)
    multiplier = quantize_multiplier(float(F32(x.scale) / F32(y.scale)))
    return _lut(op, ctx, x, y, _requant_table(x, y, act_min, act_max, multiplier))


def lower_relu(op: Operator, ctx: LoweringContext) -> Lowered:
    return _relu(op, ctx, 1)


def lower_relu_n1_to_1(op: Operator, ctx: LoweringContext) -> Lowered:
    return _relu(op, ctx, 2)


def lower_relu6(op: Operator, ctx: LoweringContext) -> Lowered:
    return _relu(op, ctx, 3)


REQUANTIZE_BLOCK = 16  # TFLite's SIMD requantize rounds ties up on whole blocks of 16, away on the tail


def lower_requantize(op: Operator, ctx: LoweringContext) -> Lowered:
    """QUANTIZE from int8 to int8: a change of scale and zero point, as two tables (block part, tail)."""
    x, y = _unary(op, ctx)
    multiplier = quantize_multiplier(x.scale / y.scale)
    blocks = x.size // REQUANTIZE_BLOCK * REQUANTIZE_BLOCK
    up = _requant_table(x, y, INT8_MIN, INT8_MAX, multiplier, requantize_round_up)
    away = _requant_table(x, y, INT8_MIN, INT8_MAX, multiplier)
    p = f"op{op.index}"
    src, dst = ctx.data(x), ctx.activation(y)
    decls, calls = [], []
    if blocks:
        decls.append(Decl("int8_t", f"{p}_table_blocks", tuple(up), 256))
        calls.append(Call("tm_lut_s8", (Sym(f"{p}_table_blocks"), Lit(blocks), src, dst)))
    if x.size > blocks:
        decls.append(Decl("int8_t", f"{p}_table_tail", tuple(away), 256))
        calls.append(Call("tm_lut_s8", (Sym(f"{p}_table_tail"), Lit(x.size - blocks), Offset(src, blocks),
                                        Offset(dst, blocks))))
    return Lowered(kernels=("activation/lut_s8.c",), decls=tuple(decls), calls=tuple(calls),
                   inplace_input=None if x.is_constant else x.index)
