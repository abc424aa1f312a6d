"""Operator lowerings: one function per TFLite builtin, from an IR operator to a `Lowered` value."""
from __future__ import annotations

from collections.abc import Callable

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Lowered
from tinyml.compiler.codegen.ops import activation, conv, elementwise, fully_connected, fused, layout, pool, reduce
from tinyml.compiler.ir.graph import Operator

Lowering = Callable[[Operator, LoweringContext], Lowered]

LOWERINGS: dict[str, Lowering] = {
    "CONV_2D": conv.lower_conv2d,
    "DEPTHWISE_CONV_2D": conv.lower_depthwise_conv2d,
    "FULLY_CONNECTED": fully_connected.lower_fully_connected,
    "AVERAGE_POOL_2D": pool.lower_average_pool2d,
    "MAX_POOL_2D": pool.lower_max_pool2d,
    "ADD": elementwise.lower_add,
    "MUL": elementwise.lower_mul,
    "SOFTMAX": activation.lower_softmax,
    "LOGISTIC": activation.lower_logistic,
    "TANH": activation.lower_tanh,
    "RELU": activation.lower_relu,
    "RELU6": activation.lower_relu6,
    "RELU_N1_TO_1": activation.lower_relu_n1_to_1,
    "QUANTIZE": layout.lower_quantize,
    "DEQUANTIZE": layout.lower_dequantize,
    "RESHAPE": layout.lower_reshape,
    "SQUEEZE": layout.lower_reshape,
    "EXPAND_DIMS": layout.lower_reshape,
    "CONCATENATION": layout.lower_concatenation,
    "PAD": layout.lower_pad,
    "PADV2": layout.lower_pad,
    "MEAN": reduce.lower_mean,
    "CONV_2D_ADD": fused.lower_conv2d_add,  # internal: CONV_2D + ADD fused by tinyml.compiler.codegen.fuse
}
INTERNAL_OPS = ("CONV_2D_ADD",)


def lower(op: Operator, ctx: LoweringContext) -> Lowered:
    fn = LOWERINGS.get(op.opcode)
    if fn is None:
        raise ctx.fail(op, f"operator type {op.opcode} is not supported by tinyml "
                           f"(supported: {', '.join(sorted(set(LOWERINGS) - set(INTERNAL_OPS)))})")
    return fn(op, ctx)
