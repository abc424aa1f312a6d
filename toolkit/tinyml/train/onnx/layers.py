"""Small Keras layers for the ONNX ops that have no Keras layer of their own; each one's call is the TensorFlow op
whose TFLite lowering is the builtin operator named beside it."""
from __future__ import annotations

import numpy as np


def keras_layers():
    """The layer classes, built on first use (Keras and TensorFlow load only when an ONNX model is translated)."""
    import keras
    import tensorflow as tf

    class ConstOp(keras.layers.Layer):
        """x + c (ADD), x * c (MUL) or c - x (SUB) with a constant c."""

        def __init__(self, value: np.ndarray, op: str, **kw) -> None:
            super().__init__(**kw)
            self.value, self.op = value, op

        def build(self, input_shape):
            self.c = self.add_weight(shape=self.value.shape, initializer=keras.initializers.Constant(self.value),
                                     trainable=False, name="const")

        def call(self, x):
            if self.op == "add":
                return x + self.c
            if self.op == "mul":
                return x * self.c
            return self.c - x

    class Binary(keras.layers.Layer):
        """Two activations, broadcasting over unit axes: ADD, SUB, MUL."""

        def __init__(self, op: str, **kw) -> None:
            super().__init__(**kw)
            self.op = op

        def call(self, a, b):
            return {"add": tf.add, "sub": tf.subtract, "mul": tf.multiply}[self.op](a, b)

    class Reduce(keras.layers.Layer):
        """MEAN, SUM or REDUCE_MAX over Keras axes."""

        def __init__(self, op: str, axes: tuple[int, ...], keepdims: bool, **kw) -> None:
            super().__init__(**kw)
            self.op, self.axes, self.keepdims = op, axes, keepdims

        def call(self, x):
            fn = {"mean": tf.reduce_mean, "sum": tf.reduce_sum, "max": tf.reduce_max}[self.op]
            return fn(x, axis=list(self.axes), keepdims=self.keepdims)

    class HardSigmoid(keras.layers.Layer):
        """max(0, min(1, alpha * x + beta)) as relu6(6 alpha x + 6 beta) / 6: ADD (RELU6 fused) and MUL."""

        def __init__(self, alpha: float, beta: float, **kw) -> None:
            super().__init__(**kw)
            self.alpha, self.beta = alpha, beta

        def call(self, x):
            scaled = x if abs(self.alpha * 6.0 - 1.0) < 1e-7 else x * (6.0 * self.alpha)
            return tf.nn.relu6(scaled + 6.0 * self.beta) * (1.0 / 6.0)

    class HardSwish(keras.layers.Layer):
        """x * relu6(x + 3) / 6: the converter recognises the pattern and emits HARD_SWISH."""

        def call(self, x):
            return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)

    class StridedSlice(keras.layers.Layer):
        """STRIDED_SLICE: (begin, end, step) per Keras axis after the batch."""

        def __init__(self, spec: tuple[tuple[int, int, int], ...], **kw) -> None:
            super().__init__(**kw)
            self.spec = spec

        def call(self, x):
            return x[(slice(None), *(slice(b, e, s) for b, e, s in self.spec))]

    class Split(keras.layers.Layer):
        """SPLIT / SPLIT_V along one Keras axis."""

        def __init__(self, sizes: tuple[int, ...], axis: int, **kw) -> None:
            super().__init__(**kw)
            self.sizes, self.axis = sizes, axis

        def call(self, x):
            return tf.split(x, list(self.sizes), axis=self.axis)

    class Resize(keras.layers.Layer):
        """RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR with TensorFlow's align_corners / half_pixel_centers flags."""

        def __init__(self, size: tuple[int, int], bilinear: bool, align_corners: bool, half_pixel: bool,
                     **kw) -> None:
            super().__init__(**kw)
            self.size, self.bilinear, self.align_corners, self.half_pixel = size, bilinear, align_corners, half_pixel

        def call(self, x):
            fn = (tf.compat.v1.image.resize_bilinear if self.bilinear
                  else tf.compat.v1.image.resize_nearest_neighbor)
            return fn(x, list(self.size), align_corners=self.align_corners, half_pixel_centers=self.half_pixel)

    return {"ConstOp": ConstOp, "Binary": Binary, "Reduce": Reduce, "HardSigmoid": HardSigmoid,
            "HardSwish": HardSwish, "StridedSlice": StridedSlice, "Split": Split, "Resize": Resize}
