"""Operator lowerings: one function per TFLite builtin, from an IR operator to a `Lowered` value."""
from __future__ import annotations

from collections.abc import Callable

from tinyml.compiler.codegen.context import LoweringContext
from tinyml.compiler.codegen.lowered import Lowered
from tinyml.compiler.codegen.ops import (
    activation,
    activation_tables,
    binary,
    conv,
    conv4,
    conv16,
    elementwise,
    fully_connected,
    fused,
    layout,
    log_softmax,
    lstm,
    movement,
    pool,
    reduce,
    resize,
    transpose_conv,
)
from tinyml.compiler.ir.graph import Operator

Lowering = Callable[[Operator, LoweringContext], Lowered]


def by_input_dtype(int8: Lowering, *, int16: Lowering) -> Lowering:
    """A lowering that takes `int16` when the operator's first input is int16 (16x8 models), else `int8` (which
    refuses any other type with its own message)."""
    def lower_by_dtype(op: Operator, ctx: LoweringContext) -> Lowered:
        return (int16 if ctx.tensor(op, 0).dtype == "int16" else int8)(op, ctx)

    return lower_by_dtype


LOWERINGS: dict[str, Lowering] = {
    "CONV_2D": conv4.with_int4_weights(by_input_dtype(conv.lower_conv2d, int16=conv16.lower_conv2d_s16)),
    "DEPTHWISE_CONV_2D": conv4.with_int4_weights(by_input_dtype(conv.lower_depthwise_conv2d,
                                                                int16=conv16.lower_depthwise_conv2d_s16)),
    "FULLY_CONNECTED": conv4.with_int4_weights(by_input_dtype(fully_connected.lower_fully_connected,
                                                              int16=fully_connected.lower_fully_connected_s16)),
    "AVERAGE_POOL_2D": by_input_dtype(pool.lower_average_pool2d, int16=pool.lower_average_pool2d_s16),
    "MAX_POOL_2D": by_input_dtype(pool.lower_max_pool2d, int16=pool.lower_max_pool2d_s16),
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
    "LEAKY_RELU": activation_tables.lower_leaky_relu,
    "HARD_SWISH": activation_tables.lower_hard_swish,
    "SUB": binary.lower_sub,
    "SQUARED_DIFFERENCE": binary.lower_squared_difference,
    "MINIMUM": binary.lower_minimum,
    "MAXIMUM": binary.lower_maximum,
    "PRELU": binary.lower_prelu,
    "TRANSPOSE": movement.lower_transpose,
    "SLICE": movement.lower_slice,
    "STRIDED_SLICE": movement.lower_strided_slice,
    "SPLIT": movement.lower_split,
    "SPLIT_V": movement.lower_split_v,
    "PACK": movement.lower_pack,
    "UNPACK": movement.lower_unpack,
    "DEPTH_TO_SPACE": movement.lower_depth_to_space,
    "SPACE_TO_DEPTH": movement.lower_space_to_depth,
    "SUM": reduce.lower_sum,
    "REDUCE_MAX": reduce.lower_reduce_max,
    "ARG_MAX": reduce.lower_arg_max,
    "GATHER": movement.lower_gather,
    "RESIZE_NEAREST_NEIGHBOR": resize.lower_resize_nearest_neighbor,
    "RESIZE_BILINEAR": resize.lower_resize_bilinear,
    "L2_NORMALIZATION": activation_tables.lower_l2_normalization,
    "EXP": activation_tables.lower_exp,
    "TRANSPOSE_CONV": transpose_conv.lower_transpose_conv,
    "LOG_SOFTMAX": log_softmax.lower_log_softmax,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": lstm.lower_unidirectional_sequence_lstm,
    "CONV_2D_ADD": fused.lower_conv2d_add,  # internal: CONV_2D + ADD fused by tinyml.compiler.codegen.fuse
}
INTERNAL_OPS = ("CONV_2D_ADD",)


def lower(op: Operator, ctx: LoweringContext) -> Lowered:
    fn = LOWERINGS.get(op.opcode)
    if fn is None:
        raise ctx.fail(op, f"operator type {op.opcode} is not supported by tinyml "
                           f"(supported: {', '.join(sorted(set(LOWERINGS) - set(INTERNAL_OPS)))})")
    return fn(op, ctx)
