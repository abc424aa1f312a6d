"""Programmatic .tflite models whose CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED filters are INT4 (TensorType 17),
as the TFLite converter writes them for 4-bit QAT weights (`converter._experimental_low_bit_qat = True`): two values
per byte over the whole flattened filter, the first in the low nibble; operator versions CONV_2D 7,
DEPTHWISE_CONV_2D 7, FULLY_CONNECTED 10.

- `Int4Builder`: a `GraphBuilder` whose int8 filters (constants of rank >= 2) are written as INT4.
- `_add_conv`, `add_depthwise`, `add_fully_connected`: one random int4 operator on a fresh input (random shapes,
  strides, padding, dilation, fused activation, per-channel or per-tensor scales over three decades, zero points),
  with named edge cases (`EDGES`: `odd_row`, a filter row of odd length, so every other channel's row starts
  mid-byte; `full_range`, only the extreme values -8 and 7; `one_by_one`, a 1x1 (depthwise) convolution;
  `batched`, an FC over several rows; `no_bias`).
- `random_case(op, rng)`: one such operator in its own model; `merged_case(rng, count, ...)`: `count` of each
  side by side in one model (one build, one emulator session)."""
from __future__ import annotations

import math
from collections.abc import Callable

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from tests.tflite_models import (  # the private helpers: the int8 cases' random geometry and draws
    Case,
    GraphBuilder,
    QParams,
    _activation,
    _bias,
    _choice,
    _log_uniform,
    _random_conv_geometry,
    _random_inputs,
    conv_2d,
    depthwise_conv_2d,
    fully_connected,
    random_qp,
)

INT4 = schema.TensorType.INT4
INT4_VERSIONS = {"CONV_2D": 7, "DEPTHWISE_CONV_2D": 7, "FULLY_CONNECTED": 10}
OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
OPCODE_NAMES = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
EDGES = ("odd_row", "full_range", "one_by_one", "batched", "no_bias")
_INT4_STD = 4.6  # standard deviation of a uniform value in [-8, 7]


def pack_nibbles(values: np.ndarray) -> np.ndarray:
    """TFLite's INT4 bytes: value 2k in the low nibble of byte k, value 2k + 1 in its high nibble."""
    flat = [int(v) & 0x0F for v in values.reshape(-1)] + [0]
    return np.array([flat[i] | flat[i + 1] << 4 for i in range(0, values.size, 2)], dtype=np.uint8)


class Int4Builder(GraphBuilder):
    """A GraphBuilder whose int8 constants of rank >= 2 (the filters) are INT4 tensors, with the operator versions
    the converter writes for them (or `versions`, to test what tinyml refuses)."""

    def __init__(self, versions: dict[str, int] | None = None) -> None:
        super().__init__()
        self.versions = {**INT4_VERSIONS, **(versions or {})}

    def const(self, data: np.ndarray, qp: QParams | None = None) -> int:
        if data.dtype == np.int8 and data.ndim >= 2:
            assert data.min() >= -8 and data.max() <= 7, "int4 filter values lie in [-8, 7]"
            return self._add_tensor(data.shape, INT4, qp, pack_nibbles(data))
        return super().const(data, qp)

    def to_bytes(self, outputs=None) -> bytes:
        model = schema.ModelT.InitFromPackedBuf(bytearray(super().to_bytes(outputs)), 0)
        for code in model.operatorCodes:
            name = OPCODE_NAMES[code.builtinCode]
            code.version = self.versions.get(name, code.version)
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def _weights(rng: np.random.Generator, shape: tuple[int, ...], edge: str) -> np.ndarray:
    if edge == "full_range":
        return rng.choice(np.array([-8, 7], dtype=np.int8), size=shape)
    return rng.integers(-8, 8, size=shape, dtype=np.int8)


def _output_qp(rng: np.random.Generator, b: GraphBuilder, x: int, scales: list[float], depth: int) -> QParams:
    """For outputs of standard deviation about that of the accumulated products: mostly in range to saturating."""
    real_std = b.tensors[x].qp.scale[0] * 74.0 * float(np.median(scales)) * _INT4_STD * math.sqrt(depth)
    scale = real_std * 3.0 / 128.0 * _log_uniform(rng, 0.25, 4.0)
    return QParams.per_tensor(float(np.clip(scale, 1e-6, 1e3)), int(rng.integers(-128, 128)))


def _scales(rng: np.random.Generator, channels: int) -> list[float]:
    return list(_log_uniform(rng, 1e-4, 1e-1, channels if rng.random() < 0.8 else 1))


