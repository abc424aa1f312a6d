"""ONNX -> Keras for `tinyml quantize model.onnx`: a small translator for the CNNs PyTorch exports.

Why our own: onnx2tf pulls in onnxruntime, onnx-graphsurgeon and more, and converts far more than our int8
kernels can run; the ops below are the ones a small PyTorch CNN or MLP exports to, and each maps onto a Keras
layer whose TFLite lowering tinyml compiles. Only the `onnx` package is needed (to parse, and to check the
translation against ONNX's reference evaluator).

Layout: ONNX activations are NCHW, the Keras model (and the int8 .tflite) is NHWC. The input becomes
(H, W, C); `Flatten` of a feature map keeps the NHWC order and the following Gemm/MatMul gets its weight rows
permuted to match, so no TRANSPOSE operator appears. A model with a 4-D output gives it in NHWC.

Supported: Conv (2-D, any groups equal to 1 or to the input channels, i.e. depthwise), BatchNormalization
(folded into a preceding Conv/Gemm when it is the conv's only consumer, else a per-channel affine), Relu, Clip
(0..6 or 0..inf), Sigmoid, Tanh, Softmax, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape (to
(N, -1)), Gemm, MatMul (+ Add of a constant bias), Add and Mul (two activations, or an activation and a
constant), Concat (channels), Dropout, Identity, and the shape arithmetic exporters emit for `x.view(N, -1)`
(Shape, Gather, Unsqueeze, Squeeze, Concat, Cast, Constant on constants).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml.errors import TinymlError

LAYER_OPS = {"Conv", "BatchNormalization", "Relu", "Clip", "Sigmoid", "Tanh", "Softmax", "MaxPool", "AveragePool",
             "GlobalAveragePool", "Flatten", "Reshape", "Gemm", "MatMul", "Add", "Mul", "Concat", "Dropout",
             "Identity"}
CONST_OPS = {"Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Cast"}
SUPPORTED_OPS = LAYER_OPS | CONST_OPS


def _load(path: Path):
    try:
        import onnx
    except ImportError:
        raise TinymlError("ONNX import needs the 'onnx' package: pip install onnx") from None
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - protobuf DecodeError and friends
        raise TinymlError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    if not model.graph.node:
        raise TinymlError(f"{path}: not a readable ONNX model (empty graph)")
    return model


def check_ops(path: Path, model) -> None:
    """Every node's op type must be one we translate; name all the others (op type and node name) at once."""
    bad = []
    for i, n in enumerate(model.graph.node):
        if n.domain not in ("", "ai.onnx") or n.op_type not in SUPPORTED_OPS:
            op = f"{n.domain}.{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type
            bad.append(f"{op} (node '{n.name or f'#{i}'}')")
    if bad:
        raise TinymlError(f"{path}: unsupported ONNX operators: {', '.join(bad)}; supported: "
                          f"{', '.join(sorted(LAYER_OPS))}")


@dataclass
class _Act:
    """An activation: the Keras tensor, its rank in ONNX terms, and for a flattened NHWC feature map the
    permutation with keras_flat[i] == onnx_flat[perm[i]] (None: same order as ONNX)."""
    t: object
    rank: int
    perm: np.ndarray | None = None
    nonneg: bool = False  # after a ReLU: zero padding acts like max pooling's -inf padding


