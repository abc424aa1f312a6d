"""Keras architectures of the model zoo (issue 14) that upsample with transposed convolutions, built in the test (no
downloads, untrained: the weights are seeded random, which is all a bit-exactness check needs):

- `conv_transpose_autoencoder`: a convolutional autoencoder, two stride-2 convolutions down, two stride-2
  Conv2DTranspose up (one 3x3 with its bias and ReLU, one 4x4 without bias), a sigmoid image out;
- `tiny_unet`: a two-level U-Net, Conv2DTranspose x2 up, the skip concatenated, a per-pixel class head with
  log_softmax (the converter's LOG_SOFTMAX).

The TFLite converter writes Conv2DTranspose as TRANSPOSE_CONV (output shape, filter, input, bias)."""
from __future__ import annotations

import numpy as np

IMAGE = (16, 16)


def conv_transpose_autoencoder(seed: int = 0):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input((*IMAGE, 1), batch_size=1)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(12, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(8, 4, strides=2, padding="same", use_bias=False)(x)
    outputs = layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    return _with_random_biases(keras.Model(inputs, outputs, name="conv_transpose_autoencoder"), seed)


def tiny_unet(seed: int = 0, classes: int = 3):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((*IMAGE, 2), batch_size=1)
    skip1 = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(2)(skip1)
    skip2 = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(skip2)
    x = layers.Conv2D(24, 3, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(16, 2, strides=2, padding="valid")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(layers.Concatenate()([x, skip2]))
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same")(x)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(layers.Concatenate()([x, skip1]))
    x = layers.Conv2D(classes, 1)(x)
    outputs = layers.Activation("log_softmax")(x)
    return _with_random_biases(keras.Model(inputs, outputs, name="tiny_unet"), seed)


def _with_random_biases(model, seed: int):
    """Keras initialises biases to zero; random ones make the bias path of every kernel matter."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if getattr(layer, "use_bias", False):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape).astype(np.float32)])
    return model


MODELS = {"conv_transpose_autoencoder": conv_transpose_autoencoder, "tiny_unet": tiny_unet}


def calibration(name: str, n: int, seed: int = 0) -> np.ndarray:
    """Random inputs for post-training quantization and for the checks (no labels: none are needed)."""
    channels = {"conv_transpose_autoencoder": 1, "tiny_unet": 2}[name]
    return np.random.default_rng(seed).normal(0, 1, (n, *IMAGE, channels)).astype(np.float32)


def int4_qat_cnn(seed: int = 0):
    """A small CNN as quantization-aware training with 4-bit weights leaves it: the Conv2D, DepthwiseConv2D and Dense
    weights pass through 4-bit fake quantization, every layer's input and output through 8-bit fake quantization
    (fixed ranges; without them the converter's calibration runs a float depthwise kernel on int4 weights, which
    TFLite does not have). Converted with `convert_int4`, the three layers get INT4 filters."""
    import keras
    import tensorflow as tf

    def fake_quant4(w, axes):
        bound = tf.reduce_max(tf.abs(w), axis=axes)
        if axes is None:
            return tf.quantization.fake_quant_with_min_max_vars(w, -bound, bound, num_bits=4, narrow_range=True)
        return tf.quantization.fake_quant_with_min_max_vars_per_channel(w, -bound, bound, num_bits=4,
                                                                        narrow_range=True)

    class Int4Weights(keras.layers.Layer):
        """One weighted layer ("conv" 3x3, "depthwise" 3x3 or "dense") with 4-bit fake-quantized weights."""

        def __init__(self, kind: str, units: int, input_range: tuple[float, float],
                     output_range: tuple[float, float], **kwargs) -> None:
            super().__init__(**kwargs)
            self.kind, self.units, self.input_range, self.output_range = kind, units, input_range, output_range

        def build(self, shape) -> None:
            channels = shape[-1]
            kernel = {"conv": (3, 3, channels, self.units), "depthwise": (3, 3, channels, 1),
                      "dense": (channels, self.units)}[self.kind]
            self.w = self.add_weight(shape=kernel, initializer="glorot_uniform", name="w")
            self.b = self.add_weight(shape=(self.units or channels,), initializer="random_normal", name="b")

        def call(self, x):
            x = tf.quantization.fake_quant_with_min_max_vars(x, *self.input_range)
            if self.kind == "conv":
                y = tf.nn.relu(tf.nn.conv2d(x, fake_quant4(self.w, [0, 1, 2]), 1, "SAME") + self.b)
            elif self.kind == "dense":
                y = tf.matmul(x, fake_quant4(self.w, None)) + self.b
            else:
                w = tf.reshape(fake_quant4(tf.reshape(self.w, (3, 3, -1)), [0, 1]), self.w.shape)
                y = tf.nn.relu(tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME") + self.b)
            return tf.quantization.fake_quant_with_min_max_vars(y, *self.output_range)

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((*IMAGE, 1), batch_size=1)
    x = Int4Weights("conv", 7, (-4.0, 4.0), (0.0, 6.0))(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = Int4Weights("depthwise", 0, (0.0, 6.0), (0.0, 6.0))(x)
    x = keras.layers.Flatten()(x)
    outputs = Int4Weights("dense", 5, (0.0, 6.0), (-8.0, 8.0))(x)
    return keras.Model(inputs, outputs, name="int4_qat_cnn")


def convert_int4(keras_model, calib_data: np.ndarray) -> bytes:
    """The converter flags that turn 4-bit fake-quantized weights into INT4 tensors: int8 post-training
    quantization (representative data, int8 builtins and I/O) plus `_experimental_low_bit_qat`."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in calib_data)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    converter._experimental_low_bit_qat = True
    return converter.convert()
