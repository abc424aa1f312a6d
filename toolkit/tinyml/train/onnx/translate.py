"""The translator: walks the ONNX graph in order, evaluates constant nodes with ONNX's reference implementation and
hands every node on activations to its op family's function (`activations`, `arithmetic`, `convolution`,
`shapes`), which adds the Keras layers and records the output `Act`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml.errors import TinymlError
from tinyml.train.onnx import activations, arithmetic, convolution, shapes
from tinyml.train.onnx.layers import keras_layers
from tinyml.train.onnx.layout import Act, from_keras, keras_shape, to_keras
from tinyml.train.onnx.load import attrs, check_ops, constant_nodes, graph_inputs, load, opset
from tinyml.train.onnx.state import Translator

OPS = {**activations.OPS, **arithmetic.OPS, **convolution.OPS, **shapes.OPS}
LAYER_OPS = set(OPS)
LAYOUT_NAMES = {4: ("NCHW", "NHWC"), 3: ("NCL", "N1LC"), 2: ("NF", "NF")}


@dataclass
class OnnxModel:
    keras: object
    onnx_input_shape: tuple[int, ...]   # without the batch axis, ONNX layout: (C, H, W), (C, L) or (F,)
    keras_input_shape: tuple[int, ...]  # (H, W, C), (1, L, C) or (F,)
    path: Path
    input_perm: tuple[int, ...] | None = None  # a Transpose right after the input, folded into the data's layout

    @property
    def rank(self) -> int:
        return len(self.onnx_input_shape) + 1

    @property
    def layout_info(self) -> dict:
        onnx_name, keras_name = LAYOUT_NAMES[self.rank]
        return {"onnx_input": onnx_name, "onnx_input_shape": list(self.onnx_input_shape),
                "tflite_input": keras_name, "tflite_input_shape": list(self.keras_input_shape),
                "input_transpose_folded": list(self.input_perm) if self.input_perm else None}

    def to_keras_input(self, x: np.ndarray) -> np.ndarray:
        return to_keras(x.transpose(self.input_perm) if self.input_perm else x)

    def to_onnx_input(self, x: np.ndarray) -> np.ndarray:
        x = from_keras(x, self.rank)
        return np.ascontiguousarray(x.transpose(np.argsort(self.input_perm))) if self.input_perm else x

    def adapt(self, x: np.ndarray) -> tuple[np.ndarray, str]:
        """Data shaped like the ONNX input is brought to the Keras layout; data already in it is kept (for a 1-D
        signal (N, L, C) is accepted too). When both match the ONNX layout wins."""
        shape = tuple(x.shape[1:])
        onnx_name, keras_name = LAYOUT_NAMES[self.rank]
        if self.rank == 2:
            return x, onnx_name
        if shape == self.onnx_input_shape:
            return self.to_keras_input(x), f"{onnx_name} (transposed to {keras_name})"
        if shape == self.keras_input_shape:
            return x, keras_name
        if self.rank == 3 and shape == self.keras_input_shape[1:]:
            return x[:, None], "NLC"
        raise TinymlError(f"data samples are shaped {shape}; the ONNX model expects {self.onnx_input_shape} "
                          f"({onnx_name}) or {self.keras_input_shape} ({keras_name})")

    def verify(self, x_keras: np.ndarray, samples: int = 4) -> float | None:
        """Largest |keras - onnx reference| over a few samples, relative to the output's scale; raises when the
        translation is off (None: the reference evaluator could not run this model)."""
        import onnx.version_converter
        from onnx.reference import ReferenceEvaluator

        model = load(self.path)
        if opset(model) < 14 and any(n.op_type == "BatchNormalization" for n in model.graph.node):
            # the reference evaluator runs opset 9-13 BatchNormalization with batch statistics (its momentum
            # attribute defaults on); opset 14 has the inference semantics the exporter meant
            try:
                model = onnx.version_converter.convert_version(model, 14)
            except Exception:  # noqa: BLE001 - the version converter raises a bare RuntimeError
                return None
        ref = ReferenceEvaluator(model)
        name = graph_inputs(model)[0].name
        x = x_keras[:samples].astype(np.float32)
        onnx_x = self.to_onnx_input(x)
        want = np.concatenate([np.asarray(ref.run(None, {name: onnx_x[i:i + 1]})[0]) for i in range(len(x))])
        got = np.asarray(self.keras(x, training=False))
        want = to_keras(want)
        if got.shape != want.shape:
            raise TinymlError(f"{self.path}: translated model gives shape {got.shape[1:]}, ONNX {want.shape[1:]}")
        err = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
        if err > 1e-3:
            raise TinymlError(f"{self.path}: the translated model differs from ONNX's reference evaluator "
                              f"(relative error {err:.2g}): please report this model")
        return err


def onnx_to_keras(path: Path) -> OnnxModel:
    path = Path(path)
    model = load(path)
    check_ops(path, model, LAYER_OPS)
    try:
        return _translate(Translator(path, model))
    except TinymlError:
        raise
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise TinymlError(f"{path}: cannot translate this ONNX model ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc


def _translate(tr: Translator) -> OnnxModel:
    """Walk the graph in order: constants evaluated, every other node handed to its op family."""
    import keras
    tr.keras = keras
    tr.layers = keras_layers()
    inputs = graph_inputs(tr.model)
    if len(inputs) != 1 or len(tr.g.output) != 1:
        raise TinymlError(f"{tr.path}: only single-input, single-output ONNX models are supported "
                          f"({len(inputs)} inputs, {len(tr.g.output)} outputs)")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value for d in dims)[1:]
    if len(shape) not in (1, 2, 3) or any(s <= 0 for s in shape):
        raise TinymlError(f"{tr.path}: the input must be (N, C, H, W), (N, C, L) or (N, F) with fixed sizes, "
                          f"got {[d.dim_value or d.dim_param or '?' for d in dims]}")
    perm, first = _input_transpose(tr, inputs[0].name, len(shape) + 1)
    seen = (1, *shape) if perm is None else tuple((1, *shape)[p] for p in perm)
    kshape = keras_shape(seen)
    x = keras.Input(kshape, name="input")
    tr.vals[inputs[0].name if first is None else first.output[0]] = Act(x, seen)
    const = constant_nodes(tr.model)
    for idx, node in enumerate(tr.g.node):
        if idx in tr.fused or (first is not None and node is first):
            continue
        if node.op_type == "Shape":
            tr.shape(node)
        elif idx in const:
            tr.evaluate(node)
        else:
            OPS[node.op_type](tr, node, attrs(node))
    out = tr.vals[tr.g.output[0].name]
    if not isinstance(out, Act):
        raise TinymlError(f"{tr.path}: the output is a constant")
    if not out.is_canonical():
        raise TinymlError(f"{tr.path}: the output is a flattened feature map; add a Gemm/MatMul after it")
    return OnnxModel(keras.Model(x, out.t, name="onnx"), shape, kshape, tr.path, perm)


def _input_transpose(tr: Translator, name: str, rank: int):
    """A Transpose that is the input's only reader (an (N, L, C) signal permuted for Conv1d) is folded into
    the data's layout instead of becoming a TRANSPOSE operator."""
    node = tr.only_consumer(name, "Transpose")
    if node is None or rank < 3:
        return None, None
    perm = tuple(int(p) for p in attrs(node).get("perm", range(rank)[::-1]))
    return (perm, node) if perm[0] == 0 else (None, None)

