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