def _add_conv(rng: np.random.Generator, b: GraphBuilder, max_size: int = 9, max_channels: int = 9) -> dict:
    """A random int4 CONV_2D on a new input; returns its parameters (for failure messages)."""
    edge = _choice(rng, EDGES[:3]) if rng.random() < 0.4 else ""
    in_c, out_c = int(rng.integers(1, max_channels + 1)), int(rng.integers(1, max_channels + 1))
    if edge == "odd_row":
        in_c |= 1
    x = b.input((1, int(rng.integers(1, max_size + 1)), int(rng.integers(1, max_size + 1)), in_c), random_qp(rng))
    geometry = _random_conv_geometry(rng, b, x)
    kh, kw = geometry["kernel"]
    if edge in ("odd_row", "one_by_one"):  # odd kernel sides (never larger: VALID padding still fits)
        kh, kw = (1, 1) if edge == "one_by_one" else (kh - 1 + kh % 2, kw - 1 + kw % 2)
        geometry = {**geometry, "kernel": (kh, kw)}
    depth = kh * kw * in_c
    scales = _scales(rng, out_c)
    y = conv_2d(b, x, _weights(rng, (out_c, kh, kw, in_c), edge), scales, _bias(rng, out_c, depth) // 16,
                _output_qp(rng, b, x, scales, depth), geometry["stride"], geometry["padding"], geometry["dilation"],
                _activation(rng))
    b.output(y)
    return {"op": "CONV_2D", "edge": edge, "input": b.tensors[x].shape, "out_c": out_c, **geometry,
            "per_channel": len(scales) > 1}


def add_depthwise(rng: np.random.Generator, b: GraphBuilder, max_size: int = 9, max_channels: int = 9) -> dict:
    """A random int4 DEPTHWISE_CONV_2D (depth multiplier 1 to 3) on a new input; returns its parameters."""
    edge = _choice(rng, ("odd_row", "full_range", "one_by_one")) if rng.random() < 0.4 else ""
    in_c, multiplier = int(rng.integers(1, max_channels + 1)), int(rng.integers(1, 4))
    if edge == "odd_row":  # an odd filter (kh * kw * out_c): the last tap's last channel ends mid-byte
        in_c, multiplier = in_c | 1, multiplier | 1
    x = b.input((1, int(rng.integers(1, max_size + 1)), int(rng.integers(1, max_size + 1)), in_c), random_qp(rng))
    geometry = _random_conv_geometry(rng, b, x)
    kh, kw = geometry["kernel"]
    if edge in ("odd_row", "one_by_one"):
        kh, kw = (1, 1) if edge == "one_by_one" else (kh - 1 + kh % 2, kw - 1 + kw % 2)
        geometry = {**geometry, "kernel": (kh, kw)}
    out_c = in_c * multiplier
    scales = _scales(rng, out_c)
    y = depthwise_conv_2d(b, x, _weights(rng, (1, kh, kw, out_c), edge), scales, _bias(rng, out_c, kh * kw) // 16,
                          _output_qp(rng, b, x, scales, kh * kw), multiplier, geometry["stride"],
                          geometry["padding"], geometry["dilation"], _activation(rng))
    b.output(y)
    return {"op": "DEPTHWISE_CONV_2D", "edge": edge, "input": b.tensors[x].shape, "multiplier": multiplier,
            **geometry, "per_channel": len(scales) > 1}


def add_fully_connected(rng: np.random.Generator, b: GraphBuilder, max_features: int = 40,
                        max_units: int = 12, batched: bool = True) -> dict:
    """A random int4 FULLY_CONNECTED on a new input (of several rows only if `batched`); returns its parameters."""
    edges = ("odd_row", "full_range", "batched", "no_bias") if batched else ("odd_row", "full_range", "no_bias")
    edge = _choice(rng, edges) if rng.random() < 0.4 else ""
    depth, units = int(rng.integers(1, max_features + 1)), int(rng.integers(1, max_units + 1))
    if edge == "odd_row":
        depth |= 1
    batches = int(rng.integers(2, 4)) if edge == "batched" else 1
    x = b.input((batches, depth), random_qp(rng))
    scales = _scales(rng, units)
    bias = None if edge == "no_bias" else _bias(rng, units, depth) // 16  # int4 products: a 16th of int8 ones
    y = fully_connected(b, x, _weights(rng, (units, depth), edge), scales, bias,
                        _output_qp(rng, b, x, scales, depth), _activation(rng))
    b.output(y)
    return {"op": "FULLY_CONNECTED", "edge": edge, "batches": batches, "depth": depth, "units": units,
            "per_channel": len(scales) > 1}


ADDERS: dict[str, Callable[..., dict]] = {"CONV_2D": _add_conv, "DEPTHWISE_CONV_2D": add_depthwise,
                                          "FULLY_CONNECTED": add_fully_connected}


def random_case(op: str, rng: np.random.Generator) -> Case:
    b = Int4Builder()
    params = ADDERS[op](rng, b)
    return Case(op, params, b.to_bytes(), _random_inputs(b, rng))


def merged_case(rng: np.random.Generator, count: int, **limits: int) -> Case:
    """`count` random graphs of each of OPS side by side in one model (each its own input and output); `limits`
    (max_size, max_channels for CONV_2D; max_features, max_units for FULLY_CONNECTED) keep them small. FC draws
    with several batch rows are left out: every sample must be its tensor without a batch of one."""
    b, described = Int4Builder(), []
    conv_limits = {k: v for k, v in limits.items() if k in ("max_size", "max_channels")}
    fc_limits = {k: v for k, v in limits.items() if k in ("max_features", "max_units")}
    for _ in range(count):
        described.append(_add_conv(rng, b, **conv_limits))
        described.append(add_depthwise(rng, b, **conv_limits))
        described.append(add_fully_connected(rng, b, **fc_limits, batched=False))
    return Case("INT4", {"cases": described}, b.to_bytes(), _random_inputs(b, rng))
