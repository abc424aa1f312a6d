"""Arithmetic on activations: Add, Sub, Mul, Div (by a constant), the reductions ReduceMean / ReduceSum /
ReduceMax (global pooling as PyTorch exports `x.mean((2, 3))` and AdaptiveAvgPool), Gemm, MatMul (+ bias Add) and
BatchNormalization (folded into the Conv/Gemm before it when it is that layer's only reader)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tinyml.train.onnx.layout import Act, constant_like
from tinyml.train.onnx.load import attrs

if TYPE_CHECKING:
    from tinyml.train.onnx.state import Translator


def fold_batchnorm(tr: Translator, node, w: np.ndarray, b: np.ndarray, axis: int):
    """Fold an only-consumer BatchNormalization into weights `w` (output channels on `axis`) and bias `b`; returns
    the new (w, b) and the node whose output the layer now produces."""
    bn = tr.only_consumer(node.output[0], "BatchNormalization")
    if bn is None or not all(isinstance(tr.vals.get(i), np.ndarray) for i in bn.input[1:5]):
        return w, b, node
    gamma, beta, mean, var = (tr.vals[i].astype(np.float64) for i in bn.input[1:5])
    scale = gamma / np.sqrt(var + attrs(bn).get("epsilon", 1e-5))
    shape = [1] * w.ndim
    shape[axis] = -1
    tr.fuse(bn)
    return w * scale.reshape(shape), (b - mean) * scale + beta, bn


def batch_normalization(tr: Translator, node, a: dict) -> None:
    x = tr.canonical(node)
    gamma, beta, mean, var = (tr.const(node, i).astype(np.float64) for i in node.input[1:5])
    scale = gamma / np.sqrt(var + a.get("epsilon", 1e-5))
    layer = tr.keras.layers.BatchNormalization(epsilon=0.0, center=True, scale=True)
    out = layer(x.t)
    c = len(scale)
    layer.set_weights([scale.astype(np.float32), (beta - mean * scale).astype(np.float32), np.zeros(c, np.float32),
                       np.ones(c, np.float32)])
    tr.set(node, out, x.shape)


def _binary(tr: Translator, node, op: str) -> None:
    va, vb = tr.vals.get(node.input[0]), tr.vals.get(node.input[1])
    if isinstance(va, Act) and isinstance(vb, Act):
        if op == "div":
            tr.fail(node, "division by an activation is not supported; divide by a constant")
        if va.shape == vb.shape:
            if not np.array_equal(va.element_order(), vb.element_order()):
                tr.fail(node, "both inputs must have the same layout")
            shape, order = va.shape, va.order
        else:
            try:
                shape, order = np.broadcast_shapes(va.shape, vb.shape), None
            except ValueError:
                tr.fail(node, f"cannot broadcast {va.shape} with {vb.shape}")
            if va.rank != vb.rank or not (va.is_canonical() and vb.is_canonical()):
                tr.fail(node, "broadcasting needs two feature maps of one rank in their own layout")
        tr.set(node, tr.layers["Binary"](op)(va.t, vb.t), shape, order)
        return
    x, c, const_first = (va, vb, False) if isinstance(va, Act) else (vb, va, True)
    if not isinstance(x, Act) or not isinstance(c, np.ndarray):
        tr.fail(node, "needs an activation input")
    if np.broadcast_shapes(np.shape(c), x.shape) != x.shape:
        tr.fail(node, f"a constant shaped {np.shape(c)} would broadcast the activation {x.shape}")
    c = np.asarray(c, np.float64)
    if op == "div":
        if const_first:
            tr.fail(node, "a constant divided by an activation is not supported")
        if np.any(c == 0):
            tr.fail(node, "division by zero")
        op, c = "mul", 1.0 / c
    if op == "sub" and not const_first:
        op, c = "add", -c
    kc = constant_like(c.astype(np.float32), x)
    tr.set(node, tr.layers["ConstOp"](kc, "rsub" if op == "sub" else op)(x.t), x.shape, x.order)


def add(tr: Translator, node, a: dict) -> None:
    _binary(tr, node, "add")


def sub(tr: Translator, node, a: dict) -> None:
    _binary(tr, node, "sub")


def mul(tr: Translator, node, a: dict) -> None:
    _binary(tr, node, "mul")


def div(tr: Translator, node, a: dict) -> None:
    _binary(tr, node, "div")


def _reduce(tr: Translator, node, a: dict, op: str) -> None:
    x = tr.canonical(node)
    axes_in = a.get("axes", tr.optional_const(node, 1) if len(node.input) > 1 else None)
    if axes_in is None or len(axes_in) == 0:
        if a.get("noop_with_empty_axes", 0):
            tr.vals[node.output[0]] = x
            return
        axes_in = range(x.rank)
    axes = sorted({int(v) % x.rank for v in axes_in})
    keep = bool(a.get("keepdims", 1))
    spatial = list(range(2, x.rank))
    if x.rank > 2 and axes == spatial:          # global pooling: (N, C, H, W) -> (N, C[, 1, 1])
        kaxes, out_shape = (1, 2), (1, x.shape[1]) if not keep else (*x.shape[:2], *(1 for _ in spatial))
    elif axes == [1] and keep:                  # over channels / features, kept as a unit axis
        kaxes, out_shape = (len(x.t.shape) - 1,), (1, 1, *x.shape[2:])
    else:
        tr.fail(node, f"reducing axes {axes} (keepdims={int(keep)}) is not supported: reduce over the spatial "
                      "axes (global pooling) or over channels with keepdim=True")
    layer = tr.layers["Reduce"](op, kaxes, keep)
    tr.set(node, layer(x.t), out_shape)


def reduce_mean(tr: Translator, node, a: dict) -> None:
    _reduce(tr, node, a, "mean")


def reduce_sum(tr: Translator, node, a: dict) -> None:
    _reduce(tr, node, a, "sum")


def reduce_max(tr: Translator, node, a: dict) -> None:
    _reduce(tr, node, a, "max")


def dense(tr: Translator, node, x: Act, w: np.ndarray, b: np.ndarray) -> None:
    """y = x @ w + b, with w shaped (in, out) in ONNX order."""
    if x.rank != 2:
        tr.fail(node, "needs a 2-D input (flatten first); a Linear over the last axis of a 3-D tensor is not "
                      "supported")
    if x.order is not None:
        w = w[x.order]
    w, b, last = fold_batchnorm(tr, node, w, b, 1)
    layer = tr.keras.layers.Dense(w.shape[1])
    out = layer(x.t)
    layer.set_weights([w.astype(np.float32), b.astype(np.float32)])
    tr.set(last, out, (1, w.shape[1]))


def gemm(tr: Translator, node, a: dict) -> None:
    x = tr.act(node)
    if a.get("transA", 0):
        tr.fail(node, "transA=1 is not supported")
    w = tr.const(node, node.input[1]).astype(np.float64)
    w = (w.T if a.get("transB", 0) else w) * a.get("alpha", 1.0)
    c = tr.optional_const(node, 2)
    b = (np.broadcast_to(c.astype(np.float64) * a.get("beta", 1.0), (w.shape[1],)) if c is not None
         else np.zeros(w.shape[1]))
    dense(tr, node, x, w, np.array(b))


class _Renamed:
    """A node seen through its fused successor's output name (MatMul + bias Add)."""

    def __init__(self, node, output: str) -> None:
        self.op_type, self.name, self.input, self.output = node.op_type, node.name, node.input, [output]


def matmul(tr: Translator, node, a: dict) -> None:
    x = tr.act(node)
    w = tr.const(node, node.input[1]).astype(np.float64)
    if w.ndim != 2:
        tr.fail(node, "the weight must be a 2-D constant")
    b = np.zeros(w.shape[1])
    bias_add = tr.only_consumer(node.output[0], "Add")
    if bias_add is not None:
        other = bias_add.input[1] if bias_add.input[0] == node.output[0] else bias_add.input[0]
        bias = tr.vals.get(other)
        if isinstance(bias, np.ndarray) and bias.size == w.shape[1]:
            b = bias.reshape(-1).astype(np.float64)
            tr.fuse(bias_add)
            node = _Renamed(node, bias_add.output[0])
    dense(tr, node, x, w, b)


OPS = {"BatchNormalization": batch_normalization, "Add": add, "Sub": sub, "Mul": mul, "Div": div,
       "ReduceMean": reduce_mean, "ReduceSum": reduce_sum, "ReduceMax": reduce_max, "Gemm": gemm, "MatMul": matmul}
