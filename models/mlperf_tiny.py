"""The MLPerf Tiny reference architectures (mlcommons/tiny, benchmark/training/*) in the Keras functional API.

Layer for layer as in the reference training scripts, with batch size 1 fixed at the input, so the int8
conversions have the same operators and shapes as the official files in models/mlperf-tiny/:
DS-CNN (keyword spotting), MobileNetV1 0.25 (visual wake words), ResNet-8 (CIFAR-10 image classification) and the
fully connected autoencoder (ToyCar anomaly detection). Dropout and weight regularizers only matter in training
and are left out. The blocks are the training recipes' (`tinyml.train.recipes.blocks`) in the `MLPERF` style
(biased convolutions, Keras' default batch-norm momentum). Weights are random; `fit_batch_norm` sets the
BatchNormalization statistics from data so that activations and the folded int8 weights have the scales of a
trained network.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from tinyml.train.recipes.blocks import (
    MLPERF,
    classifier_head,
    conv_bn_relu,
    dense_bn_relu,
    depthwise_separable,
    residual,
)


def ds_cnn_kws() -> keras.Model:
    """DS-CNN keyword spotting: 49x10x1 MFCC input, 12 classes."""
    inputs = keras.Input((49, 10, 1), batch_size=1)
    x = conv_bn_relu(inputs, 64, (10, 4), strides=(2, 2), style=MLPERF)
    for _ in range(4):
        x = depthwise_separable(x, 64, style=MLPERF)
    return keras.Model(inputs, classifier_head(x, 12), name="ds_cnn_kws")


def mobilenet_v1_vww() -> keras.Model:
    """MobileNetV1 (width 0.25) visual wake words: 96x96x3 image input, 2 classes."""
    inputs = keras.Input((96, 96, 3), batch_size=1)
    x = conv_bn_relu(inputs, 8, 3, strides=2, style=MLPERF)
    blocks = [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2)] + [(128, 1)] * 5 + [(256, 2), (256, 1)]
    for filters, strides in blocks:
        x = depthwise_separable(x, filters, strides, style=MLPERF)
    return keras.Model(inputs, classifier_head(x, 2), name="mobilenet_v1_vww")


def resnet8_ic() -> keras.Model:
    """ResNet-8 image classification: 32x32x3 CIFAR-10 input, 10 classes."""
    inputs = keras.Input((32, 32, 3), batch_size=1)
    x = conv_bn_relu(inputs, 16, 3, style=MLPERF)
    for filters, strides in ((16, 1), (32, 2), (64, 2)):
        x = residual(x, filters, strides, style=MLPERF)
    return keras.Model(inputs, classifier_head(x, 10), name="resnet8_ic")


def fc_autoencoder_ad() -> keras.Model:
    """Fully connected autoencoder anomaly detection (ToyCar): 640 inputs and outputs, bottleneck 8."""
    inputs = keras.Input((640,), batch_size=1)
    x = inputs
    for units in (128, 128, 128, 128, 8, 128, 128, 128, 128):
        x = dense_bn_relu(x, units, style=MLPERF)
    return keras.Model(inputs, layers.Dense(640)(x), name="fc_autoencoder_ad")


def fit_batch_norm(model: keras.Model, data: np.ndarray, rng: np.random.Generator) -> None:
    """Gives every BatchNormalization layer the moving mean and variance of its input on `data` (as training would)
    and a random gamma and beta, so that activations keep unit scale through the random network, as in a trained
    one. Without this the random logits are so small that SOFTMAX outputs a constant."""
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            features = keras.Model(model.inputs, layer.input)(data, training=False)
            features = np.asarray(features).reshape(-1, layer.gamma.shape[0])
            channels = features.shape[1]
            layer.set_weights([rng.uniform(0.5, 1.5, channels), rng.normal(0.0, 0.5, channels),
                               features.mean(axis=0), features.var(axis=0) + 1e-3])


@dataclass(frozen=True)
class Architecture:
    """A reference architecture: its Keras builder and the reference file's name in models/mlperf-tiny."""
    name: str
    build: Callable[[], keras.Model]
    reference_file: str


ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture("ds_cnn_kws", ds_cnn_kws, "kws.tflite"),
    Architecture("mobilenet_v1_vww", mobilenet_v1_vww, "vww.tflite"),
    Architecture("resnet8_ic", resnet8_ic, "ic.tflite"),
    Architecture("fc_autoencoder_ad", fc_autoencoder_ad, "ad.tflite"),
)
