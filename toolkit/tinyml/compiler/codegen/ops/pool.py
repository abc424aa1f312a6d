"""AVERAGE_POOL_2D and MAX_POOL_2D."""
from __future__ import annotations

from tinyml.compiler.codegen.context import Lowered, LoweringContext, dims4
from tinyml.compiler.codegen.ops.common import check_spatial_output, padding_before, require_int8, require_same_quant
from tinyml.compiler.codegen.quant import activation_range
from tinyml.compiler.ir.graph import Operator


AVG_POOL_DSP_MAX_WINDOW = 255  # TM_AVG_POOL_DSP_MAX_WINDOW: window sums exact in 16-bit lanes


def lower_average_pool2d(op: Operator, ctx: LoweringContext) -> Lowered:
    x = ctx.tensor(op, 0)
    window = ctx.option(op, "filterHeight", minimum=1) * ctx.option(op, "filterWidth", minimum=1)
    if ctx.target.dsp and len(x.shape) == 4 and x.shape[3] % 4 == 0 and window <= AVG_POOL_DSP_MAX_WINDOW:
        return _lower(op, ctx, "avg_pool2d_s8_dsp")
    return _lower(op, ctx, "avg_pool2d_s8")


def lower_max_pool2d(op: Operator, ctx: LoweringContext) -> Lowered:
    return _lower(op, ctx, "max_pool2d_s8")


def _lower(op: Operator, ctx: LoweringContext, kernel: str) -> Lowered:
    x, y = ctx.tensor(op, 0), ctx.tensor(op, 0, outputs=True)
    require_int8(ctx, op, x, y)
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
    act_min, act_max = activation_range(ctx.fused_activation(op), y.scale, y.zero_point)
    p = f"op{op.index}"
    decls = "\n".join([
        f"static const tm_pool_params {p}_params = {{{stride_h}, {stride_w}, {filter_h}, {filter_w}, "
        f"{pad_h}, {pad_w}, {act_min}, {act_max}}};",
        f"static const tm_dims {p}_in = {{{', '.join(map(str, dims4(x.shape)))}}};",
        f"static const tm_dims {p}_out = {{{', '.join(map(str, dims4(y.shape)))}}};",
    ])
    call = f"tm_{kernel}(&{p}_params, &{p}_in, {ctx.data(x)}, &{p}_out, {ctx.activation(y)});"
    return Lowered(kernels=(f"pooling/{kernel}.c",), decls=decls, call=call)
