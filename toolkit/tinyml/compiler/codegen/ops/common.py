"""Checks and helpers shared by operator lowerings."""
from __future__ import annotations

from tinyml.compiler.codegen.context import LoweringContext, dims4
from tinyml.compiler.codegen.lowered import Decl
from tinyml.compiler.ir.graph import Operator, Tensor


def require_int8(ctx: LoweringContext, op: Operator, *tensors: Tensor) -> None:
    for t in tensors:
        if t.dtype != "int8" or t.quant is None:
            raise ctx.fail(op, f"tensor {t.index} '{t.name}' is {t.dtype}"
                               f"{'' if t.quant else ' without quantization'}; only int8 activations are supported")


def require_int16(ctx: LoweringContext, op: Operator, *tensors: Tensor) -> None:
    """16x8 activations: int16, quantized, symmetric (zero point 0), as TFLite's int16 kernels require."""
    for t in tensors:
        if t.dtype != "int16" or t.quant is None:
            raise ctx.fail(op, f"tensor {t.index} '{t.name}' is {t.dtype}"
                               f"{'' if t.quant else ' without quantization'}; this operator's other activations "
                               "are int16 (16x8), so this one must be too")
        if any(z != 0 for z in t.quant.zero_point):
            raise ctx.fail(op, f"int16 tensor {t.index} '{t.name}' has zero point {t.zero_point}; int16 activations "
                               "must be symmetric (zero point 0): quantize with `tinyml quantize --activations int16`")


def activation_dtype(ctx: LoweringContext, op: Operator, *tensors: Tensor) -> str:
    """The activation type of an operator with an int8 and a 16x8 kernel: "int16" when its first tensor is int16
    (then every tensor is checked with `require_int16`), else "int8" (checked with `require_int8`)."""
    if tensors and tensors[0].dtype == "int16":
        require_int16(ctx, op, *tensors)
        return "int16"
    require_int8(ctx, op, *tensors)
    return "int8"


def require_const(ctx: LoweringContext, op: Operator, t: Tensor, what: str) -> None:
    if not t.is_constant:
        raise ctx.fail(op, f"{what} '{t.name}' must be a constant tensor")


def weighted_operands(ctx: LoweringContext, op: Operator, weights: str, out_channels_axis: int,
                      activations: str = "int8") -> tuple[Tensor, Tensor, Tensor | None, Tensor]:
    """Input, constant symmetric int8 weights, optional constant bias (one per output channel), output. The bias is
    int32 with int8 `activations`, int64 with int16 ones (16x8, as the TFLite converter emits it)."""
    x, w, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 0, outputs=True)
    bias = ctx.tensor(op, 2) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    (require_int16 if activations == "int16" else require_int8)(ctx, op, x, y)
    require_int8(ctx, op, w)
    require_const(ctx, op, w, weights)
    if any(z != 0 for z in w.quant.zero_point):
        raise ctx.fail(op, f"{weights} '{w.name}' has a nonzero zero point; int8 weights must be symmetric")
    if not -len(w.shape) <= out_channels_axis < len(w.shape):
        raise ctx.fail(op, f"{weights} '{w.name}' has shape {list(w.shape)}")
    out_channels = w.shape[out_channels_axis]
    if w.quant.per_channel and len(w.quant.scale) != out_channels:
        raise ctx.fail(op, f"{weights} '{w.name}' has {len(w.quant.scale)} scales for {out_channels} channels")
    if bias is not None:
        require_const(ctx, op, bias, "bias")
        bias_dtype = "int64" if activations == "int16" else "int32"
        if bias.dtype != bias_dtype:
            raise ctx.fail(op, f"bias '{bias.name}' is {bias.dtype}; with {activations} activations only "
                               f"{bias_dtype} bias is supported")
        if bias.size != out_channels:
            raise ctx.fail(op, f"bias '{bias.name}' has {bias.size} values for {out_channels} output channels")
    return x, w, bias, y


def require_same_quant(ctx: LoweringContext, op: Operator, a: Tensor, b: Tensor) -> None:
    if a.scale != b.scale or a.zero_point != b.zero_point:
        raise ctx.fail(op, f"input '{a.name}' and output '{b.name}' must share scale and zero point")


def padding_before(in_size: int, out_size: int, stride: int, dilation: int, kernel: int, same: bool) -> int:
    """TFLite's padding for SAME (the extra odd pixel goes after) and VALID (none)."""
    if not same:
        return 0
    effective = (kernel - 1) * dilation + 1
    total = max((out_size - 1) * stride + effective - in_size, 0)
    return total // 2


def check_spatial_output(ctx: LoweringContext, op: Operator, x: Tensor, y: Tensor, kernel: tuple[int, int],
                         stride: tuple[int, int], dilation: tuple[int, int], same: bool) -> None:
    """The output height and width must be what TFLite computes from the input, kernel, stride and padding."""
    expected = []
    for d in (0, 1):
        effective = (kernel[d] - 1) * dilation[d] + 1
        size = x.shape[1 + d]
        expected.append((size + stride[d] - 1) // stride[d] if same else (size - effective + stride[d]) // stride[d])
    if y.shape[0] != x.shape[0] or list(y.shape[1:3]) != expected or min(expected) < 1:
        raise ctx.fail(op, f"output shape {list(y.shape)} does not follow from input {list(x.shape)}, kernel "
                           f"{list(kernel)}, stride {list(stride)} and padding {'SAME' if same else 'VALID'}")


def require_same_size(ctx: LoweringContext, op: Operator, x: Tensor, y: Tensor) -> None:
    if x.size != y.size:
        raise ctx.fail(op, f"input {list(x.shape)} and output {list(y.shape)} differ in size")


def broadcast_strides(a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...]) -> str:
    """C initializer of tm_broadcast for two inputs broadcast to `out` (rank <= 4)."""

    out4 = dims4(out)

    def strides(shape: tuple[int, ...]) -> list[int]:
        s4 = dims4(shape)
        result, step = [0, 0, 0, 0], 1
        for d in range(3, -1, -1):
            result[d] = 0 if s4[d] == 1 and out4[d] != 1 else step
            step *= s4[d]
        return result

    sa, sb = strides(a), strides(b)
    return (f"{{{{{', '.join(map(str, out4))}}}, {{{', '.join(map(str, sa))}}}, "
            f"{{{', '.join(map(str, sb))}}}}}")


def dims_decls(p: str, x: Tensor, w: Tensor, y: Tensor) -> tuple[Decl, ...]:
    """The tm_dims of a convolution's input, filter and output."""
    return tuple(Decl("tm_dims", f"{p}_{name}", dims4(t.shape)) for name, t in (("in", x), ("filter", w), ("out", y)))


def require_version(ctx: LoweringContext, op: Operator, accepted: tuple[int, ...], t: Tensor) -> None:
    """Refuse operator versions tinyml was not tested on (a newer converter may change the semantics)."""
    if op.version not in accepted:
        raise ctx.fail(op, f"{op.opcode} version {op.version} (output tensor {t.index} '{t.name}') is not supported; "
                           f"tinyml compiles {op.opcode} version {', '.join(map(str, accepted))}")
