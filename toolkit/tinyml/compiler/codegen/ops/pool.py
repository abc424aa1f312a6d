"""AVERAGE_POOL_2D and MAX_POOL_2D, int8 and int16 (16x8 models)."""
from __future__ import annotations

from tinyml.compiler.codegen import variants
from tinyml.compiler.codegen.context import LoweringContext, dims4
from tinyml.compiler.codegen.lowered import Call, Decl, Lowered, Ref, Variant
from tinyml.compiler.codegen.ops.common import (
    check_spatial_output,
    padding_before,
    require_int8,
    require_int16,
    require_same_quant,
)
from tinyml.compiler.codegen.quant import INT8_MAX, INT8_MIN, INT16_MAX, INT16_MIN, activation_range
from tinyml.compiler.ir.graph import Operator


def lower_average_pool2d(op: Operator, ctx: LoweringContext) -> Lowered:
    return _lower(op, ctx, variants.average_pool2d(op, ctx, ctx.tensor(op, 0)))


def lower_max_pool2d(op: Operator, ctx: LoweringContext) -> Lowered:
    return _lower(op, ctx, Variant("tm_max_pool2d_s8", "pooling/max_pool2d_s8.c"))


def lower_average_pool2d_s16(op: Operator, ctx: LoweringContext) -> Lowered:
    """16x8 models' int16 average pooling (TFLite's reference int16 AveragePool, portable only)."""
    return _lower(op, ctx, Variant("tm_avg_pool2d_s16", "pooling/avg_pool2d_s16.c"), "int16")


def lower_max_pool2d_s16(op: Operator, ctx: LoweringContext) -> Lowered:
    return _lower(op, ctx, Variant("tm_max_pool2d_s16", "pooling/max_pool2d_s16.c"), "int16")


def _lower(op: Operator, ctx: LoweringContext, variant: Variant, dtype: str = "int8") -> Lowered:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    (require_int16 if dtype == "int16" else require_int8)(ctx, op, x, y)
    require_same_quant(ctx, op, x, y)
    if len(x.shape) != 4:
        raise ctx.fail(op, "expects a 4-D input")
    same = ctx.padding_same(op)
    stride_h, stride_w = ctx.option(op, "strideH", minimum=1), ctx.option(op, "strideW", minimum=1)
    filter_h, filter_w = ctx.option(op, "filterHeight", minimum=1), ctx.option(op, "filterWidth", minimum=1)
    if len(y.shape) != 4 or y.shape[3] != x.shape[3]:
        raise ctx.fail(op, f"output shape {list(y.shape)} does not fit input {list(x.shape)}")
    check_spatial_output(ctx, op, x, y, (filter_h, filter_w), (stride_h, stride_w), (1, 1), same)
    pad_h = padding_before(x.shape[1], y.shape[1], stride_h, 1, filter_h, same)
    pad_w = padding_before(x.shape[2], y.shape[2], stride_w, 1, filter_w, same)
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, y.zero_point,
                                        *((INT16_MIN, INT16_MAX) if dtype == "int16" else (INT8_MIN, INT8_MAX)))
    p = f"op{op.index}"
    decls = (
        Decl("tm_pool_params", f"{p}_params", (stride_h, stride_w, filter_h, filter_w, pad_h, pad_w, act_min, act_max)),
        Decl("tm_dims", f"{p}_in", dims4(x.shape)),
        Decl("tm_dims", f"{p}_out", dims4(y.shape)),
    )
    call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_in"), ctx.data(x), Ref(f"{p}_out"), ctx.activation(y)))
    return Lowered(kernels=(variant.source,), decls=decls, calls=(call,), variant=variant)
