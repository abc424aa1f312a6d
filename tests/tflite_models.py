"""Programmatic full-integer int8 .tflite models for testing the compiler against the TFLite reference.

Models are written directly with the flatbuffer object API of `ai_edge_litert.schema_py_generated` (no
TensorFlow converter), so every shape, scale, zero point and option is under exact control and thousands of
cases build in seconds.

- `GraphBuilder` plus one function per operator (`conv_2d`, `depthwise_conv_2d`, `fully_connected`, `pool_2d`,
  `add`, `mul`, `concatenation`, `pad`, `mean`, `reshape`, `softmax`, `logistic`, `tanh`, `relu`, `relu6`,
  `quantize`, `dequantize`): each adds the operator (and its constant tensors) and returns the output tensor.
  The second set (issue 14): `leaky_relu`, `hard_swish`, `sub`, `minimum`, `maximum`, `squared_difference`,
  `prelu`, `transpose`, `slice_`, `strided_slice`, `split`, `split_v` and `unpack` (several outputs, `multi_op`),
  `pack`, `gather`, `depth_to_space`, `space_to_depth`, `reduction` (MEAN, SUM, REDUCE_MAX), `arg_max`, `resize`,
  `l2_normalization`, `exp`, `transpose_conv`, `log_softmax`. Their random cases draw named edge cases
  (`_edge`, recorded as `params["edge"]`).
- `random_case(op, rng)`: a random single-operator model with random inputs; `OPS` lists the operator names.
- `random_network(rng)`: a small random CNN, MLP or Conv1D-like model chaining several operators.
- `run_reference(model_bytes, inputs)`: outputs of the TFLite interpreter with the builtin (non-XNNPACK) kernels.

Quantization follows what the TFLite converter emits: int8 weights symmetric in [-127, 127] with zero point 0
(per-channel on axis 0 for CONV_2D/FULLY_CONNECTED, axis 3 for DEPTHWISE_CONV_2D), int32 bias with scale
input_scale * weight_scale[c] and zero point 0, pooling/PAD/RESHAPE/CONCATENATION outputs with the input's
quantization, LOGISTIC and SOFTMAX outputs 1/256 with zero point -128, TANH 1/128 with 0. Of these the interpreter
enforces: per-channel weight zero points 0, a bias on int8 CONV_2D and DEPTHWISE_CONV_2D, equal quantization of
CONCATENATION inputs and output, output scale 1/256 for LOGISTIC, 1/256 and zero point -128 for SOFTMAX (TANH takes
any output quantization). An ADD whose output scale is below 2 * max(input scales) / 2**20 aborts the process.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

INT8 = schema.TensorType.INT8
INT32 = schema.TensorType.INT32
FLOAT32 = schema.TensorType.FLOAT32

ACTIVATIONS = {"NONE": schema.ActivationFunctionType.NONE, "RELU": schema.ActivationFunctionType.RELU,
               "RELU_N1_TO_1": schema.ActivationFunctionType.RELU_N1_TO_1,
               "RELU6": schema.ActivationFunctionType.RELU6}
PADDINGS = {"SAME": schema.Padding.SAME, "VALID": schema.Padding.VALID}

# Operator versions as the TFLite converter writes them for full-integer int8 models.
_OP_VERSIONS = {"CONV_2D": 3, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 4, "AVERAGE_POOL_2D": 2,
                "MAX_POOL_2D": 2, "ADD": 2, "MUL": 2, "CONCATENATION": 2, "PAD": 2, "MEAN": 2, "RESHAPE": 1,
                "SOFTMAX": 2, "LOGISTIC": 2, "TANH": 2, "RELU": 2, "RELU6": 2, "QUANTIZE": 2, "DEQUANTIZE": 2,
                "LEAKY_RELU": 1, "HARD_SWISH": 1, "SUB": 2, "MINIMUM": 2, "MAXIMUM": 2, "SQUARED_DIFFERENCE": 2,
                "PRELU": 1, "TRANSPOSE": 2, "SLICE": 2, "STRIDED_SLICE": 2, "SPLIT": 2, "SPLIT_V": 2, "PACK": 2,
                "UNPACK": 2, "DEPTH_TO_SPACE": 2, "SPACE_TO_DEPTH": 2, "SUM": 2, "REDUCE_MAX": 2, "ARG_MAX": 2,
                "GATHER": 2, "RESIZE_NEAREST_NEIGHBOR": 3, "RESIZE_BILINEAR": 3,
                "L2_NORMALIZATION": 2, "EXP": 2,
                "TRANSPOSE_CONV": 4, "LOG_SOFTMAX": 2}

LOGISTIC_OUTPUT = (1.0 / 256.0, -128)
SOFTMAX_OUTPUT = (1.0 / 256.0, -128)
TANH_OUTPUT = (1.0 / 128.0, 0)


@dataclass(frozen=True)
class QParams:
    """Affine quantization: real = scale * (q - zero_point); several scales mean per-channel along `axis`."""
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @staticmethod
    def per_tensor(scale: float, zero_point: int = 0) -> QParams:
        return QParams((float(np.float32(scale)),), (int(zero_point),))

    @staticmethod
    def per_channel(scales: Sequence[float], axis: int) -> QParams:
        return QParams(tuple(float(s) for s in np.float32(scales)), (0,) * len(scales), axis)


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    dtype: int
    qp: QParams | None


class GraphBuilder:
    """Accumulates tensors, buffers and operators of a one-subgraph TFLite model."""

    def __init__(self) -> None:
        self.tensors: list[TensorInfo] = []
        self._tensor_t: list[schema.TensorT] = []
        self._buffers: list[schema.BufferT] = [schema.BufferT()]  # buffer 0: the empty sentinel
        self._opcodes: dict[str, int] = {}
        self._operators: list[schema.OperatorT] = []
        self._inputs: list[int] = []
        self._outputs: list[int] = []
        self.label = ""  # the named edge case a random draw took, if any (for failure messages)

    def _add_tensor(self, shape: Sequence[int], dtype: int, qp: QParams | None, data: np.ndarray | None) -> int:
        tensor = schema.TensorT()
        tensor.shape = np.array(shape, dtype=np.int32)
        tensor.type = dtype
        tensor.name = f"t{len(self._tensor_t)}"
        tensor.buffer = 0
        if data is not None:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self._buffers.append(buffer)
            tensor.buffer = len(self._buffers) - 1
        if qp is not None:
            tensor.quantization = _quantization_t(qp)
        self._tensor_t.append(tensor)
        self.tensors.append(TensorInfo(tuple(int(d) for d in shape), dtype, qp))
        return len(self._tensor_t) - 1

    def input(self, shape: Sequence[int], qp: QParams | None, dtype: int = INT8) -> int:
        index = self._add_tensor(shape, dtype, qp, None)
        self._inputs.append(index)
        return index

    def const(self, data: np.ndarray, qp: QParams | None = None) -> int:
        dtype = {np.dtype(np.int8): INT8, np.dtype(np.int32): INT32, np.dtype(np.float32): FLOAT32}[data.dtype]
        return self._add_tensor(data.shape, dtype, qp, data)

    @property
    def inputs(self) -> list[int]:
        return list(self._inputs)

    def output(self, index: int) -> None:
        self._outputs.append(index)

    def op(self, name: str, inputs: Sequence[int], out_shape: Sequence[int], out_qp: QParams | None,
           options: Any = None, out_dtype: int = INT8) -> int:
        """Adds operator `name` (a BuiltinOperator name) and its output tensor; returns the output's index."""
        return self.multi_op(name, inputs, [out_shape], out_qp, options, out_dtype)[0]

    def multi_op(self, name: str, inputs: Sequence[int], out_shapes: Sequence[Sequence[int]], out_qp: QParams | None,
                 options: Any = None, out_dtype: int = INT8) -> list[int]:
        """Adds operator `name` with one output tensor per shape (SPLIT, UNPACK); returns the outputs' indices."""
        outs = [self._add_tensor(shape, out_dtype, out_qp, None) for shape in out_shapes]
        operator = schema.OperatorT()
        operator.opcodeIndex = self._opcode(name)
        operator.inputs = np.array(inputs, dtype=np.int32)
        operator.outputs = np.array(outs, dtype=np.int32)
        if options is not None:
            operator.builtinOptionsType = getattr(schema.BuiltinOptions, type(options).__name__[:-1])
            operator.builtinOptions = options
        self._operators.append(operator)
        return outs

    def _opcode(self, name: str) -> int:
        if name not in self._opcodes:
            self._opcodes[name] = len(self._opcodes)
        return self._opcodes[name]

    def set_qp(self, index: int, qp: QParams) -> None:
        """Replaces the quantization of tensor `index` (before any consumer reads it)."""
        self.tensors[index] = TensorInfo(self.tensors[index].shape, self.tensors[index].dtype, qp)
        self._tensor_t[index].quantization = _quantization_t(qp)

    def to_bytes(self, outputs: Sequence[int] | None = None) -> bytes:
        """The model as .tflite bytes; `outputs` overrides the subgraph outputs (e.g. to probe a tensor)."""
        subgraph = schema.SubGraphT()
        subgraph.tensors = self._tensor_t
        subgraph.inputs = np.array(self._inputs, dtype=np.int32)
        subgraph.outputs = np.array(self._outputs if outputs is None else outputs, dtype=np.int32)
        subgraph.operators = self._operators
        subgraph.name = "main"
        model = schema.ModelT()
        model.version = 3
        model.description = "tinyml test model"
        model.subgraphs = [subgraph]
        model.buffers = self._buffers
        model.operatorCodes = [_operator_code(name) for name in self._opcodes]
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def _quantization_t(qp: QParams) -> schema.QuantizationParametersT:
    quant = schema.QuantizationParametersT()
    quant.scale = np.array(qp.scale, dtype=np.float32)
    quant.zeroPoint = np.array(qp.zero_point, dtype=np.int64)
    quant.quantizedDimension = qp.axis
    return quant


def _operator_code(name: str) -> schema.OperatorCodeT:
    code = schema.OperatorCodeT()
    code.builtinCode = getattr(schema.BuiltinOperator, name)
    code.deprecatedBuiltinCode = min(code.builtinCode, schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES)
    code.version = _OP_VERSIONS[name]
    return code


# ---------------------------------------------------------------------------------------------------------------
# Operators. Each takes the builder and input tensor indices and returns the output tensor index.


