"""CONV_2D_ADD: a CONV_2D and the residual ADD that reads it (see tinyml.compiler.codegen.fuse), one kernel."""
from __future__ import annotations

import dataclasses

from tinyml.compiler.codegen import scratch, variants
from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import NULL, Call, Decl, Lit, Lowered, Ref, Scratch
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
    variant = variants.conv2d_add(op, ctx, x, w)
    add = Decl("tm_add_params", f"{p}_add", add_params(a, b, y, add_min, add_max))
    if variant.kernel == "tm_conv2d_add_s8_dsp":  # the DSP convolution with the ADD in its epilogue
        conv = dsp.conv2d_weights(op, ctx, variant, x, w, bias, t, mults, shifts, geometry, act_min, act_max)
        call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_rq"), Ref(f"{p}_in"), ctx.data(x),
                                     Ref(f"{p}_filter"), conv.weights, conv.bias, Ref(f"{p}_out"), Ref(f"{p}_add"),
                                     Lit(int(conv_first)), ctx.activation(skip), ctx.activation(y), Scratch()))
        _, kh, kw, in_c = w.shape
        return Lowered(kernels=(variant.source,), decls=(*conv.decls, add), calls=(call,),
                       scratch_bytes=scratch.conv2d_add_s8_dsp_scratch_bytes(kh, kw, in_c, out_c,
                                                                             variant.mode == "direct"),
                       inplace_input=skip.index, variant_bits=conv.bits, variant=variant, derived=conv.derived)
    decls = (*conv_decls(p, x, w, t, geometry, mults, shifts, 1, 0, act_min, act_max), add)
    call = Call(variant.kernel, (Ref(f"{p}_params"), Ref(f"{p}_q"), Ref(f"{p}_in"), ctx.data(x), Ref(f"{p}_filter"),
                                 ctx.const(w), ctx.const(bias) if bias is not None else NULL, Ref(f"{p}_out"),
                                 Ref(f"{p}_add"), Lit(int(conv_first)), ctx.activation(skip), ctx.activation(y)))
    return Lowered(kernels=(variant.source,), decls=decls, calls=(call,), inplace_input=skip.index, variant=variant)
