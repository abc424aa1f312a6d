"""The reader folds the converter's float detours through data movement (DEQUANTIZE -> moves -> QUANTIZE with the
same quantization; an unrolled GRU's first step) back into int8: the folded graph compiles and gives the TFLite
interpreter's bytes (which did compute the detour in float) on random inputs; a detour that changes the
quantization, or whose float value leaves the model, stays float and is refused in one line."""
from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from tests import tflite_models as tm
from tests.host_batch import BatchCase, run_batch
from tinyml.compiler.ir.reader import parse_tflite
from tinyml.errors import TinymlError

QP = tm.QParams.per_tensor(0.0078, -11)
SAMPLES = 6


def _float_split(b: tm.GraphBuilder, x: int, parts: int) -> list[int]:
    """SPLIT on the last axis of float tensor `x`, as the converter writes it inside a GRU's first step."""
    shape = list(b.tensors[x].shape)
    shape[-1] //= parts
    options = schema.SplitOptionsT()
    options.numSplits = parts
    axis = b.const(np.array([len(shape) - 1], dtype=np.int32))
    return b.multi_op("SPLIT", [axis, x], [shape] * parts, None, options, out_dtype=tm.FLOAT32)


def _gru_first_step() -> tm.GraphBuilder:
    """The gates of an unrolled GRU's first step: DEQUANTIZE -> SPLIT (float) -> QUANTIZE of two parts (the third
    unused) -> LOGISTIC and TANH."""
    b = tm.GraphBuilder()
    gates = _float_split(b, tm.dequantize(b, b.input((1, 48), QP)), 3)
    b.output(tm.logistic(b, tm.quantize(b, gates[0], QP)))
    b.output(tm.tanh(b, tm.quantize(b, gates[2], QP)))
    return b


def _reshape_then_split() -> tm.GraphBuilder:
    """A chain of moves (RESHAPE, then SPLIT) inside the detour; the QUANTIZE outputs are the model's outputs."""
    b = tm.GraphBuilder()
    flat = b.op("RESHAPE", [tm.dequantize(b, b.input((1, 2, 6), QP)), b.const(np.array([1, 12], dtype=np.int32))],
                (1, 12), None, schema.ReshapeOptionsT(), out_dtype=tm.FLOAT32)
    for part in _float_split(b, flat, 2):
        b.output(tm.quantize(b, part, QP))
    return b


@pytest.mark.parametrize("build", [_gru_first_step, _reshape_then_split])
def test_float_detour_is_folded_and_exact(build) -> None:
    b = build()
    model = b.to_bytes()
    graph = parse_tflite(model, "case.tflite")
    assert {op.opcode for op in graph.operators}.isdisjoint({"DEQUANTIZE", "QUANTIZE"})
    assert all(graph.tensors[t].dtype == "int8" for op in graph.operators for t in op.outputs)
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, size=(SAMPLES, *b.tensors[b.inputs[0]].shape), dtype=np.int8)
    (got,) = run_batch([BatchCase(model, [x])])
    for i in range(SAMPLES):
        for want, ours in zip(tm.run_reference(model, [x[i]]), got, strict=True):
            assert np.array_equal(want, ours[i]), f"sample {i}"


def test_detour_that_requantizes_is_refused() -> None:
    b = tm.GraphBuilder()
    gates = _float_split(b, tm.dequantize(b, b.input((1, 8), QP)), 2)
    b.output(tm.quantize(b, gates[0], tm.QParams.per_tensor(0.01, -11)))
    with pytest.raises(TinymlError, match=r"^case.tflite: operator 1 \(SPLIT\) computes in float32"):
        parse_tflite(b.to_bytes(), "case.tflite")


def test_detour_whose_float_value_is_a_model_output_is_refused() -> None:
    b = tm.GraphBuilder()
    gates = _float_split(b, tm.dequantize(b, b.input((1, 8), QP)), 2)
    b.output(tm.quantize(b, gates[0], QP))
    b.output(gates[1])
    with pytest.raises(TinymlError, match=r"operator 1 \(SPLIT\) computes in float32"):
        parse_tflite(b.to_bytes(), "case.tflite")
