"""Helium (MVE, Cortex-M55) convolution variants: `variants.conv2d` picks them per layer, statically, and each
computes the portable kernel's bytes. Both have tm_conv2d_s8's signature, so that the in-place pass can run them a
few rows (pixels) at a time (`tm_conv_inplace_s8`): the M55 keeps the DSP path's arena. The input offset is folded
into the bias here, as both kernels expect.

- A pointwise convolution (1x1 filter, stride 1; padding and dilation then change nothing) is a fully connected
  layer over every pixel: out[p, oc] = sum_ic in[p, ic] * w[oc, ic], the NHWC tensors already [pixels, channels] and
  the filter [out_c, 1, 1, in_c] already [out_c, in_c]. `tm_conv2d_1x1_s8_mve` runs `tm_fully_connected_s8_mve`
  (16 products per VMLADAVA, four output channels per input vector) over the pixels.
- Any other convolution at dilation 1 with at least 16 bytes per filter row (`tm_conv2d_s8_mve`): per output pixel
  and filter row, the taps are one contiguous span of the input and of each channel's weights, the same dot
  products.

Depthwise, dilated and few-channel convolutions keep their DSP variants on the M55."""
from __future__ import annotations

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Call, Decl, Lowered, Ref, Sym, Variant
from tinyml.compiler.codegen.ops.dsp import folded_bias
from tinyml.compiler.ir.graph import Operator, Tensor

POINTWISE_KERNEL = "tm_conv2d_1x1_s8_mve"
CONV_KERNEL = "tm_conv2d_s8_mve"
KERNELS = (POINTWISE_KERNEL, CONV_KERNEL)
MIN_SPAN = 16  # bytes of one filter row's taps: one VMLADAVA's worth
FC_SOURCE = "fully_connected/fully_connected_s8_mve.c"  # the kernel tm_conv2d_1x1_s8_mve runs


def is_pointwise(ctx: LoweringContext, op: Operator, w: Tensor) -> bool:
    """A 1x1 filter at stride 1: output pixel p is the dot products of input pixel p alone."""
    return w.shape[1] == w.shape[2] == 1 and ctx.option(op, "strideH", minimum=1) == 1 \
        and ctx.option(op, "strideW", minimum=1) == 1


def spans_fill_vectors(ctx: LoweringContext, op: Operator, x: Tensor, w: Tensor) -> bool:
    """Dilation 1, so that a filter row's taps are one span of the input, and spans (kw * in_c bytes) of at least one
    whole vector: shorter ones (KWS's first layer: 4 bytes, VWW's and IC's: 9) cost a predicated VMLADAVA and its
    loop per filter row, more than the DSP variant's im2col (measured with scripts/bench_mve.py)."""
    return ctx.option(op, "dilationHFactor", 1, 1) == 1 and ctx.option(op, "dilationWFactor", 1, 1) == 1 \
        and w.shape[2] * x.shape[3] >= MIN_SPAN


def lower_conv2d(op: Operator, ctx: LoweringContext, variant: Variant, x: Tensor, w: Tensor, bias: Tensor | None,
                 y: Tensor, decls: tuple[Decl, ...]) -> Lowered:
    """The call of `variant` (one of KERNELS) with the portable kernel's declarations `decls` (conv_decls) and the
    bias with the input offset folded in."""
    p = f"op{op.index}"
    out_c = y.shape[3]
    folded = ctx.derived_const(f"{p}_bias", "int32_t", folded_bias(w.data.reshape(out_c, -1), bias, x.zero_point))
    call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_q"), Ref(f"{p}_in"), ctx.data(x), Ref(f"{p}_filter"),
                                 ctx.const(w), Sym(folded.name), Ref(f"{p}_out"), ctx.activation(y)))
    kernels = (variant.source, FC_SOURCE) if variant.kernel == POINTWISE_KERNEL else (variant.source,)
    return Lowered(kernels=kernels, decls=decls, calls=(call,), variant=variant, derived=(folded,))
