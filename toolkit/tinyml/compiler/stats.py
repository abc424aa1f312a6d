"""Static counts of an int8 .tflite: parameters, multiply-accumulates and activation traffic per inference."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ModelStats:
    params: int              # elements of constant tensors (weights and biases)
    nonzero_params: int      # of which non-zero (what unstructured pruning changes)
    macs: int                # multiply-accumulates of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED
    conv_macs: int
    depthwise_macs: int
    fc_macs: int
    activation_elements: int  # sum of every operator's output elements (memory traffic of the other kernels)
    operators: int

    def to_json(self) -> dict:
        return asdict(self)


def model_stats(tflite_path: Path) -> ModelStats:
    from tinyml.compiler.ir.reader import read_tflite

    g = read_tflite(Path(tflite_path))
    params = nonzero = conv = dw = fc = act = 0
    for t in g.tensors:
        if t.is_constant and t.dtype in ("int4", "int8", "int32", "int16", "int64"):  # int64: 16x8 biases
            params += t.size
            nonzero += int(np.count_nonzero(t.data))
    for op in g.operators:
        out = g.tensors[op.outputs[0]]
        act += out.size
        if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w = g.tensors[op.inputs[1]].shape
            if op.opcode == "CONV_2D":
                conv += out.size * w[1] * w[2] * w[3]
            elif op.opcode == "DEPTHWISE_CONV_2D":
                dw += out.size * w[1] * w[2]
            else:
                fc += out.size * w[-1]
    return ModelStats(params, nonzero, conv + dw + fc, conv, dw, fc, act, len(g.operators))