@dataclass
class OnnxModel:
    keras: object
    onnx_input_shape: tuple[int, ...]   # without the batch axis, ONNX layout (C, H, W) or (F,)
    keras_input_shape: tuple[int, ...]  # (H, W, C) or (F,)
    path: Path

    @property
    def layout_info(self) -> dict:
        four_d = len(self.onnx_input_shape) == 3
        return {"onnx_input": "NCHW" if four_d else "NF", "onnx_input_shape": list(self.onnx_input_shape),
                "tflite_input": "NHWC" if four_d else "NF", "tflite_input_shape": list(self.keras_input_shape)}

    def adapt(self, x: np.ndarray) -> tuple[np.ndarray, str]:
        """Data shaped like the ONNX input (N, C, H, W) is transposed to NHWC; data already NHWC is kept. When
        both match (C == H == W) the ONNX layout wins."""
        shape = tuple(x.shape[1:])
        if len(self.onnx_input_shape) != 3:
            return x, "NF"
        if shape == self.onnx_input_shape:
            return np.ascontiguousarray(x.transpose(0, 2, 3, 1)), "NCHW (transposed to NHWC)"
        if shape == self.keras_input_shape:
            return x, "NHWC"
        raise TinymlError(f"data samples are shaped {shape}; the ONNX model expects {self.onnx_input_shape} "
                          f"(NCHW) or {self.keras_input_shape} (NHWC)")

    def verify(self, x_nhwc: np.ndarray, samples: int = 4) -> float | None:
        """Largest |keras - onnx reference| over a few samples, relative to the output's scale; raises when the
        translation is off (None: the reference evaluator could not run this model)."""
        import onnx
        import onnx.version_converter
        from onnx.reference import ReferenceEvaluator

        model = onnx.load(str(self.path))
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        if opset < 14 and any(n.op_type == "BatchNormalization" for n in model.graph.node):
            # the reference evaluator runs opset 9-13 BatchNormalization with batch statistics (its momentum
            # attribute defaults on); opset 14 has the inference semantics the exporter meant
            try:
                model = onnx.version_converter.convert_version(model, 14)
            except Exception:  # noqa: BLE001 - the version converter raises a bare RuntimeError
                return None
        ref = ReferenceEvaluator(model)
        name = _graph_inputs(model)[0].name
        x = x_nhwc[:samples]
        onnx_x = x.transpose(0, 3, 1, 2) if x.ndim == 4 else x
        want = np.concatenate([np.asarray(ref.run(None, {name: onnx_x[i:i + 1].astype(np.float32)})[0])
                               for i in range(len(x))])
        got = np.asarray(self.keras(x.astype(np.float32), training=False))
        if want.ndim == 4:
            want = want.transpose(0, 2, 3, 1)
        if got.shape != want.shape:
            raise TinymlError(f"{self.path}: translated model gives shape {got.shape[1:]}, ONNX {want.shape[1:]}")
        err = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
        if err > 1e-3:
            raise TinymlError(f"{self.path}: the translated model differs from ONNX's reference evaluator "
                              f"(relative error {err:.2g}): please report this model")
        return err


