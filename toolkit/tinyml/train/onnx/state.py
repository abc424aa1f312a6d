"""The state of one translation (values by name: constants as arrays, activations as `Act`; who reads what; the
nodes folded into an earlier one) and the helpers every op family uses."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyml.errors import TinymlError
from tinyml.train.onnx.layout import Act
from tinyml.train.onnx.load import attrs, opset


class Translator:

    def __init__(self, path: Path, model) -> None:
        from onnx import numpy_helper
        self.path, self.model = path, model
        self.g = model.graph
        self.opset = opset(model)
        self.vals: dict[str, np.ndarray | Act] = {i.name: numpy_helper.to_array(i) for i in self.g.initializer}
        self.consumers: dict[str, list] = {}
        for n in self.g.node:
            for name in n.input:
                self.consumers.setdefault(name, []).append(n)
        self.outputs = {o.name for o in self.g.output}
        self.fused: set[int] = set()
        self.index = {id(n): i for i, n in enumerate(self.g.node)}

    def fail(self, node, why: str):
        raise TinymlError(f"{self.path}: {node.op_type} node '{node.name}': {why}")

    def const(self, node, name: str) -> np.ndarray:
        v = self.vals.get(name)
        if not isinstance(v, np.ndarray):
            self.fail(node, f"input '{name}' must be a constant")
        return v

    def optional_const(self, node, i: int) -> np.ndarray | None:
        return self.const(node, node.input[i]) if len(node.input) > i and node.input[i] else None

    def act(self, node, name: str | None = None) -> Act:
        name = node.input[0] if name is None else name
        v = self.vals.get(name)
        if not isinstance(v, Act):
            self.fail(node, f"input '{name}' must be an activation")
        return v

    def canonical(self, node, name: str | None = None) -> Act:
        """The activation in its canonical layout (not a flattened feature map)."""
        x = self.act(node, name)
        if not x.is_canonical():
            self.fail(node, "needs a feature map or vector in its own layout, got a flattened or transposed one")
        return x

    def only_consumer(self, name: str, op: str):
        cons = self.consumers.get(name, [])
        if len(cons) == 1 and cons[0].op_type == op and name not in self.outputs:
            return cons[0]
        return None

    def fuse(self, node) -> None:
        self.fused.add(self.index[id(node)])

    def set(self, node, t, shape: tuple[int, ...], order: np.ndarray | None = None, nonneg: bool = False) -> None:
        self.vals[node.output[0]] = Act(t, tuple(int(s) for s in shape), order, nonneg)

    def shape(self, node) -> None:
        v = self.vals.get(node.input[0])
        shape = v.shape if isinstance(v, Act) else np.shape(self.const(node, node.input[0]))
        a = attrs(node)
        self.vals[node.output[0]] = np.asarray(shape, np.int64)[a.get("start", 0):a.get("end")]

    def evaluate(self, node) -> None:
        """A node on constants only: ONNX's reference implementation of the model's opset computes it."""
        from onnx import helper
        from onnx.reference import ReferenceEvaluator
        feeds = {name: np.asarray(self.vals[name]) for name in node.input if name}
        inputs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                  for name, v in feeds.items()]
        outputs = [helper.make_empty_tensor_value_info(name) for name in node.output if name]
        graph = helper.make_graph([node], "constant", inputs, outputs)
        model = helper.make_model(graph, opset_imports=list(self.model.opset_import))
        outs = ReferenceEvaluator(model).run(None, feeds)
        for name, value in zip([n for n in node.output if n], outs, strict=True):
            self.vals[name] = np.asarray(value)
