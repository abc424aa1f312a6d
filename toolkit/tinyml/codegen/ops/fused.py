"""CONV_2D_ADD: a CONV_2D and the residual ADD that reads it (see tinyml.codegen.fuse), one kernel."""
from __future__ import annotations

import dataclasses

from tinyml.codegen.context import Lowered, LoweringContext, c_array, dims4
from tinyml.codegen.ops import dsp
from tinyml.codegen.ops.common import check_spatial_output, padding_before, require_const, require_int8
from tinyml.codegen.ops.elementwise import add_params
from tinyml.codegen.quant import activation_range, quantize_multiplier
from tinyml.ir.graph import Operator


def lower_conv2d_add(op: Operator, ctx: LoweringContext) -> Lowered:
    x, w, skip, y = ctx.tensor(op, 0), ctx.tensor(op, 1), ctx.tensor(op, 3), ctx.tensor(op, 0, outputs=True)
    t = ctx.graph.tensors[op.options["convOutput"]]  # the convolution's output (never stored)
    bias = ctx.tensor(op, 2) if op.inputs[2] >= 0 else None
    require_int8(ctx, op, x, w, t, skip, y)
    require_const(ctx, op, w, "filter")
    if bias is not None:
        require_const(ctx, op, bias, "bias")
        if bias.dtype != "int32":
            raise ctx.fail(op, f"bias '{bias.name}' is {bias.dtype}; only int32 bias is supported")
    if any(z != 0 for z in w.quant.zero_point):
        raise ctx.fail(op, f"filter '{w.name}' has a nonzero zero point; int8 weights must be symmetric")
    out_c = t.shape[3]
    if w.shape[0] != out_c or w.shape[3] != x.shape[3]:
        raise ctx.fail(op, f"filter shape {list(w.shape)} does not fit input {list(x.shape)}")
    stride_h, stride_w = ctx.option(op, "strideH", minimum=1), ctx.option(op, "strideW", minimum=1)
    dil_h, dil_w = ctx.option(op, "dilationHFactor", 1, 1), ctx.option(op, "dilationWFactor", 1, 1)
    same = ctx.padding_same(op)
    check_spatial_output(ctx, op, x, t, (w.shape[1], w.shape[2]), (stride_h, stride_w), (dil_h, dil_w), same)
    pad_h = padding_before(x.shape[1], t.shape[1], stride_h, dil_h, w.shape[1], same)
    pad_w = padding_before(x.shape[2], t.shape[2], stride_w, dil_w, w.shape[2], same)
    act_min, act_max = activation_range(ctx.fused_activation(op), t.scale, t.zero_point)
    mults, shifts = [], []
    for c in range(out_c):
        w_scale = w.quant.scale[c] if w.quant.per_channel else w.quant.scale[0]
        m, s = quantize_multiplier(x.scale * w_scale / t.scale)
        mults.append(m)
        shifts.append(s)
    conv_first = bool(op.options["convIsFirst"])
    a, b = (t, skip) if conv_first else (skip, t)
    add_op = dataclasses.replace(op, options={"fusedActivationFunction": op.options["addFusedActivationFunction"]})
    add_min, add_max = activation_range(ctx.fused_activation(add_op), y.scale, y.zero_point)
    p = f"op{op.index}"
    if ctx.target.dsp:  # the DSP convolution (its inner loop and output stage) with the ADD in its epilogue
        geometry = (stride_h, stride_w, dil_h, dil_w, pad_h, pad_w)
        direct = op.index in ctx.low_scratch and dsp.conv_direct_possible(x, w)
        decls, wsym, bsym, scratch = dsp.conv2d_weights(op, ctx, x, w, bias, t, mults, shifts, geometry, act_min,
                                                        act_max, direct)
        decls += f"\nstatic const tm_add_params {p}_add = {add_params(a, b, y, add_min, add_max)};"
        call = (f"tm_conv2d_add_s8_dsp(&{p}_params, &{p}_rq, &{p}_in, {ctx.data(x)}, &{p}_filter, {wsym}, {bsym}, "
                f"&{p}_out, &{p}_add, {int(conv_first)}, {ctx.activation(skip)}, {ctx.activation(y)}, "
                f"arena + OP{op.index}_SCRATCH_OFFSET);")
        return Lowered(kernels=("convolution/conv2d_s8_dsp.c",), decls=decls, call=call,
                       scratch_bytes=scratch + dsp._round4(2 * out_c), inplace_input=skip.index)
    decls = "\n".join([
        f"static const int32_t {p}_mult[{out_c}] = {c_array(mults)};",
        f"static const int32_t {p}_shift[{out_c}] = {c_array(shifts)};",
        f"static const tm_channel_quant {p}_q = {{{p}_mult, {p}_shift}};",
        f"static const tm_conv_params {p}_params = {{{stride_h}, {stride_w}, {dil_h}, {dil_w}, {pad_h}, {pad_w}, "
        f"1, 0, {-x.zero_point}, {t.zero_point}, {act_min}, {act_max}}};",
        f"static const tm_dims {p}_in = {{{', '.join(map(str, dims4(x.shape)))}}};",
        f"static const tm_dims {p}_filter = {{{', '.join(map(str, dims4(w.shape)))}}};",
        f"static const tm_dims {p}_out = {{{', '.join(map(str, dims4(t.shape)))}}};",
        f"static const tm_add_params {p}_add = {add_params(a, b, y, add_min, add_max)};",
    ])
    bias_expr = ctx.const(bias) if bias is not None else "NULL"
    call = (f"tm_conv2d_add_s8(&{p}_params, &{p}_q, &{p}_in, {ctx.data(x)}, &{p}_filter, {ctx.const(w)}, "
            f"{bias_expr}, &{p}_out, &{p}_add, {int(conv_first)}, {ctx.activation(skip)}, {ctx.activation(y)});")
    return Lowered(kernels=("convolution/conv2d_add_s8.c",), decls=decls, call=call, inplace_input=skip.index)
