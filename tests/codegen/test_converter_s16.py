"""A Keras model through the real TFLite converter in its 16x8 mode compiles and runs bit-exact on the host, with the
operator versions and options the random 16x8 cases (tests/codegen/s16_cases.py) are written with. Apart from
tests/codegen/test_kernels_s16.py so that the sanitized kernel run (scripts/test.sh) does not convert it again."""
from __future__ import annotations

import numpy as np
import pytest

from tests.host_batch import BatchCase, run_batch
from tests.tflite_models import run_reference
from tinyml.compiler.ir.reader import parse_tflite


def test_converter_16x8_model_compiles_and_matches() -> None:
    """A Keras model through the real TFLite converter in its 16x8 mode: ADD, MUL (one by a broadcast constant),
    SOFTMAX, LOGISTIC and TANH as the converter writes them (the versions and options the random cases use)."""
    tf = pytest.importorskip("tensorflow")
    a, b = tf.keras.Input((4, 6)), tf.keras.Input((4, 6))
    total = tf.keras.layers.Add()([a, b])
    product = tf.keras.layers.Multiply()([total, a])
    scaled = product * tf.constant(np.linspace(-1.5, 1.5, 6, dtype=np.float32))
    model = tf.keras.Model([a, b], [tf.keras.layers.Softmax()(scaled), tf.keras.activations.sigmoid(product),
                                    tf.keras.activations.tanh(total)])
    rng = np.random.default_rng(16)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.normal(0, 2, (1, 4, 6)).astype(np.float32),
                                                 rng.normal(0, 1, (1, 4, 6)).astype(np.float32)] for _ in range(16))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int16
    tflite = converter.convert()
    graph = parse_tflite(tflite, "converted.tflite")
    seen = {(op.opcode, op.version) for op in graph.operators}
    assert seen == {("ADD", 2), ("MUL", 2), ("SOFTMAX", 2), ("LOGISTIC", 2), ("TANH", 2)}, seen
    assert all(not op.options["potScaleInt16"] for op in graph.operators if op.opcode == "ADD")
    inputs = [rng.integers(-32768, 32768, size=(8, 4, 6), dtype=np.int16) for _ in range(2)]
    got = run_batch([BatchCase(tflite, inputs)])[0]
    for i in range(8):
        want = run_reference(tflite, [x[i:i + 1] for x in inputs])
        for w, g in zip(want, got, strict=True):
            assert np.array_equal(w.reshape(-1), g[i].reshape(-1)), f"sample {i}: outputs differ"
