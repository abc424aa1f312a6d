"""One function per operator kind with several kernels chooses the kernel variant, from the target, the shapes
and whether the operator must use its smallest scratch (`LoweringContext.low_scratch`, set by the compiler where
the memory peaks). The lowering builds the call the choice names; the in-place and low-scratch passes read the
choice (`Lowered.variant`), never kernel names."""
from __future__ import annotations

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Variant
from tinyml.compiler.codegen.ops import mve
from tinyml.compiler.codegen.scratch import (
    TM_AVG_POOL_DSP_MAX_WINDOW,
    TM_CONV_DIRECT_MAX_TAPS,
    TM_DSP_CHANNEL_GROUP,
    TM_DW_MAX_TAPS,
)
from tinyml.compiler.ir.graph import Operator, Tensor

PORTABLE_INPLACE = "tm_conv_inplace_s8"    # runs a kernel of tm_conv2d_s8's signature row by row, in place
DSP_INPLACE = "tm_conv_inplace_dsp_s8"     # runs a DSP row-range kernel in place


def _direct_possible(x: Tensor, w: Tensor) -> bool:
    """The im2col-free DSP convolution: whole words of channels per tap, at most TM_CONV_DIRECT_MAX_TAPS taps."""
    return x.shape[3] % TM_DSP_CHANNEL_GROUP == 0 and w.shape[1] * w.shape[2] <= TM_CONV_DIRECT_MAX_TAPS


def _conv_dsp_mode(op: Operator, ctx: LoweringContext, x: Tensor, w: Tensor) -> tuple[str, bool]:
    """(mode, smaller_scratch): im2col, unless the operator must use its smallest scratch and direct is possible."""
    direct = _direct_possible(x, w)
    if op.index in ctx.low_scratch and direct:
        return "direct", False
    return "im2col", direct


def conv2d(op: Operator, ctx: LoweringContext, x: Tensor, w: Tensor) -> Variant:
    if ctx.target.mve and mve.is_pointwise(ctx, op, w):  # Helium: a fully connected layer over every pixel
        return Variant(mve.POINTWISE_KERNEL, "convolution/conv2d_1x1_s8_mve.c", row_kernel=mve.POINTWISE_KERNEL,
                       inplace_driver=PORTABLE_INPLACE)
    if ctx.target.mve and mve.spans_fill_vectors(ctx, op, x, w):  # Helium: a dot product per filter row
        return Variant(mve.CONV_KERNEL, "convolution/conv2d_s8_mve.c", row_kernel=mve.CONV_KERNEL,
                       inplace_driver=PORTABLE_INPLACE)
    if not ctx.target.dsp:
        return Variant("tm_conv2d_s8", "convolution/conv2d_s8.c", row_kernel="tm_conv2d_s8",
                       inplace_driver=PORTABLE_INPLACE)
    mode, smaller = _conv_dsp_mode(op, ctx, x, w)
    return Variant("tm_conv2d_s8_dsp", "convolution/conv2d_s8_dsp.c", mode, smaller,
                   row_kernel="tm_conv2d_s8_dsp_rows", inplace_driver=DSP_INPLACE)


def depthwise_conv2d(op: Operator, ctx: LoweringContext, x: Tensor, w: Tensor) -> Variant:
    if ctx.target.dsp and w.shape[3] == x.shape[3] and x.shape[3] % TM_DSP_CHANNEL_GROUP == 0 \
            and w.shape[1] * w.shape[2] <= TM_DW_MAX_TAPS:
        return Variant("tm_depthwise_conv2d_s8_dsp", "convolution/depthwise_conv2d_s8_dsp.c",
                       row_kernel="tm_depthwise_conv2d_s8_dsp_rows", inplace_driver=DSP_INPLACE)
    return Variant("tm_depthwise_conv2d_s8", "convolution/depthwise_conv2d_s8.c", row_kernel="tm_depthwise_conv2d_s8",
                   inplace_driver=PORTABLE_INPLACE)


def conv2d_add(op: Operator, ctx: LoweringContext, x: Tensor, w: Tensor) -> Variant:
    if not ctx.target.dsp:
        return Variant("tm_conv2d_add_s8", "convolution/conv2d_add_s8.c")
    mode, smaller = _conv_dsp_mode(op, ctx, x, w)
    return Variant("tm_conv2d_add_s8_dsp", "convolution/conv2d_s8_dsp.c", mode, smaller)


def fully_connected(op: Operator, ctx: LoweringContext) -> Variant:
    if ctx.target.mve:  # Helium: 16 products per instruction, the int8 weights as they are, no scratch
        return Variant("tm_fully_connected_s8_mve", "fully_connected/fully_connected_s8_mve.c")
    if not ctx.target.dsp:
        return Variant("tm_fully_connected_s8", "fully_connected/fully_connected_s8.c")
    direct = op.index in ctx.low_scratch  # no scratch: the input widened on the fly
    return Variant("tm_fully_connected_s8_dsp", "fully_connected/fully_connected_s8_dsp.c",
                   "direct" if direct else "scratch", smaller_scratch=not direct)


def average_pool2d(op: Operator, ctx: LoweringContext, x: Tensor) -> Variant:
    window = ctx.option(op, "filterHeight", minimum=1) * ctx.option(op, "filterWidth", minimum=1)
    if ctx.target.dsp and len(x.shape) == 4 and x.shape[3] % TM_DSP_CHANNEL_GROUP == 0 \
            and window <= TM_AVG_POOL_DSP_MAX_WINDOW:
        return Variant("tm_avg_pool2d_s8_dsp", "pooling/avg_pool2d_s8_dsp.c")
    return Variant("tm_avg_pool2d_s8", "pooling/avg_pool2d_s8.c")
