"""Programmatic full-integer int8 .tflite models for testing the compiler against the TFLite reference.

Models are written directly with the flatbuffer object API of `ai_edge_litert.schema_py_generated` (no
TensorFlow converter), so every shape, scale, zero point and option is under exact control and thousands of
cases build in seconds.

- `GraphBuilder` plus one function per operator (`conv_2d`, `depthwise_conv_2d`, `fully_connected`, `pool_2d`,
  `add`, `mul`, `concatenation`, `pad`, `mean`, `reshape`, `softmax`, `logistic`, `tanh`, `relu`, `relu6`,
  `quantize`, `dequantize`): each adds the operator (and its constant tensors) and returns the output tensor.
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
                "SOFTMAX": 2, "LOGISTIC": 2, "TANH": 2, "RELU": 2, "RELU6": 2, "QUANTIZE": 2, "DEQUANTIZE": 2}

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
        out = self._add_tensor(out_shape, out_dtype, out_qp, None)
        operator = schema.OperatorT()
        operator.opcodeIndex = self._opcode(name)
        operator.inputs = np.array(inputs, dtype=np.int32)
        operator.outputs = np.array([out], dtype=np.int32)
        if options is not None:
            operator.builtinOptionsType = getattr(schema.BuiltinOptions, type(options).__name__[:-1])
            operator.builtinOptions = options
        self._operators.append(operator)
        return out

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
    in_shape = b.tensors[x].shape
    reduced = {a % len(in_shape) for a in axes}
    out_shape = tuple(1 if i in reduced else d for i, d in enumerate(in_shape) if keep_dims or i not in reduced)
    options = schema.ReducerOptionsT()
    options.keepDims = keep_dims
    return b.op("MEAN", [x, b.const(np.array(axes, dtype=np.int32))], out_shape, out_qp, options)


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


_CASES: dict[str, Callable[[np.random.Generator, GraphBuilder], None]] = {
    "CONV_2D": _case_conv_2d, "DEPTHWISE_CONV_2D": _case_depthwise_conv_2d,
    "FULLY_CONNECTED": _case_fully_connected, "AVERAGE_POOL_2D": _case_average_pool_2d,
    "MAX_POOL_2D": _case_max_pool_2d, "ADD": _case_add, "MUL": _case_mul, "CONCATENATION": _case_concatenation,
    "PAD": _case_pad, "MEAN": _case_mean, "RESHAPE": _case_reshape, "SOFTMAX": _case_softmax,
    "LOGISTIC": _case_logistic, "TANH": _case_tanh, "RELU": _case_relu, "RELU6": _case_relu6,
    "QUANTIZE": _case_quantize, "DEQUANTIZE": _case_dequantize,
}
OPS: tuple[str, ...] = tuple(_CASES)


def _describe(b: GraphBuilder) -> dict[str, Any]:
    return {"tensors": [(t.shape, t.dtype, t.qp.scale[:4] if t.qp else None, t.qp.zero_point[:1] if t.qp else None)
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


def merged_cases(op: str, rng: np.random.Generator, count: int, max_input_bytes: int,
                 accept: Callable[[GraphBuilder], bool] | None = None) -> Case:
    """`count` independent random single-operator graphs of `op` (one of `OPS`, or "RESIDUAL" for
    `residual_blocks`) side by side in one model, each with its own inputs and one output, keeping only draws whose
    inputs total at most `max_input_bytes`: one firmware image then checks many kernel cases. `params["cases"]`
    describes the graph behind each output, in output order. Draws with an input or output whose first dimension
    is not 1 (FULLY_CONNECTED on a [1, n, depth] input without keep_num_dims gives [n, units]) are skipped, so
    that every sample is the tensor without its batch of one (`tinyml.device.targets.host.sample_shape`).
    `accept(builder)` may reject more draws (e.g. to favour the shapes a kernel variant takes)."""
    fill = residual_blocks if op == "RESIDUAL" else _CASES[op]
    merged, described = GraphBuilder(), []
    while len(described) < count:
        seed = int(rng.integers(2**63))
        trial = GraphBuilder()
        fill(np.random.default_rng(seed), trial)
        if sum(math.prod(trial.tensors[i].shape) for i in trial.inputs) > max_input_bytes \
                or any(trial.tensors[i].shape[0] != 1 for i in [*trial.inputs, *trial._outputs]) \
                or (accept is not None and not accept(trial)):
            continue
        outputs = len(merged._outputs)
        fill(np.random.default_rng(seed), merged)   # the same draw: it depends only on the generator
        assert len(merged._outputs) == outputs + 1
        described.append({"seed": seed, **_describe(trial)})
    return Case(op, {"cases": described}, merged.to_bytes(), _random_inputs(merged, rng))


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
