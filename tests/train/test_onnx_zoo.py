"""Bring your own model: PyTorch networks exported with PyTorch's default exporter (`torch.onnx.export`, which is
the dynamo exporter since torch 2.9; opset 18+, weights in an `.onnx.data` side file) go through the ONNX front
end, int8 quantization with random, unlabelled calibration data, tinyml's compiler, and run bit-exact against the
TFLite interpreter on the host; the DS-CNN and the MobileNetV2 also on the M4 in QEMU.

All models are exported by one `torch.onnx.export` call (see `onnx_zoo_models.export_all`) and cut apart. The
transposed-convolution architectures (an autoencoder, a tiny U-Net: `keras_zoo_models`) are Keras models converted
by the TFLite converter directly, bit-exact on the host and on the M4 in QEMU."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests import tflite_models as tm
from tests.train import keras_zoo_models as keras_zoo
from tests.train import onnx_zoo_models as zoo
from tests.train.conftest import run_cli
from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.ops import LOWERINGS
from tinyml.compiler.ir.reader import read_tflite
from tinyml.device.targets.host import run_host, sample_shape

# the TFLite operators each single-operator model must contain
EXPECTED_TFLITE = {"LeakyRelu": "LEAKY_RELU", "PRelu": "PRELU", "Sub_Div": "SUB", "Transpose": "TRANSPOSE",
                   "Slice": "STRIDED_SLICE", "Split": "SPLIT_V", "ResizeNearest": "RESIZE_NEAREST_NEIGHBOR",
                   "ResizeBilinear": "RESIZE_BILINEAR", "ConvTranspose": "TRANSPOSE_CONV",
                   "ConvTransposeSame": "TRANSPOSE_CONV", "ReduceSum_ReduceMax": "REDUCE_MAX"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Path]:
    return zoo.export_all(tmp_path_factory.mktemp("zoo"))


def _inputs(path: Path, n: int, seed: int = 0) -> np.ndarray:
    """Random calibration inputs shaped like the ONNX input (no labels: PTQ needs none)."""
    import onnx
    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return np.random.default_rng(seed).normal(0, 1, (n, *(d.dim_value for d in dims[1:]))).astype(np.float32)


def _host_equals_tflite(tflite: Path, tmp: Path, n: int = 8) -> None:
    from tinyml.train.quantize import io_quant, quantize_inputs, tflite_run
    compiled = compile_model(tflite, tmp / "c")
    (si, zi), _ = io_quant(tflite.read_bytes())
    shape = sample_shape(compiled.inputs[0])
    xq = quantize_inputs(np.random.default_rng(3).normal(0, 1.5, (n, *shape)).astype(np.float32), si, zi)
    want, _, _ = tflite_run(tflite.read_bytes(), xq)
    got = run_host(compiled, [xq])[0].reshape(want.shape)
    assert np.array_equal(got, want), np.abs(got.astype(int) - want).max()
    assert len({o.tobytes() for o in want}) > 1, "the outputs do not depend on the input"


@pytest.fixture(scope="module")
def quantized(exported, tmp_path_factory, train_cache) -> dict[str, tuple[Path, object]]:
    """`tinyml quantize` as a user runs it: the DS-CNN with a .npz of inputs only, the MobileNetV2 with a folder of
    .npy inputs; the text summary (no --json) so that the test sees exactly what a user sees."""
    out = {}
    for name in ("dscnn", "mobilenet_v2"):
        tmp = tmp_path_factory.mktemp(name)
        x = _inputs(exported[name], 48)
        if name == "dscnn":
            calib = tmp / "calib.npz"
            np.savez(calib, x=x)
        else:
            calib = tmp / "calib"
            calib.mkdir()
            for i, sample in enumerate(x):
                np.save(calib / f"{i:03d}.npy", sample)
        result = run_cli("quantize", exported[name], "--calib", calib, "-o", tmp / "out" / f"{name}.tflite")
        out[name] = (tmp / "out" / f"{name}.tflite", result)
    return out


@pytest.mark.parametrize("name", ["dscnn", "mobilenet_v2"])
def test_default_export_quantizes_and_runs_bit_exact(name, quantized, tmp_path):
    tflite, _ = quantized[name]
    report = json.loads(tflite.with_suffix(".json").read_text())
    assert report["host_equals_tflite"] is True and report["check_samples"] == report["calib_samples"] == 48
    assert report["onnx"]["data_layout"] == "NCHW (transposed to NHWC)"
    assert report["onnx"]["max_relative_error_vs_onnx"] < 1e-4
    assert report["max_error_vs_float"] < 0.1 and report["top1_agreement"] >= 0.75, report
    ops = {op.opcode for op in read_tflite(tflite).operators}
    assert "MEAN" in ops and "DEPTHWISE_CONV_2D" in ops and "TRANSPOSE" not in ops
    _host_equals_tflite(tflite, tmp_path)


def test_quantize_prints_nothing_but_its_summary(quantized):
    """TensorFlow's and the converter's lines (Python warnings, absl and TF_CPP logging from C++) are in
    quantize.log; the terminal gets the summary only."""
    for tflite, result in quantized.values():
        assert result.stderr == "", result.stderr[-2000:]
        lines = result.stdout.splitlines()
        assert lines[0].startswith(f"{tflite}: ") and "unlabelled inputs" in lines[0], lines
        assert "bit-exact with TFLite" in lines[0] and lines[1].startswith("  ONNX NCHW") and len(lines) == 2, lines
        log = (tflite.parent / "quantize.log").read_text(errors="replace")
        assert "fully_quantize" in log or "tensorflow" in log.lower(), log[:500]


@pytest.mark.qemu
@pytest.mark.parametrize("name", ["dscnn", "mobilenet_v2"])
def test_default_export_runs_bit_exact_on_m4(name, quantized, tmp_path):
    from tinyml.device.bench import bench
    from tinyml.device.boards import get_board

    report = bench(quantized[name][0], get_board("mps2-an386"), runs=3, build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"] and report.mismatched_samples == []
    assert report.outputs_match == report.outputs_total == 3 * len(report.outputs)


@pytest.mark.parametrize("name", ["cnn1d", "mobilenet_v3_small", *zoo.OPERATORS])
def test_model_and_operator_translation(name, exported, tmp_path):
    """Translation checked against ONNX's reference evaluator, int8 conversion checked against the float model
    (one quantization step of slack per layer), then compiled and run bit-exact against TFLite where tinyml has the
    kernels; a model whose TFLite operator has no kernel yet is skipped at that step, naming it."""
    from tinyml.train.onnx import onnx_to_keras
    from tinyml.train.quantize import convert_int8, io_quant, quantize_inputs

    om = onnx_to_keras(exported[name])
    x, _ = om.adapt(_inputs(exported[name], 32))
    assert om.verify(x) < 1e-4
    tflite = tmp_path / f"{name}.tflite"
    tflite.write_bytes(convert_int8(om.keras, x))
    ops = [op.opcode for op in read_tflite(tflite).operators]
    if name in EXPECTED_TFLITE:
        assert EXPECTED_TFLITE[name] in ops, ops
    if name == "mobilenet_v3_small":
        assert "HARD_SWISH" in ops and ops.count("MUL") >= 2
    if name == "cnn1d":
        assert om.layout_info["input_transpose_folded"] == [0, 2, 1] and "TRANSPOSE" not in ops
    (si, zi), (so, zo) = io_quant(tflite.read_bytes())
    got = (tm.run_reference(tflite.read_bytes(), [quantize_inputs(x[:1], si, zi)])[0].astype(np.float32) - zo) * so
    want = np.asarray(om.keras(x[:1]))
    assert np.max(np.abs(got - want)) <= 0.1 * max(1.0, float(np.abs(want).max())), (got, want)
    missing = sorted(set(ops) - set(LOWERINGS))
    if missing:
        pytest.skip(f"translation and int8 conversion checked; tinyml has no kernel for {', '.join(missing)} yet")
    _host_equals_tflite(tflite, tmp_path)


def test_missing_external_data_file_is_named(exported, tmp_path):
    """The exporter writes the weights to NAME.onnx.data; an .onnx copied without it gets a line naming it."""
    whole = exported["dscnn"].parent / "all.onnx"
    assert (whole.parent / "all.onnx.data").is_file()
    shutil.copy(whole, tmp_path / "all.onnx")
    r = run_cli("quantize", tmp_path / "all.onnx", "--calib", tmp_path / "none.npz", "-o", tmp_path / "x.tflite",
                code=2)
    assert r.stderr.count("\n") == 1 and "'all.onnx.data'" in r.stderr and "ValidationError" not in r.stderr
    assert not (tmp_path / "x.tflite").exists()


@pytest.fixture(scope="module")
def keras_zoo_tflite(tmp_path_factory) -> dict[str, Path]:
    """The Keras zoo models, int8 by the TFLite converter (random calibration inputs, no labels)."""
    from tinyml.train.quantize import convert_int8

    out = {}
    for name, build in keras_zoo.MODELS.items():
        out[name] = tmp_path_factory.mktemp(name) / f"{name}.tflite"
        out[name].write_bytes(convert_int8(build(), keras_zoo.calibration(name, 32)))
    return out


@pytest.mark.parametrize("name", list(keras_zoo.MODELS))
def test_transposed_conv_zoo_bit_exact_on_host(name, keras_zoo_tflite, tmp_path):
    ops = [op.opcode for op in read_tflite(keras_zoo_tflite[name]).operators]
    assert ops.count("TRANSPOSE_CONV") == 2, ops
    if name == "tiny_unet":
        assert ops[-1] == "LOG_SOFTMAX" and "CONCATENATION" in ops, ops
    _host_equals_tflite(keras_zoo_tflite[name], tmp_path)


@pytest.mark.qemu
@pytest.mark.parametrize("name", list(keras_zoo.MODELS))
def test_transposed_conv_zoo_bit_exact_on_m4(name, keras_zoo_tflite, tmp_path):
    from tinyml.device.bench import bench
    from tinyml.device.boards import get_board

    report = bench(keras_zoo_tflite[name], get_board("mps2-an386"), runs=3, build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"] and report.mismatched_samples == []
    assert report.outputs_match == report.outputs_total == 3 * len(report.outputs)
