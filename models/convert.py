"""Full-integer int8 post-training quantization of a Keras model with the TFLite converter."""
from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import keras
import numpy as np


def convert_int8(keras_model: keras.Model, calib_data: np.ndarray) -> bytes:
    """Converts `keras_model` to a full-integer .tflite: int8 input and output, int8 per-channel weights, int32
    bias; activation ranges are calibrated on `calib_data` (float32, shape (N, *input_shape[1:]))."""
    import tensorflow as tf

    def representative_dataset() -> Iterator[list[np.ndarray]]:
        for sample in calib_data:
            yield [np.asarray(sample, np.float32)[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the exported SavedModel's signature
        return bytes(converter.convert())
