"""CONV_2D and DEPTHWISE_CONV_2D with 16x8 quantization (int16 activations, int8 weights, int64 bias): the
portable kernels `tm_conv2d_s16` and `tm_depthwise_conv2d_s16`, which requantize an int64 accumulator as TFLite's
int64 MultiplyByQuantizedMultiplier does. `ops.LOWERINGS` dispatches here on the input's type; geometry, multipliers and
parameter structs are the int8 lowering's (`conv.conv_setup`, `conv.conv_decls`), the activation range int16's."""
from __future__ import annotations

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import NULL, Call, Lowered, Ref, Variant
from tinyml.compiler.codegen.ops.common import weighted_operands
from tinyml.compiler.codegen.ops.conv import check_filter_shape, conv_decls, conv_setup
from tinyml.compiler.codegen.quant import INT16_MAX, INT16_MIN, activation_range
from tinyml.compiler.ir.graph import Operator

# tm_requantize_s64 shifts by 15 - shift bits: shifts above this leave no rounding bit (TFLite asserts shift < 8).
MAX_S64_SHIFT = 14


def lower_conv2d_s16(op: Operator, ctx: LoweringContext) -> Lowered:
    return _lower(op, ctx, depthwise=False)


def lower_depthwise_conv2d_s16(op: Operator, ctx: LoweringContext) -> Lowered:
    return _lower(op, ctx, depthwise=True)


def require_s64_shifts(ctx: LoweringContext, op: Operator, shifts: list[int]) -> None:
    """The 16x8 kernels' requantization takes shifts up to MAX_S64_SHIFT (real multipliers below 2^14)."""
    if max(shifts, default=0) > MAX_S64_SHIFT:
        raise ctx.fail(op, f"the output scale is too small for the input and weight scales (a requantization "
                           f"multiplier of 2^{max(shifts) - 1} or more); re-quantize the model")


def _lower(op: Operator, ctx: LoweringContext, depthwise: bool) -> Lowered:
    x, w, bias, y = weighted_operands(ctx, op, "filter", 3 if depthwise else 0, activations="int16")
    check_filter_shape(op, ctx, x, w, y, depthwise)
    geometry, mults, shifts, _, _ = conv_setup(op, ctx, x, w, y)
    require_s64_shifts(ctx, op, shifts)
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, y.zero_point, INT16_MIN, INT16_MAX)
    kernel = "depthwise_conv2d_s16" if depthwise else "conv2d_s16"
    variant = Variant(f"tm_{kernel}", f"convolution/{kernel}.c")
    p = f"op{op.index}"
    decls = conv_decls(p, x, w, y, geometry, mults, shifts, y.shape[3] // x.shape[3], 0, act_min, act_max)
    call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_q"), Ref(f"{p}_in"), ctx.data(x), Ref(f"{p}_filter"),
                                 ctx.const(w), ctx.const(bias) if bias is not None else NULL, Ref(f"{p}_out"),
                                 ctx.activation(y)))
    return Lowered(kernels=(variant.source,), decls=decls, calls=(call,), variant=variant)
