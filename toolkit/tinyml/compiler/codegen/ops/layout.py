"""Operators that move or convert bytes: RESHAPE (and SQUEEZE, EXPAND_DIMS), CONCATENATION, PAD, QUANTIZE,
DEQUANTIZE."""
from __future__ import annotations

import numpy as np

from tinyml.compiler.codegen.context import LoweringContext, c_float, dims4
from tinyml.compiler.codegen.lowered import Call, Decl, Lit, Loop, Lowered, Offset, Ref, Sym
from tinyml.compiler.codegen.ops.activation import lower_requantize
from tinyml.compiler.codegen.ops.common import require_int8, require_same_quant, require_same_size
from tinyml.compiler.ir.graph import Operator

F32 = np.float32


def lower_reshape(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    if x.nbytes != y.nbytes or x.dtype != y.dtype:
        raise ctx.fail(op, f"reshapes {list(x.shape)} {x.dtype} into {list(y.shape)} {y.dtype}: sizes differ")
    if x.is_constant:
        return Lowered(kernels=("reshape/copy.c",),
                       calls=(Call("tm_copy", (ctx.const(x), Lit(x.nbytes), ctx.activation(y))),))
    return Lowered(alias_input=x.index)  # no code: the output shares the input's bytes


def lower_concatenation(op: Operator, ctx: LoweringContext) -> Lowered:
    y = ctx.tensor(op, 0, outputs=True)
    xs = [ctx.tensor(op, i) for i in range(len(op.inputs))]
    require_int8(ctx, op, y, *xs)
    for x in xs:
        require_same_quant(ctx, op, x, y)
    if ctx.fused_activation(op) != 0:
        raise ctx.fail(op, "fused activation on CONCATENATION is not supported")
    axis = ctx.option(op, "axis", 0)
    axis = axis + len(y.shape) if axis < 0 else axis
    if not 0 <= axis < len(y.shape) or any(len(x.shape) != len(y.shape) for x in xs):
        raise ctx.fail(op, f"axis {axis} does not fit the shapes")
    if sum(x.shape[axis] for x in xs) != y.shape[axis]:
        raise ctx.fail(op, "input sizes along the axis do not add up to the output's")
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    inner = int(np.prod(y.shape[axis + 1:], dtype=np.int64))
    chunks = [x.shape[axis] * inner for x in xs]
    copies, at = [], 0
    for x, chunk in zip(xs, chunks, strict=True):  # per outer index, each input's chunk to its place in the output's
        copies.append(Call("tm_copy", (Offset(ctx.data(x), 0, chunk), Lit(chunk),
                                       Offset(ctx.activation(y), at, sum(chunks)))))
        at += chunk
    return Lowered(kernels=("reshape/copy.c",), calls=(Loop(outer, tuple(copies)),))


def lower_pad(op: Operator, ctx: LoweringContext) -> Lowered:
    x, pads, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 0, outputs=True)
    require_int8(ctx, op, x, y)
    require_same_quant(ctx, op, x, y)
    if not pads.is_constant:
        raise ctx.fail(op, "paddings must be a constant tensor")
    value = y.zero_point
    if op.opcode == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        v = ctx.tensor(op, 2)
        if not v.is_constant:
            raise ctx.fail(op, "the pad value must be a constant tensor")
        value = int(v.data.reshape(-1)[0])
    if len(x.shape) > 4:
        raise ctx.fail(op, "rank > 4 is not supported")
    if pads.data.shape != (len(x.shape), 2) or len(y.shape) != len(x.shape):
        raise ctx.fail(op, f"paddings {list(pads.data.shape)} do not fit input {list(x.shape)}")
    if any(int(lo) < 0 or int(hi) < 0 or x.shape[d] + int(lo) + int(hi) != y.shape[d]
           for d, (lo, hi) in enumerate(pads.data)):
        raise ctx.fail(op, f"input {list(x.shape)} padded by {pads.data.tolist()} is not the output {list(y.shape)}")
    lead = 4 - len(x.shape)
    before = [0] * lead + [int(v) for v in pads.data[:, 0]]
    p = f"op{op.index}"
    decls = (Decl("tm_dims", f"{p}_in", dims4(x.shape)), Decl("tm_dims", f"{p}_out", dims4(y.shape)),
             Decl("int32_t", f"{p}_before", tuple(before), 4))
    call = Call("tm_pad_s8", (Ref(f"{p}_in"), Sym(f"{p}_before"), Lit(value), ctx.data(x), Ref(f"{p}_out"),
                              ctx.activation(y)))
    return Lowered(kernels=("reshape/pad_s8.c",), decls=decls, calls=(call,))


QUANTIZE_BLOCK = 8  # TFLite's SIMD float -> int8 and int16 quantize works on whole blocks of 8


def lower_quantize(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    if x.dtype == "int8":
        return lower_requantize(op, ctx)
    if x.dtype != "float32" or y.dtype not in ("int8", "int16") or y.quant is None:
        raise ctx.fail(op, f"quantizes {x.dtype} to {y.dtype}; only float32 -> int8, float32 -> int16 and "
                           "int8 -> int8 are supported")
    require_same_size(ctx, op, x, y)
    # TFLite's SIMD blocks of 8 round differently from its scalar tail (see the kernels)
    blocks = x.size // QUANTIZE_BLOCK * QUANTIZE_BLOCK
    kernel = "tm_quantize_f32_s16" if y.dtype == "int16" else "tm_quantize_f32_s8"
    call = Call(kernel, (ctx.data(x), Lit(x.size), Lit(blocks), Lit(c_float(F32(y.scale))), Lit(y.zero_point),
                         ctx.activation(y)))
    return Lowered(kernels=(f"activation/{kernel.removeprefix('tm_')}.c",), calls=(call,))


DEQUANTIZE_BLOCK = 8  # TFLite's SIMD dequantize works on whole blocks of 8 as q * scale + (-zp * scale)


def lower_dequantize(op: Operator, ctx: LoweringContext) -> Lowered:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    if x.dtype not in ("int8", "int16") or y.dtype != "float32" or x.quant is None:
        raise ctx.fail(op, f"dequantizes {x.dtype} to {y.dtype}; only int8 -> float32 and int16 -> float32 are "
                           "supported")
    require_same_size(ctx, op, x, y)
    if x.dtype == "int16":
        call = Call("tm_dequantize_s16_f32", (ctx.data(x), Lit(x.size), Lit(c_float(F32(x.scale))),
                                              Lit(x.zero_point), ctx.activation(y)))
        return Lowered(kernels=("activation/dequantize_s16_f32.c",), calls=(call,))
    blocks = x.size // DEQUANTIZE_BLOCK * DEQUANTIZE_BLOCK
    call = Call("tm_dequantize_s8_f32", (ctx.data(x), Lit(x.size), Lit(blocks), Lit(c_float(F32(x.scale))),
                                         Lit(x.zero_point), ctx.activation(y)))
    return Lowered(kernels=("activation/dequantize_s8_f32.c",), calls=(call,))
