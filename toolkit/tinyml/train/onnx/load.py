"""Reading an ONNX file: external-data side files named when missing, the opset, and the node check (every node
that computes on activations must be one we translate; nodes on constants are evaluated by ONNX's own reference
implementation, so whatever shape arithmetic an exporter emits around the layers folds away)."""
from __future__ import annotations

from pathlib import Path

from tinyml.errors import TinymlError

# what an unsupported op can be replaced with, in the PyTorch model before export
HINTS = {
    "Gelu": "use nn.ReLU, nn.Hardswish or nn.LeakyReLU", "Erf": "GELU: use nn.ReLU or nn.Hardswish",
    "Elu": "use nn.ReLU or nn.LeakyReLU", "Selu": "use nn.ReLU or nn.LeakyReLU", "Celu": "use nn.LeakyReLU",
    "Mish": "use nn.Hardswish", "Softplus": "use nn.ReLU", "Exp": "use a ReLU-family activation",
    "Swish": "use nn.Hardswish", "Pow": "use x * x (Mul)", "Sqrt": "not supported in int8 models",
    "LayerNormalization": "use nn.BatchNorm (folded into the convolution)",
    "InstanceNormalization": "use nn.BatchNorm (folded into the convolution)",
    "GroupNormalization": "use nn.BatchNorm (folded into the convolution)",
    "LSTM": "recurrent layers are not translated from ONNX; use a 1-D CNN (Conv1d) or a Keras model",
    "GRU": "recurrent layers are not translated from ONNX; use a 1-D CNN (Conv1d) or a Keras model",
    "RNN": "recurrent layers are not translated from ONNX; use a 1-D CNN (Conv1d) or a Keras model",
    "Einsum": "use nn.Linear or torch.matmul with a constant weight",
    "GlobalMaxPool": "use x.amax((2, 3)) (ReduceMax) or nn.AdaptiveMaxPool2d(1)",
    "Pad": "use the convolution's padding argument", "LogSoftmax": "use Softmax",
}
DEFAULT_HINT = "rewrite it with supported layers"


def load(path: Path):
    """The model with its external data loaded; a missing `.onnx.data` side file is named."""
    try:
        import onnx
        from onnx.external_data_helper import ExternalDataInfo, uses_external_data
    except ImportError:
        raise TinymlError("ONNX import needs the 'onnx' package: pip install onnx") from None
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf DecodeError and friends
        raise TinymlError(f"{path}: not a readable ONNX model ({type(exc).__name__})") from None
    external = {ExternalDataInfo(t).location for t in model.graph.initializer if uses_external_data(t)}
    for location in sorted(external):
        if not (path.parent / location).is_file():
            raise TinymlError(f"{path}: its weights are in the external-data file '{location}', which is not in "
                              f"{path.parent}; copy it beside the .onnx file (or export with external_data=False)")
    if external:
        try:
            onnx.load_external_data_for_model(model, str(path.parent))
        except Exception as exc:  # noqa: BLE001 - a truncated side file raises whatever the reader hit
            raise TinymlError(f"{path}: cannot read its external-data file(s) {sorted(external)} "
                              f"({type(exc).__name__})") from None
    if not model.graph.node:
        raise TinymlError(f"{path}: not a readable ONNX model (empty graph)")
    return model


def opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def graph_inputs(model) -> list:
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def attrs(node) -> dict:
    import onnx
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def constant_nodes(model) -> set[int]:
    """Indices of the nodes whose outputs are known before any input arrives (shapes are static: Shape of an
    activation is a constant)."""
    known = {i.name for i in model.graph.initializer} | {""}
    const: set[int] = set()
    for idx, node in enumerate(model.graph.node):
        if node.op_type == "Shape" or all(name in known for name in node.input):
            const.add(idx)
            known.update(node.output)
    return const


def check_ops(path: Path, model, layer_ops: set[str]) -> None:
    """Every node on activations must be one we translate: name each other one (op, node, hint) in one line."""
    const = constant_nodes(model)
    bad = []
    for idx, node in enumerate(model.graph.node):
        foreign = node.domain not in ("", "ai.onnx")
        if foreign or (idx not in const and node.op_type not in layer_ops):
            op = f"{node.domain}.{node.op_type}" if foreign else node.op_type
            bad.append(f"{op} (node '{node.name or f'#{idx}'}': {HINTS.get(node.op_type, DEFAULT_HINT)})")
    if bad:
        raise TinymlError(f"{path}: unsupported ONNX operator{'s' if len(bad) > 1 else ''} {'; '.join(bad)}; "
                          f"supported: {', '.join(sorted(layer_ops))}")
