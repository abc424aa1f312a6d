"""SUB, SQUARED_DIFFERENCE, MINIMUM, MAXIMUM and PRELU: broadcasting binary int8 operators over the runtime's
broadcast loop (`tm_broadcast`), with TFLite's int8 arithmetic (ai-edge-litert, checked byte for byte).

- SUB: ADD's kernel and parameters with input 2's multiplier negated (TFLite computes it so).
- SQUARED_DIFFERENCE: left shift 7; input multipliers in double from 2 * max(input scales); output multiplier
  (2 * max)^2 / (2^14 * output_scale), which TFLite requires below 1 (it aborts otherwise).
- MINIMUM, MAXIMUM: the stored int8 values compared, no requantization (the interpreter does none either).
- PRELU: multipliers input_scale / output_scale and input_scale * alpha_scale / output_scale, computed in float32
  as the kernel's Prepare does; output clamped to int8 only.
"""
from __future__ import annotations

import numpy as np

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Call, Decl, Lowered, Ref
from tinyml.compiler.codegen.ops.common import broadcast_strides, require_version
from tinyml.compiler.codegen.ops.elementwise import _inplace, _operands, add_params
from tinyml.compiler.codegen.quant import INT8_MAX, INT8_MIN, activation_range, quantize_multiplier
from tinyml.compiler.ir.graph import Operator, Tensor

F32 = np.float32
SQUARED_DIFFERENCE_LEFT_SHIFT = 7


def _checked(op: Operator, ctx: LoweringContext, versions: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
    a, b, y = _operands(op, ctx)
    require_version(ctx, op, versions, y)
    for t in (a, b, y):
        if t.quant.per_channel:
            raise ctx.fail(op, f"tensor {t.index} '{t.name}' is per-channel quantized; only per-tensor is supported")
    return a, b, y


def _broadcast_call(op: Operator, ctx: LoweringContext, kernel: str, a: Tensor, b: Tensor, y: Tensor,
                    params: Decl | None, inplace: bool = True) -> Lowered:
    p = f"op{op.index}"
    bc = Decl("tm_broadcast", f"{p}_bc", broadcast_strides(a.shape, b.shape, y.shape))
    head = (Ref(params.name),) if params is not None else ()
    call = Call(kernel, (*head, Ref(bc.name), ctx.data(a), ctx.data(b), ctx.activation(y)))
    decls = (params, bc) if params is not None else (bc,)
    return Lowered(kernels=(f"elementwise/{kernel[3:]}.c",), decls=decls, calls=(call,),
                   inplace_input=_inplace(op, a, b, y) if inplace else None)


def lower_sub(op: Operator, ctx: LoweringContext) -> Lowered:
    a, b, y = _checked(op, ctx, (2,))
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, y.zero_point)
    params = Decl("tm_add_params", f"op{op.index}_params", add_params(a, b, y, act_min, act_max, negate_b=True))
    return _broadcast_call(op, ctx, "tm_add_s8", a, b, y, params)


def lower_squared_difference(op: Operator, ctx: LoweringContext) -> Lowered:
    a, b, y = _checked(op, ctx, (2,))
    twice_max = 2.0 * float(max(F32(a.scale), F32(b.scale)))
    real_out = twice_max * twice_max / float(F32(1 << 2 * SQUARED_DIFFERENCE_LEFT_SHIFT) * F32(y.scale))
    if not 0.0 < real_out < 1.0:
        raise ctx.fail(op, f"output scale {y.scale:g} is too small for input scales {a.scale:g} and {b.scale:g}: "
                           "TFLite refuses this SQUARED_DIFFERENCE; widen the output range")
    ma, sa = quantize_multiplier(a.scale / twice_max)
    mb, sb = quantize_multiplier(b.scale / twice_max)
    mo, so = quantize_multiplier(real_out)
    value = (SQUARED_DIFFERENCE_LEFT_SHIFT, -a.zero_point, ma, sa, -b.zero_point, mb, sb, y.zero_point, mo, so,
             INT8_MIN, INT8_MAX)
    params = Decl("tm_add_params", f"op{op.index}_params", value)
    return _broadcast_call(op, ctx, "tm_squared_difference_s8", a, b, y, params)


def lower_maximum(op: Operator, ctx: LoweringContext) -> Lowered:
    a, b, y = _checked(op, ctx, (2,))
    return _broadcast_call(op, ctx, "tm_maximum_s8", a, b, y, None)


def lower_minimum(op: Operator, ctx: LoweringContext) -> Lowered:
    a, b, y = _checked(op, ctx, (2,))
    return _broadcast_call(op, ctx, "tm_minimum_s8", a, b, y, None)


def lower_prelu(op: Operator, ctx: LoweringContext) -> Lowered:
    x, alpha, y = _checked(op, ctx, (1,))
    if tuple(y.shape) != tuple(x.shape):
        raise ctx.fail(op, f"alpha {list(alpha.shape)} must broadcast to the input {list(x.shape)}")
    in_scale, out_scale = F32(x.scale), F32(y.scale)
    mp, sp = quantize_multiplier(float(F32(in_scale / out_scale)))
    mn, sn = quantize_multiplier(float(F32(F32(in_scale * F32(alpha.scale)) / out_scale)))
    params = Decl("tm_prelu_params", f"op{op.index}_params",
                  (-x.zero_point, -alpha.zero_point, y.zero_point, mp, sp, mn, sn))
    return _broadcast_call(op, ctx, "tm_prelu_s8", x, alpha, y, params, inplace=not x.is_constant)
