"""TRANSPOSE_CONV (int8, per-channel weights, optional bias), as the TFLite converter writes it for Keras
Conv2DTranspose and ONNX ConvTranspose: inputs (output shape, filter [O, KH, KW, I], input, bias), options padding
and strides (versions 2 without bias, 3 with), a fused activation (version 4, what today's converter writes).

The padding is TFLite's: that of a convolution from the transposed convolution's output size back to the size the
padding mode gives (ComputePaddingHeightWidth with the output as the "input"), before-half only, whatever the actual
input size. The kernel (`tm_transpose_conv2d_s8`) gathers each output's taps instead of scattering each input into
an int32 scratch as TFLite does: the same integer sums, no scratch. The interpreter's x86 build requantizes the
channels that fill whole blocks of 8 with its SIMD output stage (ties rounded up) and the rest with
MultiplyByQuantizedMultiplier (ties away from zero): `vector_channels` carries that split, checked against it on
random shapes."""
from __future__ import annotations

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import NULL, Call, Lowered, Ref
from tinyml.compiler.codegen.ops.common import require_const, require_int8, require_version
from tinyml.compiler.codegen.ops.conv import conv_decls
from tinyml.compiler.codegen.quant import activation_range, quantize_multiplier
from tinyml.compiler.ir.graph import Operator

SIMD_BLOCK = 8  # channels per block of the interpreter's vectorised output stage


def transpose_padding(out_size: int, kernel: int, stride: int, same: bool) -> int:
    """Padding before, along one dimension, as TFLite's TRANSPOSE_CONV computes it from its output size."""
    computed = (out_size + stride - 1) // stride if same else (out_size + stride - kernel) // stride
    return max((computed - 1) * stride + kernel - out_size, 0) // 2


def lower_transpose_conv(op: Operator, ctx: LoweringContext) -> Lowered:
    shape, w, x, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 2), ctx.tensor(op, 0, outputs=True)
    require_version(ctx, op, (2, 3, 4), y)
    bias = ctx.tensor(op, 3) if len(op.inputs) > 3 and op.inputs[3] >= 0 else None
    require_int8(ctx, op, x, w, y)
    require_const(ctx, op, shape, "output shape")
    require_const(ctx, op, w, "filter")
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise ctx.fail(op, "expects 4-D input, filter and output")
    out_c = y.shape[3]
    if [int(v) for v in shape.data.reshape(-1)] != list(y.shape) or w.shape[0] != out_c or w.shape[3] != x.shape[3] \
            or y.shape[0] != x.shape[0]:
        raise ctx.fail(op, f"output shape {[int(v) for v in shape.data.reshape(-1)]}, output {list(y.shape)}, filter "
                           f"{list(w.shape)} and input {list(x.shape)} do not fit together")
    if any(z != 0 for z in w.quant.zero_point) or (w.quant.per_channel and len(w.quant.scale) != out_c):
        raise ctx.fail(op, f"filter '{w.name}' must be symmetric int8 with one scale or one per output channel")
    if bias is not None:
        require_const(ctx, op, bias, "bias")
        if bias.dtype != "int32" or bias.size != out_c:
            raise ctx.fail(op, f"bias '{bias.name}' must be {out_c} int32 values")
    stride_h, stride_w = ctx.option(op, "strideH", minimum=1), ctx.option(op, "strideW", minimum=1)
    same = ctx.padding_same(op)
    pad_h = transpose_padding(y.shape[1], w.shape[1], stride_h, same)
    pad_w = transpose_padding(y.shape[2], w.shape[2], stride_w, same)
    mults, shifts = [], []
    for c in range(out_c):
        m, s = quantize_multiplier(x.scale * (w.quant.scale[c] if w.quant.per_channel else w.quant.scale[0]) / y.scale)
        mults.append(m)
        shifts.append(s)
    p = f"op{op.index}"
    decls = conv_decls(p, x, w, y, (stride_h, stride_w, 1, 1, pad_h, pad_w), mults, shifts, 1,
                       out_c // SIMD_BLOCK * SIMD_BLOCK, *activation_range(ctx.fused_activation(op), y.scale,
                                                                          y.zero_point))
    call = Call("tm_transpose_conv2d_s8", (Ref(f"{p}_params"), Ref(f"{p}_q"), Ref(f"{p}_in"), ctx.data(x),
                                           Ref(f"{p}_filter"), ctx.const(w),
                                           ctx.const(bias) if bias is not None else NULL, Ref(f"{p}_out"),
                                           ctx.activation(y)))
    return Lowered(kernels=("convolution/transpose_conv2d_s8.c",), decls=decls, calls=(call,))
