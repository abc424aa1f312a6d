"""The int4 route end to end: a Keras CNN with 4-bit fake-quantized weights (`keras_zoo_models.int4_qat_cnn`),
converted by the TFLite converter with the flags the README gives (`convert_int4`), comes out with INT4 CONV_2D,
DEPTHWISE_CONV_2D and FULLY_CONNECTED filters; tinyml compiles it with the weights still packed and runs it byte for
byte as the interpreter does, on the host and on the M4 in QEMU."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.train import keras_zoo_models as keras_zoo
from tinyml.compiler.codegen import compile_model
from tinyml.compiler.ir.reader import read_tflite
from tinyml.device.targets.host import run_host, sample_shape


@pytest.fixture(scope="module")
def int4_tflite(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("int4") / "int4_qat_cnn.tflite"
    calibration = np.random.default_rng(0).normal(0, 1, (16, *keras_zoo.IMAGE, 1)).astype(np.float32)
    path.write_bytes(keras_zoo.convert_int4(keras_zoo.int4_qat_cnn(), calibration))
    return path


def test_converter_emits_int4_filters(int4_tflite: Path) -> None:
    graph = read_tflite(int4_tflite)
    filters = {op.opcode: graph.tensors[op.inputs[1]].dtype for op in graph.operators
               if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    assert filters == {"CONV_2D": "int4", "DEPTHWISE_CONV_2D": "int4", "FULLY_CONNECTED": "int4"}


def test_int4_model_bit_exact_on_host(int4_tflite: Path, tmp_path: Path) -> None:
    from tinyml.train.quantize import io_quant, quantize_inputs, tflite_run

    compiled = compile_model(int4_tflite, tmp_path / "c")
    graph = read_tflite(int4_tflite)
    weighted = [op for op in graph.operators if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    packed = sum((graph.tensors[op.inputs[1]].size + 1) // 2 for op in weighted)
    biases = sum(graph.tensors[op.inputs[2]].nbytes for op in weighted)
    assert compiled.weights_bytes == packed + biases  # the filters stay packed: half a byte per weight
    (scale, zero_point), _ = io_quant(int4_tflite.read_bytes())
    shape = sample_shape(compiled.inputs[0])
    x = quantize_inputs(np.random.default_rng(3).normal(0, 1.5, (8, *shape)).astype(np.float32), scale, zero_point)
    want, _, _ = tflite_run(int4_tflite.read_bytes(), x)
    got = run_host(compiled, [x])[0].reshape(want.shape)
    assert np.array_equal(got, want), np.abs(got.astype(int) - want).max()
    assert len({o.tobytes() for o in want}) > 1, "the outputs do not depend on the input"


@pytest.mark.qemu
def test_int4_model_bit_exact_on_m4(int4_tflite: Path, tmp_path: Path) -> None:
    from tinyml.device.bench import bench
    from tinyml.device.boards import get_board

    report = bench(int4_tflite, get_board("mps2-an386"), runs=3, build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"] and report.mismatched_samples == []
    assert report.outputs_match == report.outputs_total == 3 * len(report.outputs)
