"""The model zoo's GRU gesture model (issue 14): accelerometer and gyroscope windows (32 steps x 6 channels) ->
GRU(20) -> Dense(5) -> softmax, trained briefly in the test on generated gestures (no download), quantized to full
int8 by the project's converter path (tinyml.train.quantize.convert_int8), compiled, and run byte for byte against
the TFLite interpreter on the host and on the Cortex-M4 in QEMU.

The route: a GRU with unroll=True (a fixed number of steps), Keras 3 or tf_keras, reset_after True (the default;
the Keras 3 model, trained, on the host and the M4) or False (the tf_keras model, random weights, on the host).
The converter then writes the GRU step by step in integer FULLY_CONNECTED, SPLIT/SPLIT_V or STRIDED_SLICE, ADD,
SUB, MUL, LOGISTIC and TANH, except, at times, for one float detour: the first step's input gates go
DEQUANTIZE -> SPLIT (float32) -> QUANTIZE with the same quantization, which tinyml's reader folds back into an int8
SPLIT (tinyml.compiler.ir.fold). The converter leaves that detour in some conversions and not in others of the very
same model (its output varies from run to run), so this test passes either way; the fold itself is held to the
interpreter by tests/ir/test_fold.py. Without unroll the converter writes a WHILE loop whose int8 calibration
crashes it (Keras 3 and tf_keras alike): convert_int8 refuses both in one line."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tinyml.compiler.ir.reader import read_tflite

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

STEPS, CHANNELS, UNITS, GESTURES, WINDOWS = 32, 6, 20, 5, 3


def _gestures(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, STEPS, CHANNELS) windows and their labels: gesture g moves every axis at (g + 1) times its own base
    frequency, at a random phase, in noise."""
    labels = rng.integers(0, GESTURES, n)
    t = np.linspace(0.0, 1.0, STEPS)[None, :, None]
    freq = (1 + labels)[:, None, None] * np.array([1.0, 1.5, 0.5, 2.0, 1.0, 0.7])[None, None, :CHANNELS]
    x = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi, (n, 1, CHANNELS))) + rng.normal(0, 0.2,
                                                                                                 (n, STEPS, CHANNELS))
    return x.astype(np.float32), labels


def _gru(keras, x: np.ndarray, y: np.ndarray, reset_after: bool, epochs: int):
    """The gesture GRU of `keras` (Keras 3 or tf_keras) on a batch-1 input, trained on (x, y) for `epochs` (a few
    seconds; 0 keeps its seeded random weights)."""
    keras.utils.set_random_seed(14)
    inputs = keras.Input((STEPS, CHANNELS))
    hidden = keras.layers.GRU(UNITS, unroll=True, reset_after=reset_after)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(GESTURES, activation="softmax")(hidden), name="gru_gesture")
    if epochs:
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
        assert history.history["accuracy"][-1] > 0.6  # it learned the gestures (chance is 0.2)
    batch_one = keras.Input((STEPS, CHANNELS), batch_size=1)
    return keras.Model(batch_one, model(batch_one))


def _int8_gru(tmp_path: Path, keras, name: str, reset_after: bool = True, epochs: int = 8) -> tuple[Path, np.ndarray]:
    """The GRU quantized to `name`.tflite, and WINDOWS new windows as its int8 input."""
    from tinyml.train.quantize import convert_int8

    rng = np.random.default_rng(14)
    x, y = _gestures(rng, 256)
    model = _gru(keras, x, y, reset_after, epochs)
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(convert_int8(model, x[:32]))
    graph = read_tflite(path)
    ops = Counter(op.opcode for op in graph.operators)
    assert ops["TANH"] == STEPS and "DEQUANTIZE" not in ops and "QUANTIZE" not in ops
    assert all(graph.tensors[t].dtype == "int8" for op in graph.operators for t in op.outputs)
    windows, _ = _gestures(rng, WINDOWS)
    x_t = graph.tensors[graph.inputs[0]]
    return path, np.clip(np.round(windows / x_t.scale) + x_t.zero_point, -128, 127).astype(np.int8)


def test_gru_gesture_model_exact_on_host_and_m4(tmp_path: Path) -> None:
    import keras

    from tests.tflite_models import run_reference
    from tinyml.device.bench import bench
    from tinyml.device.boards import get_board

    model, q = _int8_gru(tmp_path, keras, "gru_gesture")
    report = bench(model, get_board("mps2-an386"), inputs=[q], build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"]  # the M4's outputs equal the host build's and TFLite's
    assert report.mismatched_samples == [] and report.outputs_match == report.outputs_total == WINDOWS
    want = np.stack([run_reference(model.read_bytes(), [q[i:i + 1]])[0] for i in range(WINDOWS)])
    assert np.array_equal(report.outputs[0].reshape(want.shape), want)
    assert len({int(np.argmax(w)) for w in want}) > 1  # the windows tell apart: the check is not vacuous


def test_tf_keras_gru_reset_before_exact_on_host(tmp_path: Path) -> None:
    """tf_keras, reset_after=False (random weights, to keep the test short): the converter's SPLIT_Vs then have an
    empty third output."""
    import tf_keras

    from tests.tflite_models import run_reference
    from tinyml.device.targets.host import infer

    model, q = _int8_gru(tmp_path, tf_keras, "gru_gesture_tf_keras", reset_after=False, epochs=0)
    (got,) = infer(model, [q])
    want = np.stack([run_reference(model.read_bytes(), [q[i:i + 1]])[0] for i in range(WINDOWS)])
    assert np.array_equal(got.reshape(want.shape), want)


def test_rolled_tf_keras_gru_is_refused_before_the_converter_crashes() -> None:
    import tf_keras

    from tinyml.errors import BAD_INPUT, TinymlError
    from tinyml.train.quantize import convert_int8

    inputs = tf_keras.Input((STEPS, CHANNELS), batch_size=1)
    model = tf_keras.Model(inputs, tf_keras.layers.GRU(UNITS, name="gru")(inputs))
    with pytest.raises(TinymlError) as error:
        convert_int8(model, np.zeros((2, STEPS, CHANNELS), np.float32))
    assert error.value.exit_code == BAD_INPUT
    assert str(error.value).startswith("layer 'gru' (tf_keras GRU): converts to a WHILE loop") and "unroll=True" in str(
        error.value)
