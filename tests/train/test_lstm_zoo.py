"""The model zoo's LSTM keyword spotter (issue 14): MFCC frames (tinyml.features, 49 x 10) -> LSTM(24) -> Dense(12)
-> softmax, built in the test with tf_keras (seeded random weights, no download), quantized to full int8 by the
project's converter path (tinyml.train.quantize.convert_int8, a representative set of MFCCs of synthetic audio),
compiled, and run byte for byte against the TFLite interpreter on the host and on the Cortex-M4 in QEMU, several
clips in a row (the LSTM's state carries over from one invoke to the next, in TFLite as in model.c).

Why tf_keras: with Keras 3 (the `keras` TensorFlow 2.21 ships) the converter does not fuse an LSTM layer into
UNIDIRECTIONAL_SEQUENCE_LSTM: it writes a WHILE loop over FULLY_CONNECTED/LOGISTIC/TANH/MUL/ADD (three subgraphs),
and its int8 calibration of that loop crashes the process (tensorflow issue 75140; 101050 for LSTMs). tf_keras, the
Keras 2 of TensorFlow, keeps the fused LSTM the converter recognises; its int8 form is what this test checks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.codegen.lstm_models import run_sequence
from tinyml.compiler.ir.reader import parse_tflite
from tinyml.device.bench import bench
from tinyml.device.boards import get_board
from tinyml.features import FeatureParams, extract

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

UNITS, WORDS, CLIPS = 24, 12, 3


def _mfcc_clips(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 49, 10) MFCCs of one-second clips: a random chirp in noise, as a stand-in for spoken words."""
    p = FeatureParams()
    t = np.arange(p.clip_samples) / p.sample_rate
    f0 = rng.uniform(150, 1200, (n, 1))
    audio = 0.5 * np.sin(2 * np.pi * (f0 + rng.uniform(-100, 400, (n, 1)) * t) * t) + rng.normal(0, 0.05, (n, t.size))
    feats = extract(audio * np.hanning(t.size), p)[..., 0]
    return ((feats - feats.mean()) / feats.std()).astype(np.float32)


def _keyword_spotter(frames: int, coeffs: int):
    import tf_keras as keras

    keras.utils.set_random_seed(14)
    inputs = keras.Input((frames, coeffs), batch_size=1)
    x = keras.layers.LSTM(UNITS)(inputs)
    outputs = keras.layers.Dense(WORDS, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="lstm_kws")


def test_lstm_keyword_spotter_exact_on_host_and_m4(tmp_path: Path) -> None:
    from tinyml.train.quantize import convert_int8

    rng = np.random.default_rng(14)
    calib, clips = _mfcc_clips(rng, 16), _mfcc_clips(rng, CLIPS)
    model = tmp_path / "lstm_kws.tflite"
    model.write_bytes(convert_int8(_keyword_spotter(*calib.shape[1:]), calib))

    graph = parse_tflite(model.read_bytes(), model.name)
    assert [op.opcode for op in graph.operators] == ["UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE",
                                                     "FULLY_CONNECTED", "SOFTMAX"]
    lstm = graph.operators[0]  # the converter's layout, which tests/codegen/lstm_models.py reproduces
    assert lstm.version == 1 and len(lstm.inputs) == 24 and len(lstm.intermediates) == 5
    assert [graph.tensors[t].dtype for t in lstm.inputs[18:20]] == ["int8", "int16"]
    assert all(graph.tensors[t].is_variable for t in lstm.inputs[18:20])

    x = graph.tensors[graph.inputs[0]]
    q = np.clip(np.round(clips / x.scale) + x.zero_point, -128, 127).astype(np.int8)
    report = bench(model, get_board("mps2-an386"), inputs=[q], build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"]  # the M4's outputs equal the host build's and TFLite's
    assert report.mismatched_samples == [] and report.outputs_match == report.outputs_total == CLIPS
    want = run_sequence(model.read_bytes(), q[:, None])  # each sample with its batch of 1
    assert np.array_equal(report.outputs[0].reshape(want.shape), want)
    assert len({tuple(w.reshape(-1)) for w in want}) == CLIPS  # the clips tell apart: the check is not vacuous