def _conv_out_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    effective = (kernel - 1) * dilation + 1
    if padding == "SAME":
        return -(-size // stride)
    return -(-(size - effective + 1) // stride)


def _bias_tensor(b: GraphBuilder, x: int, weight_scales: Sequence[float], bias: np.ndarray) -> int:
    input_scale = np.float32(b.tensors[x].qp.scale[0])
    scales = [float(input_scale * np.float32(s)) for s in weight_scales]
    return b.const(bias.astype(np.int32), QParams(tuple(scales), (0,) * len(scales)))


def conv_2d(b: GraphBuilder, x: int, filters: np.ndarray, filter_scales: Sequence[float], bias: np.ndarray,
            out_qp: QParams, stride: tuple[int, int] = (1, 1), padding: str = "SAME",
            dilation: tuple[int, int] = (1, 1), activation: str = "NONE") -> int:
    """CONV_2D: `filters` int8 [O, KH, KW, I] with per-channel scales (len O) or one scale; `bias` int32 [O].

    The bias is mandatory: the int8 kernel fails to prepare without one.
    """
    _, height, width, _ = b.tensors[x].shape
    out_channels, kh, kw, _ = filters.shape
    w = b.const(filters.astype(np.int8), _weight_qp(filter_scales, 0))
    inputs = [x, w, _bias_tensor(b, x, filter_scales, bias)]
    options = schema.Conv2DOptionsT()
    options.padding, options.strideH, options.strideW = PADDINGS[padding], stride[0], stride[1]
    options.dilationHFactor, options.dilationWFactor = dilation
    options.fusedActivationFunction = ACTIVATIONS[activation]
    out_shape = (1, _conv_out_size(height, kh, stride[0], dilation[0], padding),
                 _conv_out_size(width, kw, stride[1], dilation[1], padding), out_channels)
    return b.op("CONV_2D", inputs, out_shape, out_qp, options)


def depthwise_conv_2d(b: GraphBuilder, x: int, filters: np.ndarray, filter_scales: Sequence[float],
                      bias: np.ndarray, out_qp: QParams, depth_multiplier: int = 1,
                      stride: tuple[int, int] = (1, 1), padding: str = "SAME", dilation: tuple[int, int] = (1, 1),
                      activation: str = "NONE") -> int:
    """DEPTHWISE_CONV_2D: `filters` int8 [1, KH, KW, I*depth_multiplier], per-channel scales on axis 3.

    The bias is mandatory: the int8 kernel rejects an omitted (-1) bias and crashes on a 2-input operator.
    """
    _, height, width, _ = b.tensors[x].shape
    _, kh, kw, out_channels = filters.shape
    w = b.const(filters.astype(np.int8), _weight_qp(filter_scales, 3))
    inputs = [x, w, _bias_tensor(b, x, filter_scales, bias)]
    options = schema.DepthwiseConv2DOptionsT()
    options.padding, options.strideH, options.strideW = PADDINGS[padding], stride[0], stride[1]
    options.dilationHFactor, options.dilationWFactor = dilation
    options.depthMultiplier = depth_multiplier
    options.fusedActivationFunction = ACTIVATIONS[activation]
    out_shape = (1, _conv_out_size(height, kh, stride[0], dilation[0], padding),
                 _conv_out_size(width, kw, stride[1], dilation[1], padding), out_channels)
    return b.op("DEPTHWISE_CONV_2D", inputs, out_shape, out_qp, options)


def fully_connected(b: GraphBuilder, x: int, weights: np.ndarray, weight_scales: Sequence[float],
                    bias: np.ndarray | None, out_qp: QParams, activation: str = "NONE",
                    keep_num_dims: bool = False) -> int:
    """FULLY_CONNECTED: `weights` int8 [O, I], one scale or per-channel (len O); input's last dim is I."""
    in_shape = b.tensors[x].shape
    units, depth = weights.shape
    w = b.const(weights.astype(np.int8), _weight_qp(weight_scales, 0))
    inputs = [x, w, _bias_tensor(b, x, weight_scales, bias) if bias is not None else -1]
    options = schema.FullyConnectedOptionsT()
    options.fusedActivationFunction = ACTIVATIONS[activation]
    options.keepNumDims = keep_num_dims
    out_shape = in_shape[:-1] + (units,) if keep_num_dims else (int(np.prod(in_shape)) // depth, units)
    return b.op("FULLY_CONNECTED", inputs, out_shape, out_qp, options)


def pool_2d(b: GraphBuilder, x: int, kind: str, filter_size: tuple[int, int], stride: tuple[int, int],
            padding: str = "VALID", activation: str = "NONE") -> int:
    """AVERAGE_POOL_2D (`kind` "AVERAGE") or MAX_POOL_2D ("MAX"); the output keeps the input's quantization."""
    n, height, width, channels = b.tensors[x].shape
    options = schema.Pool2DOptionsT()
    options.padding, options.strideH, options.strideW = PADDINGS[padding], stride[0], stride[1]
    options.filterHeight, options.filterWidth = filter_size
    options.fusedActivationFunction = ACTIVATIONS[activation]
    out_shape = (n, _conv_out_size(height, filter_size[0], stride[0], 1, padding),
                 _conv_out_size(width, filter_size[1], stride[1], 1, padding), channels)
    return b.op(f"{kind}_POOL_2D", [x], out_shape, b.tensors[x].qp, options)


def _broadcast_shape(b: GraphBuilder, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(d) for d in np.broadcast_shapes(b.tensors[x].shape, b.tensors[y].shape))


def add(b: GraphBuilder, x: int, y: int, out_qp: QParams, activation: str = "NONE") -> int:
    options = schema.AddOptionsT()
    options.fusedActivationFunction = ACTIVATIONS[activation]
    return b.op("ADD", [x, y], _broadcast_shape(b, x, y), out_qp, options)


def mul(b: GraphBuilder, x: int, y: int, out_qp: QParams, activation: str = "NONE") -> int:
    options = schema.MulOptionsT()
    options.fusedActivationFunction = ACTIVATIONS[activation]
    return b.op("MUL", [x, y], _broadcast_shape(b, x, y), out_qp, options)


def concatenation(b: GraphBuilder, xs: Sequence[int], axis: int, activation: str = "NONE") -> int:
    """CONCATENATION; int8 inputs must share the output's quantization (the interpreter enforces it)."""
    shapes = [b.tensors[x].shape for x in xs]
    rank = len(shapes[0])
    out_shape = list(shapes[0])
    out_shape[axis % rank] = sum(s[axis % rank] for s in shapes)
    options = schema.ConcatenationOptionsT()
    options.axis = axis
    options.fusedActivationFunction = ACTIVATIONS[activation]
    return b.op("CONCATENATION", list(xs), out_shape, b.tensors[xs[0]].qp, options)


def pad(b: GraphBuilder, x: int, paddings: Sequence[tuple[int, int]]) -> int:
    """PAD with the input's zero point (real 0); `paddings` is (before, after) per dimension."""
    shape = tuple(d + before + after for d, (before, after) in zip(b.tensors[x].shape, paddings))
    table = b.const(np.array(paddings, dtype=np.int32))
    return b.op("PAD", [x, table], shape, b.tensors[x].qp, schema.PadOptionsT())


def mean(b: GraphBuilder, x: int, axes: Sequence[int], keep_dims: bool, out_qp: QParams) -> int:
    return reduction(b, "MEAN", x, axes, keep_dims, out_qp)


def reduction(b: GraphBuilder, name: str, x: int, axes: Sequence[int], keep_dims: bool, out_qp: QParams) -> int:
    """MEAN, SUM or REDUCE_MAX over `axes` (negative and repeated axes allowed)."""
    in_shape = b.tensors[x].shape
    reduced = {a % len(in_shape) for a in axes}
    out_shape = tuple(1 if i in reduced else d for i, d in enumerate(in_shape) if keep_dims or i not in reduced)
    options = schema.ReducerOptionsT()
    options.keepDims = keep_dims
    return b.op(name, [x, b.const(np.array(axes, dtype=np.int32))], out_shape, out_qp, options)


def reshape(b: GraphBuilder, x: int, new_shape: Sequence[int], shape_as_input: bool = True) -> int:
    """RESHAPE to `new_shape` (no -1), given as a constant shape tensor and/or only as `ReshapeOptions`."""
    options = schema.ReshapeOptionsT()
    options.newShape = np.array(new_shape, dtype=np.int32)
    inputs = [x] + ([b.const(np.array(new_shape, dtype=np.int32))] if shape_as_input else [])
    return b.op("RESHAPE", inputs, tuple(new_shape), b.tensors[x].qp, options)


def softmax(b: GraphBuilder, x: int, beta: float = 1.0) -> int:
    options = schema.SoftmaxOptionsT()
    options.beta = beta
    return b.op("SOFTMAX", [x], b.tensors[x].shape, QParams.per_tensor(*SOFTMAX_OUTPUT), options)


def logistic(b: GraphBuilder, x: int) -> int:
    return b.op("LOGISTIC", [x], b.tensors[x].shape, QParams.per_tensor(*LOGISTIC_OUTPUT))


def tanh(b: GraphBuilder, x: int) -> int:
    return b.op("TANH", [x], b.tensors[x].shape, QParams.per_tensor(*TANH_OUTPUT))


def relu(b: GraphBuilder, x: int, out_qp: QParams | None = None) -> int:
    return b.op("RELU", [x], b.tensors[x].shape, out_qp or b.tensors[x].qp)


def relu6(b: GraphBuilder, x: int, out_qp: QParams | None = None) -> int:
    return b.op("RELU6", [x], b.tensors[x].shape, out_qp or b.tensors[x].qp)


def quantize(b: GraphBuilder, x: int, out_qp: QParams) -> int:
    """QUANTIZE float32 -> int8, or int8 -> int8 requantization."""
    return b.op("QUANTIZE", [x], b.tensors[x].shape, out_qp, schema.QuantizeOptionsT())


def dequantize(b: GraphBuilder, x: int) -> int:
    return b.op("DEQUANTIZE", [x], b.tensors[x].shape, None, out_dtype=FLOAT32)


def _weight_qp(scales: Sequence[float], axis: int) -> QParams:
    return QParams.per_tensor(scales[0]) if len(scales) == 1 else QParams.per_channel(scales, axis)


# Operators of the second set (issue 14): activations, binary elementwise, data movement.


def leaky_relu(b: GraphBuilder, x: int, alpha: float, out_qp: QParams) -> int:
    options = schema.LeakyReluOptionsT()
    options.alpha = alpha
    return b.op("LEAKY_RELU", [x], b.tensors[x].shape, out_qp, options)


def hard_swish(b: GraphBuilder, x: int, out_qp: QParams) -> int:
    return b.op("HARD_SWISH", [x], b.tensors[x].shape, out_qp)


def sub(b: GraphBuilder, x: int, y: int, out_qp: QParams, activation: str = "NONE") -> int:
    options = schema.SubOptionsT()
    options.fusedActivationFunction = ACTIVATIONS[activation]
    return b.op("SUB", [x, y], _broadcast_shape(b, x, y), out_qp, options)


def minimum(b: GraphBuilder, x: int, y: int) -> int:
    """MINIMUM compares the raw int8 values: the interpreter does not requantize, so all share one quantization."""
    return b.op("MINIMUM", [x, y], _broadcast_shape(b, x, y), b.tensors[x].qp, schema.MaximumMinimumOptionsT())


def maximum(b: GraphBuilder, x: int, y: int) -> int:
    return b.op("MAXIMUM", [x, y], _broadcast_shape(b, x, y), b.tensors[x].qp, schema.MaximumMinimumOptionsT())


def squared_difference(b: GraphBuilder, x: int, y: int, out_qp: QParams) -> int:
    return b.op("SQUARED_DIFFERENCE", [x, y], _broadcast_shape(b, x, y), out_qp, schema.SquaredDifferenceOptionsT())


def prelu(b: GraphBuilder, x: int, alpha: int, out_qp: QParams) -> int:
    """PRELU: `alpha` (usually a constant, broadcast to the input, e.g. one slope per channel)."""
    return b.op("PRELU", [x, alpha], b.tensors[x].shape, out_qp)


def _ints(b: GraphBuilder, values: Sequence[int]) -> int:
    return b.const(np.array(values, dtype=np.int32))


def transpose(b: GraphBuilder, x: int, perm: Sequence[int]) -> int:
    shape = [b.tensors[x].shape[p] for p in perm]
    return b.op("TRANSPOSE", [x, _ints(b, perm)], shape, b.tensors[x].qp, schema.TransposeOptionsT())


def slice_(b: GraphBuilder, x: int, begin: Sequence[int], size: Sequence[int]) -> int:
    """SLICE; a size of -1 takes the rest of the dimension."""
    shape = [d - s if n == -1 else n for d, s, n in zip(b.tensors[x].shape, begin, size)]
    return b.op("SLICE", [x, _ints(b, begin), _ints(b, size)], shape, b.tensors[x].qp, schema.SliceOptionsT())


def strided_slice(b: GraphBuilder, x: int, begin: Sequence[int], end: Sequence[int], strides: Sequence[int],
                  begin_mask: int = 0, end_mask: int = 0, shrink_axis_mask: int = 0) -> int:
    """STRIDED_SLICE; the output shape follows Python's slicing, which clamps as TFLite does."""
    shape = []
    for d, size in enumerate(b.tensors[x].shape):
        if shrink_axis_mask >> d & 1:
            continue
        span = slice(None if begin_mask >> d & 1 else begin[d], None if end_mask >> d & 1 else end[d], strides[d])
        shape.append(len(range(*span.indices(size))))
    options = schema.StridedSliceOptionsT()
    options.beginMask, options.endMask, options.shrinkAxisMask = begin_mask, end_mask, shrink_axis_mask
    return b.op("STRIDED_SLICE", [x, _ints(b, begin), _ints(b, end), _ints(b, strides)], shape, b.tensors[x].qp,
                options)


def split(b: GraphBuilder, x: int, axis: int, parts: int) -> list[int]:
    shape = list(b.tensors[x].shape)
    shape[axis] //= parts
    options = schema.SplitOptionsT()
    options.numSplits = parts
    return b.multi_op("SPLIT", [_ints(b, [axis]), x], [shape] * parts, b.tensors[x].qp, options)


def split_v(b: GraphBuilder, x: int, sizes: Sequence[int], axis: int) -> list[int]:
    """SPLIT_V; one size may be -1 (the rest)."""
    in_shape = b.tensors[x].shape
    known = [s for s in sizes if s != -1]
    shapes = []
    for s in sizes:
        shape = list(in_shape)
        shape[axis] = in_shape[axis] - sum(known) if s == -1 else s
        shapes.append(shape)
    options = schema.SplitVOptionsT()
    options.numSplits = len(sizes)
    return b.multi_op("SPLIT_V", [x, _ints(b, sizes), _ints(b, [axis])], shapes, b.tensors[x].qp, options)


def pack(b: GraphBuilder, xs: Sequence[int], axis: int) -> int:
    shape = list(b.tensors[xs[0]].shape)
    shape.insert(axis % (len(shape) + 1), len(xs))
    options = schema.PackOptionsT()
    options.valuesCount, options.axis = len(xs), axis
    return b.op("PACK", list(xs), shape, b.tensors[xs[0]].qp, options)


def unpack(b: GraphBuilder, x: int, axis: int) -> list[int]:
    in_shape = list(b.tensors[x].shape)
    count = in_shape.pop(axis % len(in_shape))
    options = schema.UnpackOptionsT()
    options.num, options.axis = count, axis
    return b.multi_op("UNPACK", [x], [in_shape] * count, b.tensors[x].qp, options)


def depth_to_space(b: GraphBuilder, x: int, block: int) -> int:
    n, h, w, c = b.tensors[x].shape
    options = schema.DepthToSpaceOptionsT()
    options.blockSize = block
    return b.op("DEPTH_TO_SPACE", [x], (n, h * block, w * block, c // (block * block)), b.tensors[x].qp, options)


def space_to_depth(b: GraphBuilder, x: int, block: int) -> int:
    n, h, w, c = b.tensors[x].shape
    options = schema.SpaceToDepthOptionsT()
    options.blockSize = block
    return b.op("SPACE_TO_DEPTH", [x], (n, h // block, w // block, c * block * block), b.tensors[x].qp, options)


def arg_max(b: GraphBuilder, x: int, axis: int) -> int:
    """ARG_MAX with int32 indices."""
    shape = list(b.tensors[x].shape)
    del shape[axis % len(shape)]
    options = schema.ArgMaxOptionsT()
    options.outputType = INT32
    return b.op("ARG_MAX", [x, _ints(b, [axis])], shape, None, options, out_dtype=INT32)


def gather(b: GraphBuilder, x: int, indices: np.ndarray, axis: int) -> int:
    """GATHER with constant int32 `indices` (any shape) along `axis`."""
    shape = list(b.tensors[x].shape)
    a = axis % len(shape)
    options = schema.GatherOptionsT()
    options.axis = axis
    out_shape = shape[:a] + list(indices.shape) + shape[a + 1:]
    return b.op("GATHER", [x, b.const(indices.astype(np.int32))], out_shape, b.tensors[x].qp, options)


def resize(b: GraphBuilder, kind: str, x: int, size: tuple[int, int], align_corners: bool = False,
           half_pixel_centers: bool = False) -> int:
    """RESIZE_NEAREST_NEIGHBOR (`kind` "NEAREST_NEIGHBOR") or RESIZE_BILINEAR ("BILINEAR") of an NHWC tensor."""
    n, _, _, c = b.tensors[x].shape
    options = {"NEAREST_NEIGHBOR": schema.ResizeNearestNeighborOptionsT, "BILINEAR": schema.ResizeBilinearOptionsT}[
        kind]()
    options.alignCorners, options.halfPixelCenters = align_corners, half_pixel_centers
    return b.op(f"RESIZE_{kind}", [x, _ints(b, size)], (n, *size, c), b.tensors[x].qp, options)


def l2_normalization(b: GraphBuilder, x: int) -> int:
    """L2_NORMALIZATION; the int8 output is 1/128 with zero point 0 (the interpreter requires it)."""
    return b.op("L2_NORMALIZATION", [x], b.tensors[x].shape, QParams.per_tensor(1.0 / 128.0, 0),
                schema.L2NormOptionsT())


def exp(b: GraphBuilder, x: int, out_qp: QParams) -> int:
    return b.op("EXP", [x], b.tensors[x].shape, out_qp, schema.ExpOptionsT())


def transpose_conv(b: GraphBuilder, x: int, filters: np.ndarray, filter_scales: Sequence[float],
                   bias: np.ndarray | None, out_qp: QParams, out_hw: tuple[int, int], stride: tuple[int, int],
                   padding: str = "SAME", activation: str = "NONE") -> int:
    """TRANSPOSE_CONV as the converter writes it: inputs (output shape, filters int8 [O, KH, KW, I] per-channel on
    axis 0, input, optional int32 bias [O]) and a fused activation (version 4 of the operator)."""
    w = b.const(filters.astype(np.int8), _weight_qp(filter_scales, 0))
    out_shape = (1, *out_hw, filters.shape[0])
    inputs = [_ints(b, out_shape), w, x] + ([] if bias is None else [_bias_tensor(b, x, filter_scales, bias)])
    options = schema.TransposeConvOptionsT()
    options.padding, options.strideH, options.strideW = PADDINGS[padding], stride[0], stride[1]
    options.fusedActivationFunction = ACTIVATIONS[activation]
    return b.op("TRANSPOSE_CONV", inputs, out_shape, out_qp, options)


LOG_SOFTMAX_OUTPUT = (16.0 / 256.0, 127)


def log_softmax(b: GraphBuilder, x: int) -> int:
    """LOG_SOFTMAX over the last dimension; the int8 output is 16/256 with zero point 127 (the interpreter requires
    it)."""
    return b.op("LOG_SOFTMAX", [x], b.tensors[x].shape, QParams.per_tensor(*LOG_SOFTMAX_OUTPUT),
                schema.LogSoftmaxOptionsT())


# ---------------------------------------------------------------------------------------------------------------
# Reference execution.


def run_reference(model_bytes: bytes, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Runs the model in the TFLite interpreter with the builtin kernels (no XNNPACK delegate)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=model_bytes, num_threads=1,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    for detail, value in zip(interpreter.get_input_details(), inputs, strict=True):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return [interpreter.get_tensor(detail["index"]).copy() for detail in interpreter.get_output_details()]


# ---------------------------------------------------------------------------------------------------------------
# Random cases.

_INT8_STD = 74.0  # standard deviation of a uniform int8 value


@dataclass(frozen=True)
class Case:
    """A model with inputs for it; `params` describes the draw (for failure messages)."""
    op: str
    params: dict[str, Any]
    model: bytes
    inputs: list[np.ndarray] = field(default_factory=list)


def _log_uniform(rng: np.random.Generator, low: float, high: float, size: int | None = None) -> Any:
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def random_qp(rng: np.random.Generator, low: float = 1e-3, high: float = 1.0) -> QParams:
    """Per-tensor activation quantization: scale log-uniform in [low, high], zero point in [-128, 127]."""
    return QParams.per_tensor(_log_uniform(rng, low, high), int(rng.integers(-128, 128)))


def _scaled_qp(rng: np.random.Generator, real_std: float) -> QParams:
    """Output quantization for values of standard deviation ~`real_std`: from mostly in range to saturating."""
    scale = real_std * 3.0 / 128.0 * _log_uniform(rng, 0.25, 4.0)
    return QParams.per_tensor(float(np.clip(scale, 1e-6, 1e3)), int(rng.integers(-128, 128)))


WEIGHT_SCALES = (1e-4, 1e-1)  # per-channel weight scales of single-operator cases span three decades
_NETWORK_WEIGHT_SCALES = (2e-3, 2e-2)  # narrower in networks, so that no channel drowns the others


def _weight_scales(rng: np.random.Generator, channels: int, per_channel: bool,
                   scale_range: tuple[float, float]) -> list[float]:
    return list(_log_uniform(rng, *scale_range, channels if per_channel else 1))


def _int8_weights(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    return rng.integers(-127, 128, size=tuple(shape), dtype=np.int8)


def _bias(rng: np.random.Generator, channels: int, depth: int) -> np.ndarray:
    bound = int(np.sqrt(depth) * _INT8_STD * _INT8_STD * 2)
    return rng.integers(-bound, bound + 1, size=channels).astype(np.int32)


def _real_std(b: GraphBuilder, x: int) -> float:
    return b.tensors[x].qp.scale[0] * _INT8_STD


def _random_inputs(b: GraphBuilder, rng: np.random.Generator) -> list[np.ndarray]:
    arrays = []
    for index in b.inputs:
        info = b.tensors[index]
        if info.dtype == FLOAT32:
            arrays.append((rng.standard_normal(info.shape) * rng.uniform(0.1, 10.0)).astype(np.float32))
        else:
            arrays.append(rng.integers(-128, 128, size=info.shape, dtype=np.int8))
    return arrays


def _choice(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _activation(rng: np.random.Generator) -> str:
    return _choice(rng, ["NONE", "NONE", "RELU", "RELU6", "RELU_N1_TO_1"])


def _spatial(rng: np.random.Generator, size: int, padding: str) -> tuple[int, int, int]:
    """(kernel, stride, dilation) for one spatial dimension of `size`, with at least one output position."""
    dilation = int(rng.integers(1, 4)) if rng.random() < 0.25 else 1
    kernel = int(rng.integers(1, 6))
    if padding == "VALID":
        kernel = min(kernel, (size - 1) // dilation + 1)
    return kernel, int(rng.integers(1, 4)), dilation


def _random_conv_geometry(rng: np.random.Generator, b: GraphBuilder, x: int) -> dict[str, Any]:
    _, height, width, _ = b.tensors[x].shape
    padding = _choice(rng, ["SAME", "VALID"])
    (kh, sh, dh), (kw, sw, dw) = _spatial(rng, height, padding), _spatial(rng, width, padding)
    return {"kernel": (kh, kw), "stride": (sh, sw), "dilation": (dh, dw), "padding": padding}


def _add_conv(rng: np.random.Generator, b: GraphBuilder, x: int, out_channels: int,
              geometry: dict[str, Any] | None = None, activation: str | None = None,
              scale_range: tuple[float, float] = WEIGHT_SCALES) -> int:
    in_channels = b.tensors[x].shape[3]
    geometry = geometry or _random_conv_geometry(rng, b, x)
    kh, kw = geometry["kernel"]
    scales = _weight_scales(rng, out_channels, per_channel=rng.random() < 0.9, scale_range=scale_range)
    depth = kh * kw * in_channels
    out_qp = _scaled_qp(rng, _real_std(b, x) * float(np.median(scales)) * _INT8_STD * np.sqrt(depth))
    bias = _bias(rng, out_channels, depth)
    return conv_2d(b, x, _int8_weights(rng, (out_channels, kh, kw, in_channels)), scales, bias, out_qp,
                   geometry["stride"], geometry["padding"], geometry["dilation"], activation or _activation(rng))


def _add_depthwise(rng: np.random.Generator, b: GraphBuilder, x: int, depth_multiplier: int,
                   activation: str | None = None,
                   scale_range: tuple[float, float] = WEIGHT_SCALES) -> int:
    in_channels = b.tensors[x].shape[3]
    geometry = _random_conv_geometry(rng, b, x)
    kh, kw = geometry["kernel"]
    out_channels = in_channels * depth_multiplier
    scales = _weight_scales(rng, out_channels, per_channel=rng.random() < 0.9, scale_range=scale_range)
    out_qp = _scaled_qp(rng, _real_std(b, x) * float(np.median(scales)) * _INT8_STD * np.sqrt(kh * kw))
    bias = _bias(rng, out_channels, kh * kw)
    return depthwise_conv_2d(b, x, _int8_weights(rng, (1, kh, kw, out_channels)), scales, bias, out_qp,
                             depth_multiplier, geometry["stride"], geometry["padding"], geometry["dilation"],
                             activation or _activation(rng))


def _add_fully_connected(rng: np.random.Generator, b: GraphBuilder, x: int, units: int,
                         activation: str | None = None, keep_num_dims: bool = False,
                         scale_range: tuple[float, float] = WEIGHT_SCALES) -> int:
    depth = b.tensors[x].shape[-1]
    scales = _weight_scales(rng, units, per_channel=rng.random() < 0.5, scale_range=scale_range)
    out_qp = _scaled_qp(rng, _real_std(b, x) * float(np.median(scales)) * _INT8_STD * np.sqrt(depth))
    bias = _bias(rng, units, depth) if rng.random() < 0.8 else None
    return fully_connected(b, x, _int8_weights(rng, (units, depth)), scales, bias, out_qp,
                           activation or _activation(rng), keep_num_dims)


def _add_pool(rng: np.random.Generator, b: GraphBuilder, x: int, kind: str) -> int:
    _, height, width, _ = b.tensors[x].shape
    padding = _choice(rng, ["SAME", "VALID"])
    size = []
    for extent in (height, width):
        kernel = int(rng.integers(1, 5))
        size.append(min(kernel, extent) if padding == "VALID" else kernel)
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    return pool_2d(b, x, kind, (size[0], size[1]), stride, padding, _activation(rng))


def _image_input(rng: np.random.Generator, b: GraphBuilder, max_size: int = 16, max_channels: int = 16) -> int:
    shape = (1, int(rng.integers(1, max_size + 1)), int(rng.integers(1, max_size + 1)),
             int(rng.integers(1, max_channels + 1)))
    return b.input(shape, random_qp(rng))


def _random_shape(rng: np.random.Generator, max_rank: int = 4, max_dim: int = 8) -> tuple[int, ...]:
    """Batch 1 then 0..3 dimensions in [1, max_dim]; rank 1 is a plain vector."""
    rank = int(rng.integers(1, max_rank + 1))
    if rank == 1:
        return (int(rng.integers(1, 4 * max_dim + 1)),)
    return (1,) + tuple(int(rng.integers(1, max_dim + 1)) for _ in range(rank - 1))


def _broadcast_partner(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape broadcast-compatible with `shape`: some dimensions set to 1, sometimes fewer leading dims."""
    partner = tuple(1 if rng.random() < 0.3 else d for d in shape)
    drop = int(rng.integers(0, len(shape))) if rng.random() < 0.2 else 0
    return partner[drop:] or (1,)


def _binary_operands(rng: np.random.Generator, b: GraphBuilder) -> tuple[int, int]:
    shape = _random_shape(rng)
    shapes = [shape, _broadcast_partner(rng, shape)]
    if rng.random() < 0.5:
        shapes.reverse()
    qp = random_qp(rng, 1e-3, 1e-1)
    qps = [qp, qp if rng.random() < 0.2 else random_qp(rng, 1e-3, 1e-1)]
    x = b.input(shapes[0], qps[0])
    if rng.random() < 0.2:  # constant operand, as for a Keras scale or bias
        return x, b.const(_int8_weights(rng, shapes[1]), qps[1])
    return x, b.input(shapes[1], qps[1])


def _case_conv_2d(rng: np.random.Generator, b: GraphBuilder) -> None:
    x = _image_input(rng, b)
    b.output(_add_conv(rng, b, x, int(rng.integers(1, 17))))


def _case_depthwise_conv_2d(rng: np.random.Generator, b: GraphBuilder) -> None:
    x = _image_input(rng, b)
    b.output(_add_depthwise(rng, b, x, _choice(rng, [1, 1, 2, 3, 4])))


def _case_fully_connected(rng: np.random.Generator, b: GraphBuilder) -> None:
    depth = int(rng.integers(1, 65))
    keep_num_dims = rng.random() < 0.3
    shape = (1, int(rng.integers(1, 6)), depth) if keep_num_dims or rng.random() < 0.2 else (1, depth)
    x = b.input(shape, random_qp(rng))
    b.output(_add_fully_connected(rng, b, x, int(rng.integers(1, 33)), keep_num_dims=keep_num_dims))


def _case_average_pool_2d(rng: np.random.Generator, b: GraphBuilder) -> None:
    b.output(_add_pool(rng, b, _image_input(rng, b), "AVERAGE"))


def _case_max_pool_2d(rng: np.random.Generator, b: GraphBuilder) -> None:
    b.output(_add_pool(rng, b, _image_input(rng, b), "MAX"))


def _case_add(rng: np.random.Generator, b: GraphBuilder) -> None:
    x, y = _binary_operands(rng, b)
    std = np.hypot(_real_std(b, x), _real_std(b, y))
    b.output(add(b, x, y, _scaled_qp(rng, std), _activation(rng)))


def _case_mul(rng: np.random.Generator, b: GraphBuilder) -> None:
    x, y = _binary_operands(rng, b)
    b.output(mul(b, x, y, _scaled_qp(rng, _real_std(b, x) * _real_std(b, y)), _activation(rng)))


def _case_concatenation(rng: np.random.Generator, b: GraphBuilder) -> None:
    shape = _random_shape(rng)
    axis = int(rng.integers(-len(shape), len(shape)))
    qp = random_qp(rng)
    xs = []
    for _ in range(int(rng.integers(1, 5))):
        part = list(shape)
        part[axis] = int(rng.integers(1, 6))
        xs.append(b.input(part, qp))
    b.output(concatenation(b, xs, axis))


def _case_pad(rng: np.random.Generator, b: GraphBuilder) -> None:
    shape = _random_shape(rng)
    x = b.input(shape, random_qp(rng))
    paddings = [(0, 0) if i == 0 and len(shape) == 4 else (int(rng.integers(0, 4)), int(rng.integers(0, 4)))
                for i in range(len(shape))]
    b.output(pad(b, x, paddings))


def _case_mean(rng: np.random.Generator, b: GraphBuilder) -> None:
    shape = _random_shape(rng, max_dim=10)
    x = b.input(shape, random_qp(rng))
    rank = len(shape)
    if rank == 4 and rng.random() < 0.5:
        axes = [1, 2]  # the global average pooling of Keras models
    else:
        count = int(rng.integers(1, rank + 1))
        axes = sorted(int(a) for a in rng.choice(rank, size=count, replace=False))
        axes = [a - rank if rng.random() < 0.2 else a for a in axes]
    out_qp = b.tensors[x].qp if rng.random() < 0.3 else _scaled_qp(rng, _real_std(b, x) / 4)
    b.output(mean(b, x, axes, keep_dims=rng.random() < 0.5, out_qp=out_qp))


def _case_reshape(rng: np.random.Generator, b: GraphBuilder) -> None:
    shape = _random_shape(rng)
    x = b.input(shape, random_qp(rng))
    total = int(np.prod(shape))
    divisors = [d for d in range(1, total + 1) if total % d == 0]
    first = _choice(rng, divisors)
    new_shape = _choice(rng, [(1, total), (1, first, total // first), (total,), (1, 1, first, total // first)])
    b.output(reshape(b, x, new_shape, shape_as_input=rng.random() < 0.7))


def _case_softmax(rng: np.random.Generator, b: GraphBuilder) -> None:
    shape = _choice(rng, [(1, int(rng.integers(1, 40))), _random_shape(rng)])
    x = b.input(shape, random_qp(rng, 1e-3, 0.5))
    b.output(softmax(b, x, float(_choice(rng, [1.0, 1.0, rng.uniform(0.1, 3.0)]))))


def _case_logistic(rng: np.random.Generator, b: GraphBuilder) -> None:
    b.output(logistic(b, b.input(_random_shape(rng), random_qp(rng, 1e-3, 0.5))))


def _case_tanh(rng: np.random.Generator, b: GraphBuilder) -> None:
    b.output(tanh(b, b.input(_random_shape(rng), random_qp(rng, 1e-3, 0.5))))


def _case_relu(rng: np.random.Generator, b: GraphBuilder) -> None:
    x = b.input(_random_shape(rng), random_qp(rng))
    b.output(relu(b, x, None if rng.random() < 0.3 else _scaled_qp(rng, _real_std(b, x))))


def _case_relu6(rng: np.random.Generator, b: GraphBuilder) -> None:
    x = b.input(_random_shape(rng), random_qp(rng, 1e-3, 0.1))
    b.output(relu6(b, x, None if rng.random() < 0.3 else _scaled_qp(rng, min(_real_std(b, x), 3.0))))


def _case_quantize(rng: np.random.Generator, b: GraphBuilder) -> None:
    shape = _random_shape(rng)
    if rng.random() < 0.5:
        x = b.input(shape, None, FLOAT32)
        b.output(quantize(b, x, random_qp(rng, 1e-2, 1.0)))
    else:
        x = b.input(shape, random_qp(rng))
        b.output(quantize(b, x, _scaled_qp(rng, _real_std(b, x))))


def _case_dequantize(rng: np.random.Generator, b: GraphBuilder) -> None:
    b.output(dequantize(b, b.input(_random_shape(rng), random_qp(rng))))


def _edge(rng: np.random.Generator, b: GraphBuilder, names: Sequence[str], share: float = 0.3) -> str:
    """With probability `share` one of the operator's named edge cases (recorded in `b.label` for failure messages),
    otherwise "" (a plain random draw)."""
    name = _choice(rng, names) if rng.random() < share else ""
    b.label = b.label or name
    return name


def _case_leaky_relu(rng: np.random.Generator, b: GraphBuilder) -> None:
    edge = _edge(rng, b, ["alpha_zero", "alpha_one", "alpha_negative", "alpha_above_one", "same_quantization",
                          "saturating_output"])
    x = b.input(_random_shape(rng), random_qp(rng))
    alpha = {"alpha_zero": 0.0, "alpha_one": 1.0, "alpha_negative": -float(rng.uniform(0.05, 2.0)),
             "alpha_above_one": float(rng.uniform(1.0, 8.0))}.get(edge, float(_choice(rng, [0.2, 0.01, 0.3,
                                                                                             rng.uniform(0, 1)])))
    out_qp = _scaled_qp(rng, _real_std(b, x))
    if edge == "same_quantization":
        out_qp = b.tensors[x].qp
    elif edge == "saturating_output":
        out_qp = QParams.per_tensor(b.tensors[x].qp.scale[0] / float(rng.uniform(4, 64)), int(rng.integers(-128, 128)))
    b.output(leaky_relu(b, x, alpha, out_qp))


def hard_swish_output_qp(rng: np.random.Generator, input_scale: float) -> QParams:
    """A HARD_SWISH output scale the interpreter accepts: (input_scale / 128) / output_scale must be below 1."""
    scale = max(input_scale * 74.0 * 3.0 / 128.0 * float(_log_uniform(rng, 0.1, 4.0)), input_scale / 100.0)
    return QParams.per_tensor(scale, int(rng.integers(-128, 128)))


def _case_hard_swish(rng: np.random.Generator, b: GraphBuilder) -> None:
    edge = _edge(rng, b, ["inside_minus3_plus3", "wide_input_range", "output_scale_near_limit", "same_quantization"])
    scale = {"inside_minus3_plus3": float(_log_uniform(rng, 1e-3, 3.0 / 256.0)),
             "wide_input_range": float(_log_uniform(rng, 0.1, 4.0))}.get(edge, float(_log_uniform(rng, 1e-3, 0.5)))
    x = b.input(_random_shape(rng), QParams.per_tensor(scale, int(rng.integers(-128, 128))))
    out_qp = hard_swish_output_qp(rng, scale)
    if edge == "output_scale_near_limit":
        out_qp = QParams.per_tensor(scale / 128.0 * float(rng.uniform(1.001, 1.1)), int(rng.integers(-128, 128)))
    elif edge == "same_quantization":
        out_qp = b.tensors[x].qp
    b.output(hard_swish(b, x, out_qp))


def _binary_edge_operands(rng: np.random.Generator, b: GraphBuilder, same_qp: bool = False) -> tuple[int, int]:
    """Operands of a broadcasting binary operator, either order, a third of them named edge cases: one quantization
    for both, a scalar operand (rank 0 when constant, as converters write `x - 3.0`), a constant operand, equal
    shapes. `same_qp`: both share one quantization (what the converter gives MINIMUM and MAXIMUM)."""
    edge = _edge(rng, b, ["same_quantization", "scalar_operand", "constant_operand", "equal_shapes"])
    shape = _random_shape(rng)
    constant = edge == "constant_operand" or rng.random() < 0.2
    partner = {"scalar_operand": (() if constant else (1,)), "equal_shapes": shape}.get(
        edge, _broadcast_partner(rng, shape))
    qp = random_qp(rng, 1e-3, 1e-1)
    other = qp if same_qp or edge == "same_quantization" or rng.random() < 0.2 else random_qp(rng, 1e-3, 1e-1)
    x = b.input(shape, qp)
    y = b.const(_int8_weights(rng, partner), other) if constant else b.input(partner, other)
    return (y, x) if rng.random() < 0.5 else (x, y)


def _case_sub(rng: np.random.Generator, b: GraphBuilder) -> None:
    x, y = _binary_edge_operands(rng, b)
    std = np.hypot(_real_std(b, x), _real_std(b, y))
    b.output(sub(b, x, y, _scaled_qp(rng, std), _activation(rng)))


def _case_minimum(rng: np.random.Generator, b: GraphBuilder) -> None:
    b.output(minimum(b, *_binary_edge_operands(rng, b, same_qp=True)))


def _case_maximum(rng: np.random.Generator, b: GraphBuilder) -> None:
    b.output(maximum(b, *_binary_edge_operands(rng, b, same_qp=True)))


def _case_squared_difference(rng: np.random.Generator, b: GraphBuilder) -> None:
    x, y = _binary_edge_operands(rng, b)
    std = np.hypot(_real_std(b, x), _real_std(b, y))
    b.output(squared_difference(b, x, y, _scaled_qp(rng, std * std)))


def _case_prelu(rng: np.random.Generator, b: GraphBuilder) -> None:
    """Keras PReLU: one slope per channel ([C] or [1, 1, C]), per position ([H, W, C]) or one for all."""
    edge = _edge(rng, b, ["one_slope", "slope_per_position", "alpha_as_input", "negative_slopes", "same_scale"])
    shape = _random_shape(rng)
    x = b.input(shape, random_qp(rng))
    alpha_shape = {"one_slope": (1,), "slope_per_position": shape[1:] or shape}.get(
        edge, _choice(rng, [shape[-1:], (1,) * (len(shape) - 2) + shape[-1:], shape[-1:]]))
    alpha_qp = QParams.per_tensor(float(_log_uniform(rng, 1e-3, 1e-1)),
                                  0 if rng.random() < 0.5 else int(rng.integers(-128, 128)))
    if edge == "alpha_as_input":
        alpha = b.input(alpha_shape, alpha_qp)
    else:
        values = _int8_weights(rng, alpha_shape)
        alpha = b.const(values if edge == "negative_slopes" else np.abs(values).astype(np.int8), alpha_qp)
    out_qp = b.tensors[x].qp if edge == "same_scale" else _scaled_qp(rng, _real_std(b, x))
    b.output(prelu(b, x, alpha, out_qp))


def _case_transpose(rng: np.random.Generator, b: GraphBuilder) -> None:
    edge = _edge(rng, b, ["identity", "nhwc_to_nchw", "reverse", "rank_5", "rank_6"])
    rank = {"nhwc_to_nchw": 4, "rank_5": 5, "rank_6": 6}.get(edge, int(rng.integers(2, 5)))
    shape = (1,) + tuple(int(rng.integers(1, 7 if rank < 5 else 4)) for _ in range(rank - 1))
    perm = {"identity": list(range(rank)), "nhwc_to_nchw": [0, 3, 1, 2], "reverse": list(range(rank))[::-1]}.get(
        edge, [0] + [int(p) + 1 for p in rng.permutation(rank - 1)])
    b.output(transpose(b, b.input(shape, random_qp(rng)), perm))


def _case_slice(rng: np.random.Generator, b: GraphBuilder) -> None:
    edge = _edge(rng, b, ["whole_tensor", "size_minus_one", "single_element"])
    shape = _random_shape(rng)
    begin = [0 if edge == "whole_tensor" else int(rng.integers(0, d)) for d in shape]
    size = [d - s if edge == "whole_tensor" else 1 if edge == "single_element" else int(rng.integers(1, d - s + 1))
            for d, s in zip(shape, begin)]
    if edge == "size_minus_one" or rng.random() < 0.1:
        size[int(rng.integers(len(size)))] = -1
    b.output(slice_(b, b.input(shape, random_qp(rng)), begin, size))


def _case_strided_slice(rng: np.random.Generator, b: GraphBuilder) -> None:
    edge = _edge(rng, b, ["negative_strides", "masks", "shrink_axis", "out_of_range_ends", "negative_indices"])
    shape = _random_shape(rng)
    rank = len(shape)
    begin, end, steps = [], [], []
    for d in shape:  # a non-empty range [lo, hi) walked forward or backward
        step = int(_choice(rng, [1, 1, 2, 3])) * (-1 if edge == "negative_strides" or rng.random() < 0.1 else 1)
        lo = int(rng.integers(0, d))
        hi = int(rng.integers(lo + 1, d + 1))
        first, last = (lo, hi) if step > 0 else (hi - 1, lo - 1 if lo > 0 else -d - 1)  # -1 would mean d - 1
        if edge == "out_of_range_ends":  # clamped by the interpreter
            if step > 0:
                last += int(rng.integers(0, 5))
            else:
                first += int(rng.integers(0, 5))
        if edge == "negative_indices":
            first -= d if 0 <= first < d else 0
            last -= d if 0 <= last < d else 0
        begin.append(first)
        end.append(last)
        steps.append(step)
    masks = int(rng.integers(0, 1 << rank)) if edge == "masks" else 0
    end_masks = int(rng.integers(0, 1 << rank)) if edge == "masks" else 0
    shrink = 0
    if edge == "shrink_axis":
        d = int(rng.integers(rank))
        begin[d], steps[d], shrink = int(rng.integers(-shape[d], shape[d])), 1, 1 << d
        end[d] = begin[d] + 1
    x = b.input(shape, random_qp(rng))
    b.output(strided_slice(b, x, begin, end, steps, masks, end_masks, shrink))


def _case_split(rng: np.random.Generator, b: GraphBuilder) -> None:
    edge = _edge(rng, b, ["one_part", "negative_axis"])
    shape = list(_random_shape(rng))
    axis = int(rng.integers(len(shape)))
    parts = 1 if edge == "one_part" else int(rng.integers(1, 5))
    shape[axis] = parts * int(rng.integers(1, 4))
    x = b.input(shape, random_qp(rng))
    for y in split(b, x, axis - len(shape) if edge == "negative_axis" else axis, parts):
        b.output(y)


def _case_split_v(rng: np.random.Generator, b: GraphBuilder) -> None:
    edge = _edge(rng, b, ["inferred_size", "one_part"])
    shape = _random_shape(rng)
    axis = int(rng.integers(len(shape)))
    cuts = [] if edge == "one_part" else sorted({int(c) for c in rng.integers(1, shape[axis] + 1, size=2)} - {
        shape[axis]})
    sizes = [hi - lo for lo, hi in zip([0, *cuts], [*cuts, shape[axis]])]  # parts of at least one element
    if edge == "inferred_size":
        sizes[int(rng.integers(len(sizes)))] = -1
    x = b.input(shape, random_qp(rng))
    for y in split_v(b, x, sizes, axis):
        b.output(y)


def _case_pack(rng: np.random.Generator, b: GraphBuilder) -> None:
    edge = _edge(rng, b, ["one_input", "last_axis", "negative_axis"])
    shape = _random_shape(rng, max_rank=3)
    count = 1 if edge == "one_input" else int(rng.integers(1, 5))
    rank = len(shape) + 1
    axis = {"last_axis": rank - 1, "negative_axis": -int(rng.integers(1, rank + 1))}.get(edge, int(rng.integers(rank)))
    qp = random_qp(rng)
    b.output(pack(b, [b.input(shape, qp) for _ in range(count)], axis))


def _case_unpack(rng: np.random.Generator, b: GraphBuilder) -> None:
    edge = _edge(rng, b, ["last_axis", "negative_axis", "one_output"])
    shape = list(_random_shape(rng))
    if len(shape) == 1:
        shape = [1] + shape
    axis = {"last_axis": len(shape) - 1, "negative_axis": -1}.get(edge, int(rng.integers(len(shape))))
    if edge == "one_output":
        shape[axis] = 1
    x = b.input(shape, random_qp(rng))
    for y in unpack(b, x, axis):
        b.output(y)


def _case_depth_to_space(rng: np.random.Generator, b: GraphBuilder) -> None:
    edge = _edge(rng, b, ["block_1", "one_output_channel"])
    block = 1 if edge == "block_1" else int(rng.integers(2, 4))
    depth = 1 if edge == "one_output_channel" else int(rng.integers(1, 5))
    shape = (1, int(rng.integers(1, 6)), int(rng.integers(1, 6)), depth * block * block)
    b.output(depth_to_space(b, b.input(shape, random_qp(rng)), block))


def _case_space_to_depth(rng: np.random.Generator, b: GraphBuilder) -> None:
    edge = _edge(rng, b, ["block_1", "one_input_channel"])
    block = 1 if edge == "block_1" else int(rng.integers(2, 4))
    channels = 1 if edge == "one_input_channel" else int(rng.integers(1, 6))
    shape = (1, block * int(rng.integers(1, 5)), block * int(rng.integers(1, 5)), channels)
    b.output(space_to_depth(b, b.input(shape, random_qp(rng)), block))


def _reduce_axes(rng: np.random.Generator, b: GraphBuilder, rank: int) -> list[int]:
    """Axes to reduce, a third of them named edge cases: every axis, none, negative, repeated, NHWC spatial."""
    edge = _edge(rng, b, ["all_axes", "no_axes", "negative_axes", "repeated_axis", "spatial_axes"])
    if edge == "all_axes":
        return list(range(rank))
    if edge == "no_axes":
        return []
    if edge == "spatial_axes" and rank == 4:
        return [1, 2]
    axes = [int(a) for a in rng.choice(rank, size=int(rng.integers(1, rank + 1)), replace=False)]
    if edge == "negative_axes":
        return [a - rank for a in axes]
    return axes + axes[:1] if edge == "repeated_axis" else axes


def _case_sum(rng: np.random.Generator, b: GraphBuilder) -> None:
    shape = _random_shape(rng)
    x = b.input(shape, random_qp(rng))
    axes = _reduce_axes(rng, b, len(shape))
    count = int(np.prod([shape[a] for a in {a % len(shape) for a in axes}]))
    out_qp = b.tensors[x].qp if rng.random() < 0.25 else _scaled_qp(rng, _real_std(b, x) * np.sqrt(count))
    b.output(reduction(b, "SUM", x, axes, bool(rng.random() < 0.5), out_qp))


def _case_reduce_max(rng: np.random.Generator, b: GraphBuilder) -> None:
    shape = _random_shape(rng)
    x = b.input(shape, random_qp(rng))
    b.output(reduction(b, "REDUCE_MAX", x, _reduce_axes(rng, b, len(shape)), bool(rng.random() < 0.5),
                       b.tensors[x].qp))


def _case_arg_max(rng: np.random.Generator, b: GraphBuilder) -> None:
    """ARG_MAX on any axis; the "ties" edge case clamps most values to one (MAXIMUM with a constant first), so the
    first of equal maxima must win."""
    edge = _edge(rng, b, ["ties", "negative_axis", "last_axis", "axis_of_one"])
    shape = list(_random_shape(rng, max_rank=4))
    if len(shape) == 1:  # a rank-1 input would give a rank-0 output, which the kernel tests do not compare
        shape = [1, *shape]
    axis = {"last_axis": len(shape) - 1, "negative_axis": -1}.get(edge, int(rng.integers(len(shape))))
    if edge == "axis_of_one":
        shape[axis] = 1
    x = b.input(shape, random_qp(rng))
    if edge == "ties":
        x = maximum(b, x, b.const(np.array([int(rng.integers(60, 127))], dtype=np.int8), b.tensors[x].qp))
    b.output(arg_max(b, x, axis))


def _case_gather(rng: np.random.Generator, b: GraphBuilder) -> None:
    """GATHER of constant indices; edge cases: an embedding lookup (axis 0 of a table), repeated indices, a matrix
    of indices, a negative axis."""
    edge = _edge(rng, b, ["embedding_table", "repeated_indices", "index_matrix", "negative_axis"])
    shape = [int(rng.integers(2, 12)), int(rng.integers(1, 9))] if edge == "embedding_table" else list(
        _random_shape(rng))
    axis = 0 if edge == "embedding_table" else int(rng.integers(len(shape)))
    index_shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4))) if edge == "index_matrix" else (
        int(rng.integers(1, 6)),)
    indices = rng.integers(0, shape[axis], size=index_shape)
    if edge == "repeated_indices":
        indices[:] = indices.reshape(-1)[0]
    x = b.input(shape, random_qp(rng))
    b.output(gather(b, x, indices, axis - len(shape) if edge == "negative_axis" else axis))


def _case_resize_nearest_neighbor(rng: np.random.Generator, b: GraphBuilder) -> None:
    """Upsampling and downsampling by any factor; edge cases: the U-Net x2, align_corners, half_pixel_centers,
    both, a 1x1 input, a 1x1 output."""
    edge = _edge(rng, b, ["upsample_x2", "align_corners", "half_pixel_centers", "both_flags", "one_pixel_input",
                          "one_pixel_output"], share=0.5)
    h, w = (1, 1) if edge == "one_pixel_input" else (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
    size = (2 * h, 2 * w) if edge == "upsample_x2" else (1, 1) if edge == "one_pixel_output" else (
        int(rng.integers(1, 13)), int(rng.integers(1, 13)))
    x = b.input((1, h, w, int(rng.integers(1, 6))), random_qp(rng))
    b.output(resize(b, "NEAREST_NEIGHBOR", x, size, edge in ("align_corners", "both_flags"),
                                     edge in ("half_pixel_centers", "both_flags")))


def _case_resize_bilinear(rng: np.random.Generator, b: GraphBuilder) -> None:
    """Upsampling and downsampling by any factor; edge cases: x2 upsampling, align_corners, half_pixel_centers
    (the interpreter refuses both together), a 1x1 input, a 1x1 output."""
    edge = _edge(rng, b, ["upsample_x2", "align_corners", "half_pixel_centers", "one_pixel_input",
                          "one_pixel_output"], share=0.5)
    h, w = (1, 1) if edge == "one_pixel_input" else (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
    size = (2 * h, 2 * w) if edge == "upsample_x2" else (1, 1) if edge == "one_pixel_output" else (
        int(rng.integers(1, 13)), int(rng.integers(1, 13)))
    x = b.input((1, h, w, int(rng.integers(1, 6))), random_qp(rng))
    b.output(resize(b, "BILINEAR", x, size, edge == "align_corners", edge == "half_pixel_centers"))


def _case_l2_normalization(rng: np.random.Generator, b: GraphBuilder) -> None:
    """Rows of any depth; edge cases: a depth of one, long rows (large sums, the inverse square root's
    pre-scaling), an input zero point at an end of the range."""
    edge = _edge(rng, b, ["depth_one", "long_rows", "extreme_zero_point"])
    shape = list(_random_shape(rng))
    if edge == "depth_one":
        shape[-1] = 1
    elif edge == "long_rows":
        shape = [1, int(rng.integers(200, 600))]
    qp = random_qp(rng)
    if edge == "extreme_zero_point":
        qp = QParams.per_tensor(qp.scale[0], int(_choice(rng, [-128, 127])))
    b.output(l2_normalization(b, b.input(shape, qp)))


def _case_exp(rng: np.random.Generator, b: GraphBuilder) -> None:
    """EXP of inputs within about [-8, 8]; edge cases: an output range that saturates, one that underflows to the
    zero point, the input's own quantization."""
    edge = _edge(rng, b, ["saturating_output", "underflowing_output", "same_quantization"])
    x = b.input(_random_shape(rng), random_qp(rng, 1e-3, 0.06))
    top = float(np.exp(b.tensors[x].qp.scale[0] * 128))
    scale = top / 256 * float(_log_uniform(rng, 0.3, 3.0))
    out_qp = QParams.per_tensor({"saturating_output": scale / 50, "underflowing_output": scale * 50}.get(edge, scale),
                                int(rng.integers(-128, -60)))
    b.output(exp(b, x, b.tensors[x].qp if edge == "same_quantization" else out_qp))


def _case_transpose_conv(rng: np.random.Generator, b: GraphBuilder) -> None:
    """Upsampling by any stride, SAME or VALID, with or without bias; the output size anywhere in the range whose
    convolution gives the input back (an ONNX output_padding). Edge cases: a stride of one, a 1x1 kernel (and a
    kernel smaller than the stride: output pixels no tap reaches hold the bias), the Keras x2 (3x3 and 4x4 kernels,
    SAME), one input pixel, per-tensor weights, no bias, large accumulators; any fused activation."""
    edge = _edge(rng, b, ["stride_1", "kernel_1x1", "kernel_below_stride", "keras_x2", "one_pixel_input",
                          "per_tensor_weights", "no_bias", "large_accumulators"])
    padding = "SAME" if edge == "keras_x2" else _choice(rng, ["SAME", "VALID"])
    in_h, in_w = (1, 1) if edge == "one_pixel_input" else (int(rng.integers(1, 7)), int(rng.integers(1, 7)))
    in_c = int(rng.integers(8, 17)) if edge == "large_accumulators" else int(rng.integers(1, 9))
    out_c = int(rng.integers(1, 21))
    stride = (1, 1) if edge == "stride_1" else (2, 2) if edge == "keras_x2" else (
        int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    kernel = {"kernel_1x1": (1, 1), "keras_x2": (_choice(rng, [3, 4]),) * 2}.get(edge, (
        int(rng.integers(1, 5)), int(rng.integers(1, 5))))
    if edge == "kernel_below_stride":
        stride, kernel = (3, int(rng.integers(2, 4))), (int(rng.integers(1, 3)), 1)
    out_hw = []
    for size, k, s in zip((in_h, in_w), kernel, stride):
        low = (size - 1) * s + 1 if padding == "SAME" else (size - 1) * s + k
        extra = 0 if edge == "keras_x2" else int(rng.integers(0, s))
        out_hw.append(size * s if edge == "keras_x2" else low + extra)
    x = b.input((1, in_h, in_w, in_c), random_qp(rng, 1e-2, 1.0))
    scales = _weight_scales(rng, out_c, edge != "per_tensor_weights", WEIGHT_SCALES)
    filters = _int8_weights(rng, (out_c, *kernel, in_c))
    if edge == "large_accumulators":
        filters = np.where(filters >= 0, 127, -127).astype(np.int8)
    bias = None if edge == "no_bias" or rng.random() < 0.2 else _bias(rng, out_c, in_c * kernel[0] * kernel[1])
    taps = max(1, -(-kernel[0] // stride[0]) * -(-kernel[1] // stride[1]) * in_c)
    out_qp = _scaled_qp(rng, _real_std(b, x) * 74.0 * float(np.mean(scales)) * np.sqrt(taps))
    b.output(transpose_conv(b, x, filters, scales, bias, out_qp, (out_hw[0], out_hw[1]), stride, padding,
                            _activation(rng)))


def _case_log_softmax(rng: np.random.Generator, b: GraphBuilder) -> None:
    """Rows of any depth; edge cases: a depth of one, long rows (large sums of exponentials), an input scale so
    small that every difference stays near 0, one so large that all but the maximum vanish (the capped input
    multiplier), ties at the maximum, constant rows."""
    edge = _edge(rng, b, ["depth_one", "long_rows", "tiny_input_scale", "huge_input_scale", "ties_at_max",
                          "constant_rows"], share=0.4)
    shape = list(_random_shape(rng))
    if edge == "depth_one":
        shape[-1] = 1
    elif edge == "long_rows":
        shape = [1, int(rng.integers(200, 1200))]
    scale = {"tiny_input_scale": float(_log_uniform(rng, 1e-5, 1e-3)),
             "huge_input_scale": float(_log_uniform(rng, 0.5, 64.0))}.get(edge, float(_log_uniform(rng, 1e-2, 0.3)))
    qp = QParams.per_tensor(scale, int(rng.integers(-128, 128)))
    x = b.input(shape, qp)
    if edge == "ties_at_max":  # most values clamped to one level (MINIMUM with a constant first)
        x = minimum(b, x, b.const(np.full((1,), int(rng.integers(-128, 128)), dtype=np.int8), qp))
    elif edge == "constant_rows":
        x = maximum(b, x, b.const(np.full((1,), 127, dtype=np.int8), qp))
    b.output(log_softmax(b, x))


_CASES: dict[str, Callable[[np.random.Generator, GraphBuilder], None]] = {
    "CONV_2D": _case_conv_2d, "DEPTHWISE_CONV_2D": _case_depthwise_conv_2d,
    "FULLY_CONNECTED": _case_fully_connected, "AVERAGE_POOL_2D": _case_average_pool_2d,
    "MAX_POOL_2D": _case_max_pool_2d, "ADD": _case_add, "MUL": _case_mul, "CONCATENATION": _case_concatenation,
    "PAD": _case_pad, "MEAN": _case_mean, "RESHAPE": _case_reshape, "SOFTMAX": _case_softmax,
    "LOGISTIC": _case_logistic, "TANH": _case_tanh, "RELU": _case_relu, "RELU6": _case_relu6,
    "QUANTIZE": _case_quantize, "DEQUANTIZE": _case_dequantize,
    "LEAKY_RELU": _case_leaky_relu, "HARD_SWISH": _case_hard_swish, "SUB": _case_sub, "MINIMUM": _case_minimum,
    "MAXIMUM": _case_maximum, "SQUARED_DIFFERENCE": _case_squared_difference, "PRELU": _case_prelu,
    "TRANSPOSE": _case_transpose, "SLICE": _case_slice, "STRIDED_SLICE": _case_strided_slice, "SPLIT": _case_split,
    "SPLIT_V": _case_split_v, "PACK": _case_pack, "UNPACK": _case_unpack, "DEPTH_TO_SPACE": _case_depth_to_space,
    "SPACE_TO_DEPTH": _case_space_to_depth, "SUM": _case_sum, "REDUCE_MAX": _case_reduce_max,
    "ARG_MAX": _case_arg_max, "GATHER": _case_gather, "RESIZE_NEAREST_NEIGHBOR": _case_resize_nearest_neighbor,
    "RESIZE_BILINEAR": _case_resize_bilinear, "L2_NORMALIZATION": _case_l2_normalization, "EXP": _case_exp,
    "TRANSPOSE_CONV": _case_transpose_conv, "LOG_SOFTMAX": _case_log_softmax,
}
OPS: tuple[str, ...] = tuple(_CASES)


def _describe(b: GraphBuilder) -> dict[str, Any]:
    return {**({"edge": b.label} if b.label else {}),
            "tensors": [(t.shape, t.dtype, t.qp.scale[:4] if t.qp else None, t.qp.zero_point[:1] if t.qp else None)
                        for t in b.tensors]}


def random_case(op: str, rng: np.random.Generator) -> Case:
    """A random single-operator model for `op` (one of `OPS`) with random inputs."""
    b = GraphBuilder()
    _CASES[op](rng, b)
    return Case(op, _describe(b), b.to_bytes(), _random_inputs(b, rng))


def residual_blocks(rng: np.random.Generator, b: GraphBuilder) -> None:
    """1-2 ResNet blocks on a new image input of `b` (the fused CONV_2D + ADD of the code generator): ADD(skip,
    conv(conv(x))) in either operand order; the skip is the block input, a 1x1 strided projection of it, or a second
    graph input. Adds the graph output."""
    shape = (1, int(rng.integers(1, 15)), int(rng.integers(1, 15)), int(rng.integers(1, 17)))
    x = b.input(shape, random_qp(rng, 1e-2, 1e-1))
    for _ in range(int(rng.integers(1, 3))):
        channels = b.tensors[x].shape[3]
        stride = _choice(rng, [1, 1, 2])
        out_c = channels if stride == 1 and rng.random() < 0.7 else int(rng.integers(1, 17))
        geometry = {"kernel": (3, 3), "stride": (stride, stride), "dilation": (1, 1), "padding": "SAME"}
        y = _add_conv(rng, b, x, out_c, geometry, "RELU")
        y = _add_conv(rng, b, y, out_c, {**geometry, "stride": (1, 1)}, _choice(rng, ["NONE", "RELU"]))
        kind = _choice(rng, ["identity", "projection", "input"])
        if kind == "identity" and b.tensors[x].shape == b.tensors[y].shape:
            skip = x
        elif kind == "input":
            skip = b.input(b.tensors[y].shape, random_qp(rng, 1e-2, 1e-1))
        else:
            skip = _add_conv(rng, b, x, out_c, {**geometry, "kernel": (1, 1)}, "NONE")
        operands = (skip, y) if rng.random() < 0.5 else (y, skip)
        std = np.hypot(_real_std(b, skip), _real_std(b, y))
        x = add(b, *operands, _scaled_qp(rng, std), _choice(rng, ["RELU", "NONE", "RELU6"]))
    b.output(x)


def merged_cases(op: str | Sequence[str], rng: np.random.Generator, count: int, max_input_bytes: int,
                 accept: Callable[[GraphBuilder], bool] | None = None) -> Case:
    """`count` independent random single-operator graphs of `op` (one of `OPS`, or "RESIDUAL" for
    `residual_blocks`) side by side in one model, each with its own inputs and outputs, keeping only draws whose
    inputs total at most `max_input_bytes`: one firmware image then checks many kernel cases. `params["cases"]`
    describes the graph behind each output, in output order (SPLIT and UNPACK graphs have several). Draws with
    an input or output whose first dimension is not 1 or that has none (FULLY_CONNECTED on a [1, n, depth] input without
    keep_num_dims gives [n, units]) are skipped, so that every sample is the tensor without its batch of one
    (`tinyml.device.targets.host.sample_shape`).
    `accept(builder)` may reject more draws (e.g. to favour the shapes a kernel variant takes). Several operators
    (`op` a sequence) take turns: `count` graphs of each, so one image checks them all."""
    ops = [op] if isinstance(op, str) else list(op)
    fills = [residual_blocks if name == "RESIDUAL" else _CASES[name] for name in ops]
    merged, described, graphs = GraphBuilder(), [], 0
    while graphs < count * len(ops):
        fill = fills[graphs % len(fills)]
        seed = int(rng.integers(2**63))
        trial = GraphBuilder()
        fill(np.random.default_rng(seed), trial)
        if sum(math.prod(trial.tensors[i].shape) for i in trial.inputs) > max_input_bytes \
                or any(trial.tensors[i].shape[:1] != (1,) for i in [*trial.inputs, *trial._outputs]) \
                or (accept is not None and not accept(trial)):
            continue
        outputs = len(merged._outputs)
        fill(np.random.default_rng(seed), merged)   # the same draw: it depends only on the generator
        assert len(merged._outputs) == outputs + len(trial._outputs)
        described += [{"op": ops[graphs % len(ops)], "seed": seed, **_describe(trial)}] * len(trial._outputs)
        graphs += 1
    return Case("+".join(ops), {"cases": described}, merged.to_bytes(), _random_inputs(merged, rng))


# ---------------------------------------------------------------------------------------------------------------
# Random networks.


_CALIBRATION_SAMPLES = 8


@dataclass
class _Network:
    """A random network under construction, with the inputs its activation ranges are calibrated on."""
    rng: np.random.Generator
    b: GraphBuilder
    calibration: list[list[np.ndarray]] = field(default_factory=list)

    def fit(self, t: int) -> int:
        """Sets the quantization of tensor `t` from its real range over the calibration inputs, as TFLite's
        post-training quantization does (min and max, widened to include 0, mapped onto [-128, 127])."""
        for _ in range(6):
            qp = self.b.tensors[t].qp
            model = self.b.to_bytes([t])
            q = np.stack([run_reference(model, inputs)[0] for inputs in self.calibration]).astype(np.int64)
            spread = int(q.max() - q.min())
            if q.min() == -128 or q.max() == 127:
                factor = 16.0
            elif 0 < spread < 64:
                factor = spread / 128
            else:
                break
            self.b.set_qp(t, QParams.per_tensor(max(qp.scale[0] * factor, 1e-6), qp.zero_point[0]))
        real = (q - qp.zero_point[0]) * qp.scale[0]
        low, high = min(float(real.min()), 0.0), max(float(real.max()), 0.0)
        scale = max((high - low) / 255.0, 1e-6)
        self.b.set_qp(t, QParams.per_tensor(scale, int(np.clip(round(-128 - low / scale), -128, 127))))
        return t

    def conv(self, x: int, out_channels: int, geometry: dict[str, Any] | None = None,
             activation: str | None = None) -> int:
        return self.fit(_add_conv(self.rng, self.b, x, out_channels, geometry, activation, _NETWORK_WEIGHT_SCALES))

    def depthwise(self, x: int, depth_multiplier: int, activation: str) -> int:
        return self.fit(_add_depthwise(self.rng, self.b, x, depth_multiplier, activation, _NETWORK_WEIGHT_SCALES))

    def fully_connected(self, x: int, units: int, activation: str | None = None) -> int:
        return self.fit(_add_fully_connected(self.rng, self.b, x, units, activation,
                                             scale_range=_NETWORK_WEIGHT_SCALES))


def _cnn_block(net: _Network, x: int) -> int:
    """One random CNN stage: convolution, depthwise-separable pair, pooling, residual, concatenation, ..."""
    rng, b = net.rng, net.b
    channels = b.tensors[x].shape[3]
    kind = _choice(rng, ["conv", "depthwise", "pool", "residual", "concat", "pad_conv", "relu"])
    if kind == "conv":
        return net.conv(x, int(rng.integers(2, 17)))
    if kind == "depthwise":
        y = net.depthwise(x, _choice(rng, [1, 1, 2]), "RELU6")
        return net.conv(y, int(rng.integers(2, 17)), _pointwise(), "RELU")
    if kind == "pool":
        return _add_pool(rng, b, x, _choice(rng, ["AVERAGE", "MAX"]))
    if kind == "residual":
        y = net.conv(x, channels, _same_3x3(), "RELU")
        y = net.conv(y, channels, _same_3x3(), "NONE")
        return net.fit(add(b, x, y, _scaled_qp(rng, np.hypot(_real_std(b, x), _real_std(b, y))), "RELU"))
    if kind == "concat":
        y = net.conv(x, int(rng.integers(1, 9)), _same_3x3())
        z = quantize(b, y, b.tensors[x].qp)  # CONCATENATION needs equal quantization: requantize one branch
        return concatenation(b, [x, z], axis=3)
    if kind == "pad_conv":
        y = pad(b, x, [(0, 0), (1, 1), (1, 1), (0, 0)])
        return net.conv(y, int(rng.integers(2, 17)), {**_same_3x3(), "padding": "VALID"})
    return _choice(rng, [relu, relu6])(b, x)


def _same_3x3() -> dict[str, Any]:
    return {"kernel": (3, 3), "stride": (1, 1), "dilation": (1, 1), "padding": "SAME"}


def _pointwise() -> dict[str, Any]:
    return {"kernel": (1, 1), "stride": (1, 1), "dilation": (1, 1), "padding": "SAME"}


def _classifier_head(net: _Network, x: int) -> int:
    """Global pooling (MEAN or AVERAGE_POOL_2D + RESHAPE), FULLY_CONNECTED, optional SOFTMAX."""
    b = net.b
    _, height, width, channels = b.tensors[x].shape
    if net.rng.random() < 0.5:
        x = mean(b, x, [1, 2], keep_dims=False, out_qp=b.tensors[x].qp)
    else:
        x = pool_2d(b, x, "AVERAGE", (height, width), (1, 1), "VALID")
        x = reshape(b, x, (1, channels))
    y = net.fully_connected(x, int(net.rng.integers(2, 13)), "NONE")
    return softmax(b, y) if net.rng.random() < 0.6 else y


def _random_cnn(net: _Network, x: int) -> int:
    for _ in range(int(net.rng.integers(1, 5))):
        x = _cnn_block(net, x)
    return _classifier_head(net, x)


def _random_mlp(net: _Network, x: int) -> int:
    for _ in range(int(net.rng.integers(1, 5))):
        x = net.fully_connected(x, int(net.rng.integers(4, 65)))
        if net.rng.random() < 0.2:
            x = _choice(net.rng, [logistic, tanh])(net.b, x)
    x = net.fully_connected(x, int(net.rng.integers(2, 17)), "NONE")
    return softmax(net.b, x) if net.rng.random() < 0.5 else x


def _random_conv1d(net: _Network, x: int) -> int:
    """Keras Conv1D lowering: RESHAPE [1, W, C] -> [1, 1, W, C], CONV_2D with 1xK kernels, RESHAPE back."""
    b = net.b
    _, width, channels = b.tensors[x].shape
    x = reshape(b, x, (1, 1, width, channels))
    for _ in range(int(net.rng.integers(1, 4))):
        kernel, dilation = int(net.rng.integers(1, 6)), int(net.rng.integers(1, 3))
        x = net.conv(x, int(net.rng.integers(2, 17)),
                     {"kernel": (1, kernel), "stride": (1, 1), "dilation": (1, dilation), "padding": "SAME"})
    _, _, width, channels = b.tensors[x].shape
    x = reshape(b, x, (1, width, channels))
    x = mean(b, x, [1], keep_dims=False, out_qp=b.tensors[x].qp)
    return net.fully_connected(x, int(net.rng.integers(2, 11)), "NONE")


def random_network(rng: np.random.Generator) -> Case:
    """A small random int8 CNN, MLP or Conv1D-like model; sometimes with float input/output (QUANTIZE/DEQUANTIZE).

    Intermediate quantization is calibrated on a few random inputs, as post-training quantization would do, so
    that activations neither vanish nor saturate; the returned inputs are drawn independently.
    """
    net = _Network(rng, GraphBuilder())
    kind = _choice(rng, ["cnn", "mlp", "conv1d"])
    shape = {"cnn": (1, int(rng.integers(4, 21)), int(rng.integers(4, 21)), int(rng.integers(1, 5))),
             "mlp": (1, int(rng.integers(4, 65))),
             "conv1d": (1, int(rng.integers(4, 33)), int(rng.integers(1, 9)))}[kind]
    float_io = rng.random() < 0.2
    qp = random_qp(rng, 1e-2, 1e-1)
    x = quantize(net.b, net.b.input(shape, None, FLOAT32), qp) if float_io else net.b.input(shape, qp)
    net.calibration = [_random_inputs(net.b, rng) for _ in range(_CALIBRATION_SAMPLES)]
    y = {"cnn": _random_cnn, "mlp": _random_mlp, "conv1d": _random_conv1d}[kind](net, x)
    net.b.output(dequantize(net.b, y) if float_io else y)
    return Case(f"network:{kind}", _describe(net.b), net.b.to_bytes(), _random_inputs(net.b, rng))
