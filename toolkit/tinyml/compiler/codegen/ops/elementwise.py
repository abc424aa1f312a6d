"""ADD and MUL, with broadcasting over up to four dimensions; int16 (16x8) operands go to `elementwise16`."""
from __future__ import annotations

import numpy as np

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Call, Decl, Lowered, Ref
from tinyml.compiler.codegen.ops import elementwise16
from tinyml.compiler.codegen.ops.common import activation_dtype, broadcast_strides, require_int8
from tinyml.compiler.codegen.quant import activation_range, quantize_multiplier
from tinyml.compiler.ir.graph import Operator

F32 = np.float32
ADD_LEFT_SHIFT = 20  # TFLite's headroom for int8 addition


def _operands(op: Operator, ctx: LoweringContext, int16: bool = False):
    """The inputs and output, checked: int8, or with `int16` also int16 (16x8, zero points 0); shapes that
    broadcast to the output's (rank <= 4)."""
    a, b, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 0, outputs=True)
    (activation_dtype if int16 else require_int8)(ctx, op, a, b, y)
    if len(y.shape) > 4:
        raise ctx.fail(op, f"output rank {len(y.shape)} > 4 is not supported")
    try:
        if tuple(np.broadcast_shapes(a.shape, b.shape)) != tuple(y.shape):
            raise ValueError
    except ValueError:
        raise ctx.fail(op, f"shapes {list(a.shape)} and {list(b.shape)} do not broadcast to {list(y.shape)}") from None
    return a, b, y


def _inplace(op: Operator, a, b, y) -> int | None:
    """The output may overwrite an input of its own shape that is not broadcast."""
    for t in (a, b):
        if t.shape == y.shape and not t.is_constant:
            return t.index
    return None


def add_params(a, b, y, act_min: int, act_max: int, negate_b: bool = False) -> str:
    """C initializer of tm_add_params for int8 a + b -> y (TFLite's arithmetic); also used by CONV_2D_ADD, and by
    SUB with `negate_b` (TFLite's int8 SUB is its ADD with input 2's multiplier negated)."""
    twice_max = 2.0 * float(max(F32(a.scale), F32(b.scale)))
    ma, sa = quantize_multiplier(a.scale / twice_max)
    mb, sb = quantize_multiplier(b.scale / twice_max)
    mb = -mb if negate_b else mb
    mo, so = quantize_multiplier(twice_max / float(F32(1 << ADD_LEFT_SHIFT) * F32(y.scale)))
    return (f"{{{ADD_LEFT_SHIFT}, {-a.zero_point}, {ma}, {sa}, {-b.zero_point}, {mb}, {sb}, {y.zero_point}, "
            f"{mo}, {so}, {act_min}, {act_max}}}")


def lower_add(op: Operator, ctx: LoweringContext) -> Lowered:
    a, b, y = _operands(op, ctx, int16=True)
    if a.dtype == "int16":
        return elementwise16.lower_add_s16(op, ctx, a, b, y, _inplace(op, a, b, y))
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, y.zero_point)
    p = f"op{op.index}"
    decls = (Decl("tm_add_params", f"{p}_params", add_params(a, b, y, act_min, act_max)),
             Decl("tm_broadcast", f"{p}_bc", broadcast_strides(a.shape, b.shape, y.shape)))
    call = Call("tm_add_s8", (Ref(f"{p}_params"), Ref(f"{p}_bc"), ctx.data(a), ctx.data(b), ctx.activation(y)))
    return Lowered(kernels=("elementwise/add_s8.c",), decls=decls, calls=(call,), inplace_input=_inplace(op, a, b, y))


def lower_mul(op: Operator, ctx: LoweringContext) -> Lowered:
    a, b, y = _operands(op, ctx, int16=True)
    if a.dtype == "int16":
        return elementwise16.lower_mul_s16(op, ctx, a, b, y, _inplace(op, a, b, y))
    real = float(F32(F32(a.scale) * F32(b.scale)) / F32(y.scale))  # TFLite computes this in float
    m, s = quantize_multiplier(real)
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, y.zero_point)
    p = f"op{op.index}"
    decls = (Decl("tm_mul_params", f"{p}_params", (-a.zero_point, -b.zero_point, y.zero_point, m, s, act_min, act_max)),
             Decl("tm_broadcast", f"{p}_bc", broadcast_strides(a.shape, b.shape, y.shape)))
    call = Call("tm_mul_s8", (Ref(f"{p}_params"), Ref(f"{p}_bc"), ctx.data(a), ctx.data(b), ctx.activation(y)))
    return Lowered(kernels=("elementwise/mul_s8.c",), decls=decls, calls=(call,), inplace_input=_inplace(op, a, b, y))
