"""CONV_2D and DEPTHWISE_CONV_2D."""
from __future__ import annotations

from tinyml.compiler.codegen import variants
from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import NULL, Call, Decl, Lowered, Ref
from tinyml.compiler.codegen.ops import dsp, mve
from tinyml.compiler.codegen.ops.common import check_spatial_output, dims_decls, padding_before, weighted_operands
from tinyml.compiler.codegen.quant import activation_range, quantize_multiplier
from tinyml.compiler.ir.graph import Operator, Tensor


def lower_conv2d(op: Operator, ctx: LoweringContext) -> Lowered:
    return _lower(op, ctx, depthwise=False)


def lower_depthwise_conv2d(op: Operator, ctx: LoweringContext) -> Lowered:
    return _lower(op, ctx, depthwise=True)


def _lower(op: Operator, ctx: LoweringContext, depthwise: bool) -> Lowered:
    x, w, bias, y = weighted_operands(ctx, op, "filter", 3 if depthwise else 0)
    check_filter_shape(op, ctx, x, w, y, depthwise)
    out_c = y.shape[3]
    geometry, mults, shifts, act_min, act_max = conv_setup(op, ctx, x, w, y)
    variant = (variants.depthwise_conv2d if depthwise else variants.conv2d)(op, ctx, x, w)
    vector_channels = out_c // 8 * 8 if depthwise else 0
    if variant.kernel == "tm_conv2d_s8_dsp":  # SIMD variants (tinyml.compiler.codegen.ops.dsp), same bytes out
        return dsp.lower_conv2d(op, ctx, variant, x, w, bias, y, mults, shifts, geometry, act_min, act_max)
    if variant.kernel == "tm_depthwise_conv2d_s8_dsp":
        return dsp.lower_depthwise_conv2d(op, ctx, variant, x, w, bias, y, mults, shifts, geometry,
                                          vector_channels, act_min, act_max)
    p = f"op{op.index}"
    decls = conv_decls(p, x, w, y, geometry, mults, shifts, out_c // x.shape[3], vector_channels, act_min, act_max)
    if variant.kernel in mve.KERNELS:  # Helium (tinyml.compiler.codegen.ops.mve), same bytes out
        return mve.lower_conv2d(op, ctx, variant, x, w, bias, y, decls)
    call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_q"), Ref(f"{p}_in"), ctx.data(x), Ref(f"{p}_filter"),
                                 ctx.const(w), ctx.const(bias) if bias is not None else NULL, Ref(f"{p}_out"),
                                 ctx.activation(y)))
    return Lowered(kernels=(variant.source,), decls=decls, calls=(call,), variant=variant)


def check_filter_shape(op: Operator, ctx: LoweringContext, x: Tensor, w: Tensor, y: Tensor, depthwise: bool) -> None:
    """4-D input, filter and output whose channels fit a standard (filter [out_c, kh, kw, in_c]) or depthwise
    (filter [1, kh, kw, out_c], out_c a multiple of in_c) convolution."""
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise ctx.fail(op, "expects 4-D input, filter and output")
    out_c = y.shape[3]
    if depthwise:
        if w.shape[0] != 1 or w.shape[3] != out_c or out_c % x.shape[3] != 0:
            raise ctx.fail(op, f"filter shape {list(w.shape)} does not fit input {list(x.shape)} / output "
                               f"{list(y.shape)}")
    elif w.shape[0] != out_c or w.shape[3] != x.shape[3]:
        raise ctx.fail(op, f"filter shape {list(w.shape)} does not fit input {list(x.shape)} (grouped convolution "
                           "is not supported)")


def conv_setup(op: Operator, ctx: LoweringContext, x: Tensor, w: Tensor, y: Tensor
               ) -> tuple[tuple[int, int, int, int, int, int], list[int], list[int], int, int]:
    """A convolution writing `y`: geometry (stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w), checked
    against the shapes; per-output-channel multipliers and shifts (in double, as TFLite); fused activation range."""
    stride_h, stride_w = ctx.option(op, "strideH", minimum=1), ctx.option(op, "strideW", minimum=1)
    dil_h, dil_w = ctx.option(op, "dilationHFactor", 1, 1), ctx.option(op, "dilationWFactor", 1, 1)
    same = ctx.padding_same(op)
    check_spatial_output(ctx, op, x, y, (w.shape[1], w.shape[2]), (stride_h, stride_w), (dil_h, dil_w), same)
    pad_h = padding_before(x.shape[1], y.shape[1], stride_h, dil_h, w.shape[1], same)
    pad_w = padding_before(x.shape[2], y.shape[2], stride_w, dil_w, w.shape[2], same)
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, y.zero_point)
    mults, shifts = [], []
    for c in range(y.shape[3]):
        w_scale = w.quant.scale[c] if w.quant.per_channel else w.quant.scale[0]
        m, s = quantize_multiplier(x.scale * w_scale / y.scale)
        mults.append(m)
        shifts.append(s)
    return (stride_h, stride_w, dil_h, dil_w, pad_h, pad_w), mults, shifts, act_min, act_max


def conv_decls(p: str, x: Tensor, w: Tensor, y: Tensor, geometry: tuple[int, ...], mults: list[int],
               shifts: list[int], depth_multiplier: int, vector_channels: int, act_min: int, act_max: int
               ) -> tuple[Decl, ...]:
    """The portable kernels' static parameters: requantization, tm_conv_params and the three tm_dims."""
    out_c = y.shape[3]
    return (
        Decl("int32_t", f"{p}_mult", tuple(mults), out_c),
        Decl("int32_t", f"{p}_shift", tuple(shifts), out_c),
        Decl("tm_channel_quant", f"{p}_q", (f"{p}_mult", f"{p}_shift")),
        Decl("tm_conv_params", f"{p}_params", (*geometry, depth_multiplier, vector_channels, -x.zero_point,
                                                y.zero_point, act_min, act_max)),
        *dims_decls(p, x, w, y),
    )

