"""CONV_2D_ADD: a CONV_2D and the residual ADD that reads it (see tinyml.compiler.codegen.fuse), one kernel."""
from __future__ import annotations

import dataclasses

from tinyml.compiler.codegen.context import Lowered, LoweringContext
from tinyml.compiler.codegen.ops import dsp
from tinyml.compiler.codegen.ops.common import require_int8, weighted_operands
from tinyml.compiler.codegen.ops.conv import conv_decls, conv_setup
from tinyml.compiler.codegen.ops.elementwise import add_params
from tinyml.compiler.codegen.quant import activation_range
from tinyml.compiler.ir.graph import Operator


def lower_conv2d_add(op: Operator, ctx: LoweringContext) -> Lowered:
    x, w, bias, y = weighted_operands(ctx, op, "filter", 0)
    skip = ctx.tensor(op, 3)
    t = ctx.graph.tensors[op.options["convOutput"]]  # the convolution's output (never stored)
    require_int8(ctx, op, t, skip)
    out_c = t.shape[3]
    if w.shape[0] != out_c or w.shape[3] != x.shape[3]:
        raise ctx.fail(op, f"filter shape {list(w.shape)} does not fit input {list(x.shape)}")
    geometry, mults, shifts, act_min, act_max = conv_setup(op, ctx, x, w, t)
    conv_first = bool(op.options["convIsFirst"])
    a, b = (t, skip) if conv_first else (skip, t)
    add_op = dataclasses.replace(op, options={"fusedActivationFunction": op.options["addFusedActivationFunction"]})
    add_min, add_max = activation_range(ctx.fused_activation(add_op), y.scale, y.zero_point)
    p = f"op{op.index}"
    if ctx.target.dsp:  # the DSP convolution (its inner loop and output stage) with the ADD in its epilogue
        direct = op.index in ctx.low_scratch and dsp.conv_direct_possible(x, w)
        decls, wsym, bsym, scratch, variants = dsp.conv2d_weights(op, ctx, x, w, bias, t, mults, shifts, geometry,
                                                                  act_min, act_max, direct)
        decls += f"\nstatic const tm_add_params {p}_add = {add_params(a, b, y, add_min, add_max)};"
        call = (f"tm_conv2d_add_s8_dsp(&{p}_params, &{p}_rq, &{p}_in, {ctx.data(x)}, &{p}_filter, {wsym}, {bsym}, "
                f"&{p}_out, &{p}_add, {int(conv_first)}, {ctx.activation(skip)}, {ctx.activation(y)}, "
                f"arena + OP{op.index}_SCRATCH_OFFSET);")
        return Lowered(kernels=("convolution/conv2d_s8_dsp.c",), decls=decls, call=call,
                       scratch_bytes=scratch + dsp._round4(2 * out_c), inplace_input=skip.index,
                       variants=variants)
    decls = (conv_decls(p, x, w, t, geometry, mults, shifts, 1, 0, act_min, act_max)
             + f"\nstatic const tm_add_params {p}_add = {add_params(a, b, y, add_min, add_max)};")
    bias_expr = ctx.const(bias) if bias is not None else "NULL"
    call = (f"tm_conv2d_add_s8(&{p}_params, &{p}_q, &{p}_in, {ctx.data(x)}, &{p}_filter, {ctx.const(w)}, "
            f"{bias_expr}, &{p}_out, &{p}_add, {int(conv_first)}, {ctx.activation(skip)}, {ctx.activation(y)});")
    return Lowered(kernels=("convolution/conv2d_add_s8.c",), decls=decls, call=call, inplace_input=skip.index)
