"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with int4 weights: what the TFLite converter emits for weights
trained through 4-bit fake quantization (`tf.quantization.fake_quant_with_min_max_vars(num_bits=4,
narrow_range=True)`) and converted with `converter._experimental_low_bit_qat = True` (see the README).

The weights stay packed in flash, two to a byte as in the .tflite (half the bytes of int8). `tm_conv2d_s4` and
`tm_fully_connected_s4` unpack one output channel's row into scratch at a time and compute it as the portable int8
kernel does; `tm_depthwise_conv2d_s4` unpacks its whole (small) filter, whose channels' taps lie out_c apart. The
arithmetic is the int8 operator's, so the lowering is the portable int8 lowering of the same operator with the int4
values read as int8 (every check, the geometry and the multipliers come from there), its call then pointed at the
int4 kernel, the packed array and the scratch."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from tinyml.compiler.codegen import scratch
from tinyml.compiler.codegen.context import LoweringContext, c_ident
from tinyml.compiler.codegen.lowered import Call, Const, Lowered, Scratch, Sym
from tinyml.compiler.codegen.target import HOST
from tinyml.compiler.ir.graph import Operator
from tinyml.errors import TinymlBug

Lowering = Callable[[Operator, LoweringContext], Lowered]

# The versions the converter writes for int4 filters, tested bit-exact.
INT4_VERSIONS = {"CONV_2D": (7,), "DEPTHWISE_CONV_2D": (7,), "FULLY_CONNECTED": (10,)}
# The portable int8 kernel each int4 kernel stands in for: the int4 kernel, the sources it needs, its scratch row.
INT4_KERNELS = {
    "tm_conv2d_s8": ("tm_conv2d_s4", ("convolution/conv2d_s4.c",),
                     lambda w: scratch.conv2d_s4_scratch_bytes(w.shape[1], w.shape[2], w.shape[3])),
    "tm_depthwise_conv2d_s8": ("tm_depthwise_conv2d_s4", ("convolution/depthwise_conv2d_s4.c",
                                                          "convolution/depthwise_conv2d_s8.c"),
                               lambda w: scratch.depthwise_conv2d_s4_scratch_bytes(w.shape[1], w.shape[2], w.shape[3])),
    "tm_fully_connected_s8": ("tm_fully_connected_s4", ("fully_connected/fully_connected_s4.c",
                                                        "fully_connected/fully_connected_s8.c"),
                              lambda w: scratch.fully_connected_s4_scratch_bytes(w.shape[1])),
}


def with_int4_weights(int8: Lowering) -> Lowering:
    """`int8`, or the int4 lowering when the operator's filter (input 1) is int4."""
    def lower_by_weights(op: Operator, ctx: LoweringContext) -> Lowered:
        if len(op.inputs) > 1 and op.inputs[1] >= 0 and ctx.graph.tensors[op.inputs[1]].dtype == "int4":
            return lower_int4(op, ctx, int8)
        return int8(op, ctx)

    return lower_by_weights


def pack_int4(values: np.ndarray) -> np.ndarray:
    """Signed 4-bit values, two to a byte, the first in the low nibble (TFLite's INT4 layout)."""
    nibbles = (values.reshape(-1).astype(np.int16) & 0x0F).astype(np.uint8)
    if nibbles.size % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return nibbles[0::2] | (nibbles[1::2] << 4)


def lower_int4(op: Operator, ctx: LoweringContext, int8: Lowering) -> Lowered:
    """The portable int8 lowering of `op` (its filter's int4 values read as int8), pointed at the int4 kernel."""
    w = ctx.graph.tensors[op.inputs[1]]
    accepted = INT4_VERSIONS.get(op.opcode, ())
    if op.version not in accepted:
        raise ctx.fail(op, f"int4 filter '{w.name}': {op.opcode} version {op.version} with int4 weights is not "
                           f"supported; tinyml compiles version {', '.join(map(str, accepted)) or 'none'}")
    x = ctx.tensor(op, 0)
    if x.dtype != "int8":
        raise ctx.fail(op, f"int4 filter '{w.name}' with {x.dtype} input '{x.name}' is not supported; tinyml compiles "
                           "int4 weights with int8 activations")
    as_int8 = dataclasses.replace(w, dtype="int8")
    tensors = tuple(as_int8 if t.index == w.index else t for t in ctx.graph.tensors)
    view = dataclasses.replace(ctx, graph=dataclasses.replace(ctx.graph, tensors=tensors), target=HOST)
    low = int8(op, view)
    call = low.calls[0] if len(low.calls) == 1 else None
    if not isinstance(call, Call) or call.function not in INT4_KERNELS:
        raise TinymlBug(f"{op.describe()}: the int8 lowering made {low.calls}, not one call of a portable int8 kernel",
                        ctx.graph.sha256)
    kernel, sources, scratch_bytes = INT4_KERNELS[call.function]
    packed = ctx.derived_const(f"op{op.index}_s4_{c_ident(w.name)[:40]}", "uint8_t", pack_int4(w.data))
    args = tuple(Sym(packed.name) if arg == Const(w.index) else arg for arg in call.args)
    return dataclasses.replace(low, kernels=sources, calls=(Call(kernel, (*args, Scratch("int8_t"))),),
                               scratch_bytes=scratch_bytes(w), derived=(*low.derived, packed), variant=None)
