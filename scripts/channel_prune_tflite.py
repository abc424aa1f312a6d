"""A channel-pruned copy of an int8 .tflite, without retraining: a challenger for the field app's shadow model.

Usage: python scripts/channel_prune_tflite.py MODEL.tflite KEEP OUT.tflite   (KEEP: fraction of channels, e.g. 0.5)

Every CONV_2D keeps the `KEEP` fraction of its output channels with the largest L1 norm (magnitude pruning, in
their original order); a DEPTHWISE_CONV_2D keeps its input's channels, pooling and RESHAPE pass them on, and the
next CONV_2D or FULLY_CONNECTED drops the input channels that are gone. Weights, biases and per-channel
quantization are sliced; the input and output tensors and every activation's quantization stay as they are, so
the pruned model reads the same int8 input and writes the same classes (what `tinyml build --app field --shadow`
requires). It is a smaller model of the same family, for measuring, not an accurate one: it is not fine-tuned.
`scripts/field_cost.py --shadow-pruned KEEP` measures the shadow model's cost with it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from tinyml.npyio import write_atomically

OPERATOR_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
PASS_CHANNELS = {"AVERAGE_POOL_2D", "MAX_POOL_2D", "RESHAPE", "RELU", "RELU6"}
NUMPY_TYPES = {schema.TensorType.INT8: np.int8, schema.TensorType.INT32: np.int32}


def _opcode(model: schema.ModelT, op: schema.OperatorT) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    return OPERATOR_NAMES[max(code.builtinCode, code.deprecatedBuiltinCode)]


def _array(model: schema.ModelT, tensor: schema.TensorT) -> np.ndarray:
    data = np.asarray(model.buffers[tensor.buffer].data, np.uint8)
    return data.view(NUMPY_TYPES[tensor.type]).reshape(tensor.shape)


def _keep(model: schema.ModelT, tensor: schema.TensorT, axis: int, channels: np.ndarray) -> None:
    """Slice a constant tensor (its data, shape and per-channel quantization) to `channels` along `axis`."""
    values = np.take(_array(model, tensor), channels, axis=axis)
    model.buffers[tensor.buffer].data = np.frombuffer(values.tobytes(), np.uint8)
    tensor.shape = np.asarray(values.shape, np.int32)
    q = tensor.quantization
    if q is not None and q.scale is not None and len(q.scale) > 1 and q.quantizedDimension == axis:
        q.scale = np.asarray(q.scale)[channels]
        q.zeroPoint = np.asarray(q.zeroPoint)[channels]


def prune_channels(tflite: bytes, keep: float) -> bytes:
    """`tflite` with `keep` of every convolution's channels (see the module's docstring)."""
    if not 0 < keep <= 1:
        raise SystemExit(f"the fraction of channels kept must be in (0, 1], got {keep}")
    model = schema.ModelT.InitFromPackedBuf(tflite, 0)
    graph = model.subgraphs[0]
    kept: dict[int, np.ndarray] = {}  # activation tensor -> the channels of its last dimension still there
    for op in graph.operators:
        kind, x, out = _opcode(model, op), op.inputs[0], op.outputs[0]
        if kind == "CONV_2D":
            weights = graph.tensors[op.inputs[1]]
            if x in kept:
                _keep(model, weights, 3, kept[x])
            norms = np.abs(_array(model, weights).astype(np.int64)).sum(axis=(1, 2, 3))
            channels = np.sort(np.argsort(-norms, kind="stable")[:max(1, round(keep * len(norms)))])
            _keep(model, weights, 0, channels)
            _keep(model, graph.tensors[op.inputs[2]], 0, channels)
            kept[out] = channels
        elif kind == "DEPTHWISE_CONV_2D" and x in kept:
            if graph.tensors[op.inputs[1]].shape[3] != graph.tensors[x].shape[-1]:
                raise SystemExit("DEPTHWISE_CONV_2D with a depth multiplier: not supported here")
            _keep(model, graph.tensors[op.inputs[1]], 3, kept[x])
            _keep(model, graph.tensors[op.inputs[2]], 0, kept[x])
            kept[out] = kept[x]
        elif kind == "FULLY_CONNECTED" and x in kept:
            _keep(model, graph.tensors[op.inputs[1]], 1, kept[x])
        elif kind in PASS_CHANNELS and x in kept:
            kept[out] = kept[x]
            if kind == "RESHAPE" and len(op.inputs) > 1:  # its new shape, a constant: the last dimension shrinks
                shape = graph.tensors[op.inputs[1]]
                new = _array(model, shape).copy()
                new[-1] = len(kept[x])
                model.buffers[shape.buffer].data = np.frombuffer(new.tobytes(), np.uint8)
        elif x in kept:
            raise SystemExit(f"{kind}: pruning its input's channels is not supported here")
    for t, channels in kept.items():
        graph.tensors[t].shape = np.asarray([*graph.tensors[t].shape[:-1], len(channels)], np.int32)
        graph.tensors[t].shapeSignature = None
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("keep", type=float, help="fraction of each convolution's channels kept, in (0, 1]")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    write_atomically(args.out, prune_channels(args.model.read_bytes(), args.keep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
