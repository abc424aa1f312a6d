"""Elementwise activations: Relu, Clip (ReLU6), LeakyRelu, PRelu, HardSigmoid, HardSwish, Sigmoid, Tanh, Softmax,
and the pass-throughs Dropout and Identity."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tinyml.train.onnx.layout import constant_like

if TYPE_CHECKING:
    from tinyml.train.onnx.state import Translator


def _unary(tr: Translator, node, layer, nonneg: bool = False) -> None:
    x = tr.act(node)
    tr.set(node, layer(x.t), x.shape, x.order, nonneg)


def relu(tr: Translator, node, a: dict) -> None:
    _unary(tr, node, tr.keras.layers.ReLU(), nonneg=True)


def clip(tr: Translator, node, a: dict) -> None:
    lo_c, hi_c = tr.optional_const(node, 1), tr.optional_const(node, 2)
    lo = a.get("min", float(lo_c) if lo_c is not None else None)
    hi = a.get("max", float(hi_c) if hi_c is not None else None)
    if lo != 0 or (hi is not None and hi != 6 and not np.isinf(hi)):
        tr.fail(node, f"only Clip(0, 6) and Clip(0, inf) (ReLU6, ReLU) are supported, got ({lo}, {hi})")
    _unary(tr, node, tr.keras.layers.ReLU(max_value=6.0 if hi == 6 else None), nonneg=True)


def leaky_relu(tr: Translator, node, a: dict) -> None:
    _unary(tr, node, tr.keras.layers.LeakyReLU(negative_slope=a.get("alpha", 0.01)))


def prelu(tr: Translator, node, a: dict) -> None:
    x = tr.act(node)
    slope = constant_like(tr.const(node, node.input[1]), x)
    rank = len(x.t.shape) - 1
    slope = np.broadcast_to(slope, (1,) * (rank + 1)) if slope.ndim == 0 else slope
    shared = [i for i in range(1, rank + 1) if slope.shape[i] == 1]
    layer = tr.keras.layers.PReLU(shared_axes=shared or None)
    out = layer(x.t)
    layer.set_weights([np.ascontiguousarray(slope[0], np.float32)])
    tr.set(node, out, x.shape, x.order)


def hard_sigmoid(tr: Translator, node, a: dict) -> None:
    _unary(tr, node, tr.layers["HardSigmoid"](a.get("alpha", 0.2), a.get("beta", 0.5)), nonneg=True)


def hard_swish(tr: Translator, node, a: dict) -> None:
    _unary(tr, node, tr.layers["HardSwish"]())


def sigmoid(tr: Translator, node, a: dict) -> None:
    _unary(tr, node, tr.keras.layers.Activation("sigmoid"), nonneg=True)


def tanh(tr: Translator, node, a: dict) -> None:
    _unary(tr, node, tr.keras.layers.Activation("tanh"))


def softmax(tr: Translator, node, a: dict) -> None:
    x = tr.canonical(node)
    axis = a.get("axis", -1 if tr.opset >= 13 else 1) % x.rank
    if axis != 1:
        tr.fail(node, "Softmax is supported along the channel (or feature) axis only")
    if x.rank > 2 and tr.opset < 13:
        tr.fail(node, "Softmax before opset 13 flattens the trailing axes; export at opset 13 or later")
    _unary(tr, node, tr.keras.layers.Softmax(axis=-1))


def passthrough(tr: Translator, node, a: dict) -> None:
    tr.vals[node.output[0]] = tr.vals[node.input[0]]


OPS = {"Relu": relu, "Clip": clip, "LeakyRelu": leaky_relu, "PRelu": prelu, "HardSigmoid": hard_sigmoid,
       "HardSwish": hard_swish, "Sigmoid": sigmoid, "Tanh": tanh, "Softmax": softmax, "Dropout": passthrough,
       "Identity": passthrough}
