"""A small 16x8 audio model end to end: a Keras keyword-spotting-style CNN over an MFCC patch (Conv2D, DepthwiseConv2D,
average and max pooling, Dense, Softmax) quantized by `tinyml quantize --activations int16` (TFLite's 16x8 mode: int16
activations and I/O, int8 weights, int64 bias), compiled, and run bit-exact with the TFLite interpreter on the host
(the quantize command's own check, which fails with MISMATCH otherwise) and in QEMU on the Cortex-M4. The model is
untrained (seeded random weights and biases): bit-exactness needs no accuracy. It ends with the int16 SOFTMAX."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.train.conftest import run_json
from tinyml.compiler.ir.reader import read_tflite
from tinyml.device.bench import bench
from tinyml.device.boards import get_board

MFCC = (24, 10, 1)  # frames x coefficients


def _audio_model(path: Path) -> None:
    import keras
    from keras import layers

    keras.utils.set_random_seed(16)
    x = inputs = keras.Input(MFCC, batch_size=1)
    x = layers.Conv2D(8, (5, 3), strides=(2, 1), padding="same", activation="relu")(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(12, 1, activation="relu")(x)
    x = layers.MaxPooling2D((2, 1))(x)
    x = layers.Flatten()(x)
    outputs = layers.Softmax()(layers.Dense(5)(x))
    model = keras.Model(inputs, outputs, name="kws_16x8")
    rng = np.random.default_rng(16)
    for layer in model.layers:  # nonzero biases: the int64 bias path must carry something
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape).astype(np.float32))
    model.save(path)


@pytest.mark.qemu
def test_16x8_audio_model_quantized_compiled_exact(tmp_path: Path) -> None:
    _audio_model(tmp_path / "kws.keras")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=rng.normal(0, 1, (120, *MFCC)).astype(np.float32))
    report = run_json("quantize", tmp_path / "kws.keras", "--calib", tmp_path / "calib.npz", "--activations", "int16",
                      "-o", tmp_path / "kws16.tflite")
    assert report["host_equals_tflite"] is True and report["reference_statistics"] is None

    graph = read_tflite(tmp_path / "kws16.tflite")
    ops = {op.opcode for op in graph.operators}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= ops
    activations = [graph.tensors[op.inputs[0]].dtype for op in graph.operators]
    assert set(activations) == {"int16"}, activations
    biases = {graph.tensors[op.inputs[2]].dtype for op in graph.operators
              if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    assert biases == {"int64"}

    x = graph.tensors[graph.inputs[0]]
    samples = np.clip(np.round(rng.normal(0, 1, (3, *MFCC)) / x.scale), -32768, 32767).astype(np.int16)
    samples[2] = np.where(rng.random(MFCC) < 0.5, -32768, 32767)  # full scale
    result = bench(tmp_path / "kws16.tflite", get_board("mps2-an386"), inputs=[samples], build_dir=tmp_path / "m4")
    assert result.references == ["host", "tflite"]
    assert result.mismatched_samples == [] and result.outputs_match == result.outputs_total == 3
