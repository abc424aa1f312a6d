"""train -> quantize: the int8 accuracy of the TFLite interpreter equals that of our compiled C on the host."""
from __future__ import annotations

import pytest

from tests.train.conftest import run_cli, run_json
from tinyml.device.statistics import load_statistics


def test_quantize_host_equals_tflite(gesture_model, tmp_path):
    report = run_json("quantize", gesture_model, "-o", tmp_path / "m.tflite")
    assert report["host_equals_tflite"] is True
    assert report["int8_accuracy"] == report["host_c_accuracy"]
    assert 0 <= report["float_accuracy"] <= 1 and report["test_samples"] > 0
    assert (tmp_path / "m.tflite").exists() and (tmp_path / "m.json").exists()
    reference = load_statistics(report["reference_statistics"])  # the drift reference, binned like the device
    assert report["reference_statistics"] == str(tmp_path / "m.stats.json")
    assert reference.inferences == report["data"]["sizes"]["train"]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["kws", "image", "resnet8", "anomaly"])
def test_recipes_train_and_quantize(recipe, tmp_path, train_cache):
    m = run_json("train", recipe, "--small-data", "--epochs", "1", "--width", "0.25", "-o", tmp_path / "m")
    assert m["params"] > 0
    if recipe == "kws":
        assert (tmp_path / "m" / "features.json").exists()
    q = run_json("quantize", tmp_path / "m", "-o", tmp_path / "m.tflite")
    assert q["int8_accuracy"] == q["host_c_accuracy"] and q["host_equals_tflite"]


def test_quantize_errors(tmp_path, train_cache):
    r = run_cli("quantize", tmp_path / "none.keras", "-o", tmp_path / "x.tflite", code=2)
    assert "no such file" in r.stderr
    r = run_cli("train", "nope", "-o", tmp_path / "x", code=2)
    assert "unknown recipe" in r.stderr


def test_a_rolled_keras_3_lstm_is_refused_before_the_converter_crashes(tmp_path):
    """Keras 3's LSTM converts to a WHILE loop whose int8 calibration segfaults the converter: one clear line,
    naming the layer and the two ways that work, instead of a dead process."""
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, name="kws_lstm"), keras.layers.Dense(2)])
    model.save(tmp_path / "lstm.keras")
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(0).standard_normal((8, 5, 3)).astype(np.float32))
    r = run_cli("quantize", tmp_path / "lstm.keras", "--calib", tmp_path / "calib.npz", "-o", tmp_path / "x.tflite",
                code=2)
    assert "layer 'kws_lstm' (LSTM)" in r.stderr and "unroll=True" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.tflite").exists()
