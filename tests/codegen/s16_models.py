"""Random 16x8 single-operator models (int16 activations with zero point 0, int8 symmetric weights, int64 bias), as
TFLite's converter emits them with EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8, for the kernel tests
on the host (test_kernels_16x8.py) and in QEMU (tests/bench/test_ops_16x8_qemu.py).

The operators are written with `tests.tflite_models`' builders; `Int16Builder` makes every activation they add
int16 and every quantized int32 constant (a bias) int64. Each random draw may take a named edge case (recorded as
`params["edge"]`): full-scale and zero inputs, saturating outputs, requantization multipliers above 1 (a left
shift), and for QUANTIZE float inputs half way between two int16 steps ("half_way").
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from tests.tflite_models import (  # the private helpers: the int8 cases' random geometry and draws
    FLOAT32,
    INT8,
    Case,
    GraphBuilder,
    QParams,
    _choice,
    _log_uniform,
    _random_conv_geometry,
    conv_2d,
    depthwise_conv_2d,
    dequantize,
    fully_connected,
    pool_2d,
    quantize,
)

INT16 = schema.TensorType.INT16
INT64 = schema.TensorType.INT64
INT16_STD = 18918.0  # standard deviation of a uniform int16 value
WEIGHT_STD = 74.0    # ... of a uniform int8 weight
ACTIVATIONS = ("NONE", "NONE", "RELU", "RELU6", "RELU_N1_TO_1")
EDGES = ("full_scale_input", "saturating_output", "zero_input", "large_multiplier")


class Int16Builder(GraphBuilder):
    """A GraphBuilder for 16x8 graphs: int8 activations become int16, quantized int32 constants (biases) int64
    (or stay int32 with `wide_bias=False`, a malformed 16x8 model)."""

    def __init__(self, wide_bias: bool = True) -> None:
        super().__init__()
        self.wide_bias = wide_bias
        self.half_way_scales: dict[int, float] = {}  # QUANTIZE inputs of the "half_way" edge: the output scale

    def input(self, shape: Sequence[int], qp: QParams | None, dtype: int = INT16) -> int:
        return super().input(shape, qp, dtype)

    def const(self, data: np.ndarray, qp: QParams | None = None) -> int:
        if data.dtype == np.int32 and qp is not None and self.wide_bias:
            return self._add_tensor(data.shape, INT64, qp, data.astype(np.int64))
        return super().const(data, qp)

    def multi_op(self, name: str, inputs: Sequence[int], out_shapes: Sequence[Sequence[int]], out_qp: QParams | None,
                 options: Any = None, out_dtype: int = INT8) -> list[int]:
        return super().multi_op(name, inputs, out_shapes, out_qp, options, INT16 if out_dtype == INT8 else out_dtype)


def _edge(rng: np.random.Generator, b: GraphBuilder) -> str:
    """A named edge case (a third of the draws) or "" (a plain random case)."""
    b.label = _choice(rng, EDGES) if rng.random() < 0.35 else ""
    return b.label


def _qp(scale: float) -> QParams:
    return QParams.per_tensor(float(np.clip(scale, 1e-9, 1e3)), 0)


def _output_qp(rng: np.random.Generator, b: GraphBuilder, x: int, scales: list, depth: int, edge: str) -> QParams:
    """Output quantization for the layer's values (input x, weight scales, `depth` products per output): mostly in
    range, or saturating, or (large_multiplier) a real multiplier of 2 to 7.5 (a left shift in the requantization,
    which layers quantized from real data rarely take) for the edge's small inputs and biases. The interpreter
    refuses 16x8 multipliers of 8 and more ("no_integer_overflow_from_quantization")."""
    if edge == "large_multiplier":
        return _qp(b.tensors[x].qp.scale[0] * scales[0] / 2.0 ** rng.uniform(1, 2.9))
    real_std = b.tensors[x].qp.scale[0] * INT16_STD * float(np.median(scales)) * WEIGHT_STD * np.sqrt(depth)
    spread = _log_uniform(rng, 0.01, 0.05) if edge == "saturating_output" else _log_uniform(rng, 0.25, 4.0)
    return _qp(real_std * 3.0 / 32768.0 * spread)


def _image(rng: np.random.Generator, b: GraphBuilder, max_size: int, max_channels: int) -> int:
    shape = (1, int(rng.integers(1, max_size + 1)), int(rng.integers(1, max_size + 1)),
             int(rng.integers(1, max_channels + 1)))
    return b.input(shape, _qp(_log_uniform(rng, 1e-5, 1e-2)))


def _weights(rng: np.random.Generator, shape: Sequence[int], channels: int, edge: str) -> tuple[np.ndarray, list]:
    scales = list(_log_uniform(rng, 1e-4, 1e-1, channels if rng.random() < 0.85 else 1))
    if edge == "large_multiplier":  # one scale, large enough that the output scale stays a normal tiny number
        scales = [float(_log_uniform(rng, 1e-2, 1e-1))]
    return rng.integers(-127, 128, size=tuple(shape), dtype=np.int8), scales


def _bias(rng: np.random.Generator, channels: int, depth: int, edge: str) -> np.ndarray:
    bound = 16 if edge == "large_multiplier" else int(np.sqrt(depth) * INT16_STD * WEIGHT_STD)
    return rng.integers(-bound, bound + 1, size=channels).astype(np.int32)


def _case_conv_2d(rng: np.random.Generator, b: GraphBuilder, max_size: int, max_channels: int) -> None:
    edge = _edge(rng, b)
    x = _image(rng, b, max_size, max_channels)
    g = _random_conv_geometry(rng, b, x)
    (kh, kw), in_c = g["kernel"], b.tensors[x].shape[3]
    out_c = int(rng.integers(1, max_channels + 1))
    filters, scales = _weights(rng, (out_c, kh, kw, in_c), out_c, edge)
    out_qp = _output_qp(rng, b, x, scales, kh * kw * in_c, edge)
    b.output(conv_2d(b, x, filters, scales, _bias(rng, out_c, kh * kw * in_c, edge), out_qp, g["stride"], g["padding"],
                     g["dilation"], _choice(rng, ACTIVATIONS)))


def _case_depthwise_conv_2d(rng: np.random.Generator, b: GraphBuilder, max_size: int, max_channels: int) -> None:
    edge = _edge(rng, b)
    x = _image(rng, b, max_size, max_channels)
    g = _random_conv_geometry(rng, b, x)
    (kh, kw), multiplier = g["kernel"], _choice(rng, [1, 1, 2, 3])
    out_c = b.tensors[x].shape[3] * multiplier
    filters, scales = _weights(rng, (1, kh, kw, out_c), out_c, edge)
    out_qp = _output_qp(rng, b, x, scales, kh * kw, edge)
    b.output(depthwise_conv_2d(b, x, filters, scales, _bias(rng, out_c, kh * kw, edge), out_qp, multiplier, g["stride"],
                               g["padding"], g["dilation"], _choice(rng, ACTIVATIONS)))


def _case_fully_connected(rng: np.random.Generator, b: GraphBuilder, max_size: int, max_channels: int) -> None:
    edge = _edge(rng, b)
    depth = int(rng.integers(1, max_size * max_channels // 2 + 2))
    rows = int(rng.integers(1, 4)) if rng.random() < 0.3 else 1
    x = b.input((1, rows, depth) if rows > 1 else (1, depth), _qp(_log_uniform(rng, 1e-5, 1e-2)))
    units = int(rng.integers(1, 2 * max_channels + 1))
    weights, scales = _weights(rng, (units, depth), units, edge)
    scales = scales if rng.random() < 0.3 else scales[:1]  # the converter writes per-tensor FC weights
    bias = _bias(rng, units, depth, edge) if rng.random() < 0.8 else None
    out_qp = _output_qp(rng, b, x, scales, depth, edge)
    b.output(fully_connected(b, x, weights, scales, bias, out_qp, _choice(rng, ACTIVATIONS), keep_num_dims=rows > 1))


def _pool(kind: str) -> Callable[[np.random.Generator, GraphBuilder, int, int], None]:
    def case(rng: np.random.Generator, b: GraphBuilder, max_size: int, max_channels: int) -> None:
        _edge(rng, b)
        x = _image(rng, b, max_size, max_channels)
        _, height, width, _ = b.tensors[x].shape
        padding = _choice(rng, ["SAME", "VALID"])
        size = [int(rng.integers(1, 6)) for _ in range(2)]
        if padding == "VALID":
            size = [min(size[0], height), min(size[1], width)]
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        b.output(pool_2d(b, x, kind, (size[0], size[1]), stride, padding, _choice(rng, ACTIVATIONS)))
    return case


def _case_quantize(rng: np.random.Generator, b: GraphBuilder, max_size: int, max_channels: int) -> None:
    """float32 -> int16 (a 16x8 model's float input): the float input goes in as a float graph input. Edge
    "half_way": inputs within a rounding error of (k + 1/2) * scale, where the interpreter's SIMD blocks (reciprocal,
    ties to even) and its scalar tail (double division, ties away) round differently."""
    b.label = "half_way" if rng.random() < 0.4 else ""
    shape = (1, int(rng.integers(1, max_size * max_channels + 1)))
    qp = _qp(_log_uniform(rng, 1e-5, 1e-2))
    x = b.input(shape, None, FLOAT32)
    if b.label:
        b.half_way_scales[x] = qp.scale[0]
    b.output(quantize(b, x, qp))


def _case_dequantize(rng: np.random.Generator, b: GraphBuilder, max_size: int, max_channels: int) -> None:
    b.label = ""
    shape = (1, int(rng.integers(1, max_size * max_channels + 1)))
    b.output(dequantize(b, b.input(shape, _qp(_log_uniform(rng, 1e-5, 1e-2)))))


CASES: dict[str, Callable[[np.random.Generator, GraphBuilder, int, int], None]] = {
    "CONV_2D": _case_conv_2d, "DEPTHWISE_CONV_2D": _case_depthwise_conv_2d, "FULLY_CONNECTED": _case_fully_connected,
    "AVERAGE_POOL_2D": _pool("AVERAGE"), "MAX_POOL_2D": _pool("MAX"), "QUANTIZE": _case_quantize,
    "DEQUANTIZE": _case_dequantize,
}
OPS: tuple[str, ...] = tuple(CASES)


def random_inputs(b: GraphBuilder, rng: np.random.Generator) -> list[np.ndarray]:
    """Uniform int16 (full scale or all zero for those edge cases), or floats spanning the int16 range and beyond."""
    arrays = []
    for index in b.inputs:
        info = b.tensors[index]
        if index in b.half_way_scales:
            halves = rng.integers(-40000, 40000, size=info.shape) + 0.5
            noise = 1 + rng.normal(0, 1e-7, size=info.shape)
            arrays.append((halves * b.half_way_scales[index] * noise).astype(np.float32))
        elif info.dtype == FLOAT32:
            arrays.append((rng.standard_normal(info.shape) * rng.uniform(1e-3, 1e3)).astype(np.float32))
        elif b.label == "full_scale_input":
            arrays.append(rng.choice(np.array([-32768, 32767], dtype=np.int16), size=info.shape))
        elif b.label == "zero_input":
            arrays.append(np.zeros(info.shape, dtype=np.int16))
        elif b.label == "large_multiplier":  # small values, so that the outputs need not saturate
            arrays.append(rng.integers(-3, 4, size=info.shape, dtype=np.int16))
        else:
            arrays.append(rng.integers(-32768, 32768, size=info.shape, dtype=np.int16))
    return arrays


def _describe(b: GraphBuilder) -> dict[str, Any]:
    return {**({"edge": b.label} if b.label else {}),
            "tensors": [(t.shape, t.dtype, t.qp.scale[:4] if t.qp else None) for t in b.tensors]}


def random_case(op: str, rng: np.random.Generator, max_size: int = 12, max_channels: int = 12) -> Case:
    """A random 16x8 single-operator model for `op` (one of `OPS`) with random inputs."""
    b = Int16Builder()
    CASES[op](rng, b, max_size, max_channels)
    return Case(op, _describe(b), b.to_bytes(), random_inputs(b, rng))


def merged_cases(ops: Sequence[str], rng: np.random.Generator, count: int, max_size: int, max_channels: int) -> Case:
    """`count` independent graphs of each of `ops` side by side in one model (each its own input and output), so one
    build and one emulator session check them all; params["cases"] describes each output's graph."""
    b, described = Int16Builder(), []
    for k in range(count * len(ops)):
        CASES[ops[k % len(ops)]](rng, b, max_size, max_channels)
        described.append({"op": ops[k % len(ops)], **({"edge": b.label} if b.label else {})})
    b.label = ""
    return Case("+".join(ops), {"cases": described}, b.to_bytes(), random_inputs(b, rng))