def _graph_inputs(model):
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _attrs(node) -> dict:
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _tf_same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def onnx_to_keras(path: Path) -> OnnxModel:
    model = _load(path)
    check_ops(path, model)
    try:
        return _Translator(path, model).run()
    except TinymlError:
        raise
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise TinymlError(f"{path}: cannot translate this ONNX model ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc


class _Translator:
    def __init__(self, path: Path, model) -> None:
        from onnx import numpy_helper
        self.path, self.model = path, model
        self.g = model.graph
        self.vals: dict[str, object] = {i.name: numpy_helper.to_array(i) for i in self.g.initializer}
        self.consumers: dict[str, list] = {}
        for n in self.g.node:
            for name in n.input:
                self.consumers.setdefault(name, []).append(n)
        self.outputs = {o.name for o in self.g.output}
        self.fused: set[int] = set()

    def fail(self, node, why: str):
        raise TinymlError(f"{self.path}: {node.op_type} node '{node.name}': {why}")

    def const(self, node, name: str) -> np.ndarray:
        v = self.vals.get(name)
        if not isinstance(v, np.ndarray):
            self.fail(node, f"input '{name}' must be a constant")
        return v

    def act(self, node, name: str) -> _Act:
        v = self.vals.get(name)
        if not isinstance(v, _Act):
            self.fail(node, f"input '{name}' must be an activation")
        return v

    def only_consumer(self, name: str, op: str):
        cons = self.consumers.get(name, [])
        if len(cons) == 1 and cons[0].op_type == op and name not in self.outputs:
            return cons[0]
        return None

    def run(self) -> OnnxModel:
        import keras
        self.keras = keras
        inputs = _graph_inputs(self.model)
        if len(inputs) != 1 or len(self.g.output) != 1:
            raise TinymlError(f"{self.path}: only single-input, single-output ONNX models are supported "
                              f"({len(inputs)} inputs, {len(self.g.output)} outputs)")
        dims = inputs[0].type.tensor_type.shape.dim
        shape = tuple(d.dim_value for d in dims)[1:]
        if len(shape) not in (1, 3) or any(s <= 0 for s in shape):
            raise TinymlError(f"{self.path}: the input must be (N, C, H, W) or (N, F) with fixed sizes, got "
                              f"{[d.dim_value or d.dim_param or '?' for d in dims]}")
        kshape = (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape
        x = keras.Input(kshape, name="input")
        self.vals[inputs[0].name] = _Act(x, len(shape) + 1)
        for idx, node in enumerate(self.g.node):
            if idx in self.fused:
                continue
            getattr(self, f"op_{node.op_type}")(node, _attrs(node), idx)
        out = self.vals[self.g.output[0].name]
        if not isinstance(out, _Act):
            raise TinymlError(f"{self.path}: the output is a constant")
        if out.perm is not None and not np.array_equal(out.perm, np.arange(len(out.perm))):
            raise TinymlError(f"{self.path}: the output is a flattened feature map; add a Gemm/MatMul after it")
        km = keras.Model(x, out.t, name="onnx")
        return OnnxModel(km, shape, kshape, self.path)

    def set(self, node, t, rank: int, perm=None) -> None:
        self.vals[node.output[0]] = _Act(t, rank, perm)

    # ---- constants (shape arithmetic) ----
    def op_Constant(self, node, a, idx):
        from onnx import numpy_helper
        if "value" in a:
            self.vals[node.output[0]] = numpy_helper.to_array(a["value"])
        elif "value_ints" in a or "value_int" in a:
            self.vals[node.output[0]] = np.asarray(a.get("value_ints", a.get("value_int")), np.int64)
        elif "value_floats" in a or "value_float" in a:
            self.vals[node.output[0]] = np.asarray(a.get("value_floats", a.get("value_float")), np.float32)
        else:
            self.fail(node, "unsupported constant attribute")

    def op_Shape(self, node, a, idx):
        v = self.vals.get(node.input[0])
        if isinstance(v, _Act):
            s = [int(d) for d in v.t.shape[1:]]
            shape = [1, s[2], s[0], s[1]] if v.rank == 4 else [1, *s]
        else:
            shape = list(np.shape(self.const(node, node.input[0])))
        self.vals[node.output[0]] = np.asarray(shape, np.int64)[a.get("start", 0):a.get("end")]

    def op_Gather(self, node, a, idx):
        self.vals[node.output[0]] = np.asarray(np.take(self.const(node, node.input[0]),
                                                       self.const(node, node.input[1]), axis=a.get("axis", 0)))

    def _axes(self, node, a):
        return list(a["axes"]) if "axes" in a else [int(v) for v in self.const(node, node.input[1])]

    def op_Unsqueeze(self, node, a, idx):
        v = self.const(node, node.input[0])
        for ax in sorted(self._axes(node, a)):
            v = np.expand_dims(v, ax)
        self.vals[node.output[0]] = v

    def op_Squeeze(self, node, a, idx):
        v = self.const(node, node.input[0])
        axes = self._axes(node, a) if ("axes" in a or len(node.input) > 1) else None
        self.vals[node.output[0]] = np.asarray(np.squeeze(v, tuple(axes) if axes is not None else None))

    def op_Cast(self, node, a, idx):
        from onnx import helper
        self.vals[node.output[0]] = self.const(node, node.input[0]).astype(helper.tensor_dtype_to_np_dtype(a["to"]))

    # ---- layers ----
    def _fold_bn(self, node, out_name: str, w: np.ndarray, b: np.ndarray, axis: int):
        """Fold an only-consumer BatchNormalization into weights `w` (output channels on `axis`) and bias `b`."""
        bn = self.only_consumer(out_name, "BatchNormalization")
        if bn is None or not all(isinstance(self.vals.get(i), np.ndarray) for i in bn.input[1:5]):
            return w, b, node
        gamma, beta, mean, var = (self.vals[i].astype(np.float64) for i in bn.input[1:5])
        scale = gamma / np.sqrt(var + _attrs(bn).get("epsilon", 1e-5))
        shape = [1] * w.ndim
        shape[axis] = -1
        self.fused.add(list(self.g.node).index(bn))
        return w * scale.reshape(shape), (b - mean) * scale + beta, bn

    def op_Conv(self, node, a, idx):
        keras = self.keras
        x = self.act(node, node.input[0])
        w = self.const(node, node.input[1]).astype(np.float64)
        if x.rank != 4 or w.ndim != 4:
            self.fail(node, "only 2-D convolutions are supported")
        b = (self.const(node, node.input[2]).astype(np.float64) if len(node.input) > 2 and node.input[2]
             else np.zeros(w.shape[0]))
        group = a.get("group", 1)
        cin = int(x.t.shape[-1])
        w, b, last = self._fold_bn(node, node.output[0], w, b, 0)
        kh, kw = w.shape[2:]
        strides, dil = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1)))
        t = self._pad(node, x.t, a, (kh, kw), strides, dil, allow_zero_pad=True, allow_same=True)
        padding = "same" if t is None else "valid"
        t = x.t if t is None else t
        if group == 1:
            layer = keras.layers.Conv2D(w.shape[0], (kh, kw), strides, padding, dilation_rate=dil)
            out = layer(t)
            layer.set_weights([w.transpose(2, 3, 1, 0).astype(np.float32), b.astype(np.float32)])
        elif group == cin and w.shape[1] == 1:
            mult = w.shape[0] // cin
            layer = keras.layers.DepthwiseConv2D((kh, kw), strides, padding, depth_multiplier=mult,
                                                 dilation_rate=dil)
            out = layer(t)
            layer.set_weights([w.reshape(cin, mult, kh, kw).transpose(2, 3, 0, 1).astype(np.float32),
                               b.astype(np.float32)])
        else:
            self.fail(node, f"grouped convolution (group={group}) is supported only as depthwise")
        self.vals[last.output[0]] = _Act(out, 4)

    def _pad(self, node, t, a, k, s, d, allow_zero_pad: bool, allow_same: bool):
        """None: use padding='same'; else the (maybe zero-padded) tensor for padding='valid'."""
        h, w = int(t.shape[1]), int(t.shape[2])
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        same = [_tf_same_pads(h, k[0], s[0], d[0]), _tf_same_pads(w, k[1], s[1], d[1])]
        if auto == "VALID":
            return t
        if auto not in ("NOTSET", "", "SAME_UPPER"):
            self.fail(node, f"auto_pad={auto} is not supported")
        p = list(a.get("pads", (0, 0, 0, 0)))
        pads = same if auto == "SAME_UPPER" else [(p[0], p[2]), (p[1], p[3])]
        if a.get("ceil_mode", 0):
            for size, (pb, pe), kk, ss, dd in zip((h, w), pads, k, s, d):
                span = size + pb + pe - ((kk - 1) * dd + 1)
                if span % ss:
                    self.fail(node, "ceil_mode=1 changes the output size here; export with ceil_mode=False")
        if pads == [(0, 0), (0, 0)]:
            return t
        if pads == same and allow_same:
            return None
        if not allow_zero_pad:
            self.fail(node, f"padding {p} is neither 0 nor TensorFlow's 'same' padding")
        return self.keras.layers.ZeroPadding2D(tuple(pads))(t)

    def op_BatchNormalization(self, node, a, idx):
        x = self.act(node, node.input[0])
        gamma, beta, mean, var = (self.const(node, i).astype(np.float64) for i in node.input[1:5])
        scale = gamma / np.sqrt(var + a.get("epsilon", 1e-5))
        self._affine(node, x, scale, beta - mean * scale)

    def _affine(self, node, x: _Act, scale, shift):
        if x.perm is not None:
            self.fail(node, "needs a per-channel input, got a flattened feature map")
        layer = self.keras.layers.BatchNormalization(epsilon=0.0, center=True, scale=True)
        out = layer(x.t)
        c = len(scale)
        layer.set_weights([scale.astype(np.float32), shift.astype(np.float32), np.zeros(c, np.float32),
                           np.ones(c, np.float32)])
        self.set(node, out, x.rank)

    def _unary(self, node, layer):
        x = self.act(node, node.input[0])
        self.set(node, layer(x.t), x.rank, x.perm)

    def op_Relu(self, node, a, idx):
        self._unary(node, self.keras.layers.ReLU())
        self.vals[node.output[0]].nonneg = True

    def op_Clip(self, node, a, idx):
        lo = a.get("min", float(self.const(node, node.input[1])) if len(node.input) > 1 and node.input[1] else None)
        hi = a.get("max", float(self.const(node, node.input[2])) if len(node.input) > 2 and node.input[2] else None)
        if lo != 0 or (hi is not None and hi != 6 and not np.isinf(hi)):
            self.fail(node, f"only Clip(0, 6) and Clip(0, inf) (ReLU6, ReLU) are supported, got ({lo}, {hi})")
        self._unary(node, self.keras.layers.ReLU(max_value=6.0 if hi == 6 else None))
        self.vals[node.output[0]].nonneg = True

    def op_Sigmoid(self, node, a, idx):
        self._unary(node, self.keras.layers.Activation("sigmoid"))

    def op_Tanh(self, node, a, idx):
        self._unary(node, self.keras.layers.Activation("tanh"))

    def op_Softmax(self, node, a, idx):
        x = self.act(node, node.input[0])
        opset = next((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), 13)
        axis = a.get("axis", -1 if opset >= 13 else 1)
        if axis not in (-1, x.rank - 1) or x.rank != 2:
            self.fail(node, "Softmax is supported on (N, F) tensors along the last axis only")
        self._unary(node, self.keras.layers.Softmax())

    def op_Dropout(self, node, a, idx):
        self.vals[node.output[0]] = self.vals[node.input[0]]

    op_Identity = op_Dropout

    def _pool(self, node, a, cls):
        x = self.act(node, node.input[0])
        k = tuple(a["kernel_shape"])
        s = tuple(a.get("strides", (1, 1)))
        if tuple(a.get("dilations", (1, 1))) != (1, 1):
            self.fail(node, "dilated pooling is not supported")
        # AveragePool counting the padding, or MaxPool after a ReLU: explicit zero padding is exact.
        # Otherwise only TensorFlow's 'same' padding (which leaves the padding out) matches.
        include = node.op_type == "AveragePool" and a.get("count_include_pad", 0) == 1
        zero_pad_ok = include or (node.op_type == "MaxPool" and x.nonneg)
        t = self._pad(node, x.t, a, k, s, (1, 1), allow_zero_pad=zero_pad_ok, allow_same=not include)
        padding = "same" if t is None else "valid"
        self.vals[node.output[0]] = _Act(cls(k, s, padding)(x.t if t is None else t), 4,
                                         nonneg=x.nonneg and node.op_type == "MaxPool")

    def op_MaxPool(self, node, a, idx):
        if len(node.output) > 1 and node.output[1]:
            self.fail(node, "the indices output is not supported")
        self._pool(node, a, self.keras.layers.MaxPooling2D)

    def op_AveragePool(self, node, a, idx):
        self._pool(node, a, self.keras.layers.AveragePooling2D)

    def op_GlobalAveragePool(self, node, a, idx):
        x = self.act(node, node.input[0])
        self.set(node, self.keras.layers.GlobalAveragePooling2D(keepdims=True)(x.t), 4)

    def _flatten(self, node, x: _Act):
        if x.rank == 2:
            self.vals[node.output[0]] = x
            return
        h, w, c = (int(v) for v in x.t.shape[1:])
        perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        self.set(node, self.keras.layers.Flatten()(x.t), 2, None if h * w == 1 else perm)

    def op_Flatten(self, node, a, idx):
        x = self.act(node, node.input[0])
        if a.get("axis", 1) != 1:
            self.fail(node, "only Flatten(axis=1) is supported")
        self._flatten(node, x)

    def op_Reshape(self, node, a, idx):
        x = self.act(node, node.input[0])
        shape = [int(v) for v in self.const(node, node.input[1])]
        n = int(np.prod([int(v) for v in x.t.shape[1:]]))
        if len(shape) != 2 or shape[0] not in (0, 1, -1) or shape[1] not in (-1, n):
            self.fail(node, f"only a reshape to (N, -1) is supported, got {shape}")
        self._flatten(node, x)

    def _dense(self, node, x: _Act, w: np.ndarray, b: np.ndarray):
        """y = x @ w + b, with w shaped (in, out) in ONNX order."""
        if x.rank != 2:
            self.fail(node, "needs a 2-D input (Flatten first)")
        if x.perm is not None:
            w = w[x.perm]
        w, b, last = self._fold_bn(node, node.output[0], w, b, 1)
        layer = self.keras.layers.Dense(w.shape[1])
        out = layer(x.t)
        layer.set_weights([w.astype(np.float32), b.astype(np.float32)])
        self.vals[last.output[0]] = _Act(out, 2)

    def op_Gemm(self, node, a, idx):
        x = self.act(node, node.input[0])
        if a.get("transA", 0):
            self.fail(node, "transA=1 is not supported")
        w = self.const(node, node.input[1]).astype(np.float64)
        w = (w.T if a.get("transB", 0) else w) * a.get("alpha", 1.0)
        b = (np.broadcast_to(self.const(node, node.input[2]).astype(np.float64) * a.get("beta", 1.0),
                             (w.shape[1],)) if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[1]))
        self._dense(node, x, w, np.array(b))

    def op_MatMul(self, node, a, idx):
        x = self.act(node, node.input[0])
        w = self.const(node, node.input[1]).astype(np.float64)
        if w.ndim != 2:
            self.fail(node, "the weight must be a 2-D constant")
        b = np.zeros(w.shape[1])
        add = self.only_consumer(node.output[0], "Add")
        if add is not None:
            other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
            bias = self.vals.get(other)
            if isinstance(bias, np.ndarray) and bias.size == w.shape[1]:
                b = bias.reshape(-1).astype(np.float64)
                self.fused.add(list(self.g.node).index(add))
                node = _Renamed(node, add.output[0])
        self._dense(node, x, w, b)

    def _binary(self, node, op: str):
        va, vb = self.vals.get(node.input[0]), self.vals.get(node.input[1])
        keras = self.keras
        if isinstance(va, _Act) and isinstance(vb, _Act):
            if va.rank != vb.rank or not _same_perm(va.perm, vb.perm):
                self.fail(node, "both inputs must have the same layout")
            if tuple(va.t.shape) != tuple(vb.t.shape):
                self.fail(node, "broadcasting between two activations is not supported")
            layer = keras.layers.Add() if op == "add" else keras.layers.Multiply()
            self.set(node, layer([va.t, vb.t]), va.rank, va.perm)
            return
        x, c = (va, vb) if isinstance(va, _Act) else (vb, va)
        if not isinstance(x, _Act) or not isinstance(c, np.ndarray):
            self.fail(node, "needs an activation input")
        c = np.asarray(c, np.float32)
        if x.rank == 4:
            c = c.reshape((1,) * (4 - c.ndim) + c.shape).transpose(0, 2, 3, 1)
        elif x.perm is not None and c.size > 1:
            c = c.reshape(-1)[x.perm]
        try:
            np.broadcast_shapes(c.shape, (1, *(int(v) for v in x.t.shape[1:])))
        except ValueError:
            self.fail(node, f"cannot broadcast a constant shaped {c.shape}")
        self.set(node, _const_layer(keras, c, op)(x.t), x.rank, x.perm)

    def op_Add(self, node, a, idx):
        self._binary(node, "add")

    def op_Mul(self, node, a, idx):
        self._binary(node, "mul")

    def op_Concat(self, node, a, idx):
        vals = [self.vals.get(i) for i in node.input]
        if all(isinstance(v, np.ndarray) for v in vals):
            self.vals[node.output[0]] = np.concatenate(vals, axis=a.get("axis", 0))
            return
        if not all(isinstance(v, _Act) for v in vals) or len({v.rank for v in vals}) != 1:
            self.fail(node, "inputs must all be activations of one rank")
        rank, axis = vals[0].rank, a["axis"] % vals[0].rank
        if axis != 1 or any(v.perm is not None for v in vals):
            self.fail(node, "only concatenation along channels (axis 1) is supported")
        self.set(node, self.keras.layers.Concatenate(axis=-1)([v.t for v in vals]), rank)


def _same_perm(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


class _Renamed:
    """A node seen through its fused successor's output name (MatMul + bias Add)."""

    def __init__(self, node, output: str) -> None:
        self.op_type, self.name, self.input, self.output = node.op_type, node.name, node.input, [output]


def _const_layer(keras, value: np.ndarray, op: str):
    class ConstOp(keras.layers.Layer):
        def build(self, input_shape):
            self.c = self.add_weight(shape=value.shape, initializer=keras.initializers.Constant(value),
                                     trainable=False, name="const")

        def call(self, x):
            return x + self.c if op == "add" else x * self.c

    return ConstOp()
