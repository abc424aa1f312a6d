"""Keras building blocks shared by the training recipes and the MLPerf Tiny reference models (`models/mlperf_tiny.py`).

The two sets differ only in how a layer is built, and a `Style` says how:
- `TRAINABLE` (the recipes): convolutions without bias (the BatchNormalization after them has one), batch-norm
  momentum 0.9 (short trainings settle their statistics), a shortcut 1x1 convolution with "valid" padding;
- `MLPERF` (the reference training scripts of mlcommons/tiny): convolutions with bias, Keras' default momentum, a
  "same"-padded shortcut.
Keras is imported inside the functions, so importing the recipes stays cheap for commands that never build a model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KerasTensor = Any            # keras.KerasTensor; keras is imported lazily


@dataclass(frozen=True)
class Style:
    conv_bias: bool
    bn_momentum: float
    shortcut_padding: str


TRAINABLE = Style(conv_bias=False, bn_momentum=0.9, shortcut_padding="valid")
MLPERF = Style(conv_bias=True, bn_momentum=0.99, shortcut_padding="same")


def conv_bn_relu(x: KerasTensor, filters: int, kernel: int | tuple[int, int], strides: int | tuple[int, int] = 1,
                 activation: bool = True, style: Style = TRAINABLE) -> KerasTensor:
    """Conv2D ("same" padding) -> BatchNormalization -> ReLU (left out with `activation=False`)."""
    from keras import layers
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=style.conv_bias)(x)
    x = layers.BatchNormalization(momentum=style.bn_momentum)(x)
    return layers.ReLU()(x) if activation else x


def depthwise_separable(x: KerasTensor, filters: int, strides: int = 1, style: Style = TRAINABLE) -> KerasTensor:
    """3x3 DepthwiseConv2D -> BatchNormalization -> ReLU, then a pointwise `conv_bn_relu`."""
    from keras import layers
    x = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=style.conv_bias)(x)
    x = layers.BatchNormalization(momentum=style.bn_momentum)(x)
    x = layers.ReLU()(x)
    return conv_bn_relu(x, filters, 1, style=style)


def residual(x: KerasTensor, filters: int, strides: int, style: Style = TRAINABLE) -> KerasTensor:
    """Two 3x3 `conv_bn_relu` (the second without ReLU) plus a shortcut (identity, or a 1x1 convolution where the
    stride or the channel count changes), then ReLU."""
    from keras import layers
    y = conv_bn_relu(x, filters, 3, strides, style=style)
    y = conv_bn_relu(y, filters, 3, activation=False, style=style)
    shortcut = x if strides == 1 and x.shape[-1] == filters else layers.Conv2D(
        filters, 1, strides=strides, padding=style.shortcut_padding)(x)
    return layers.ReLU()(layers.Add()([shortcut, y]))


def dense_bn_relu(x: KerasTensor, units: int, style: Style = TRAINABLE) -> KerasTensor:
    """Dense -> BatchNormalization -> ReLU (the autoencoder's layer)."""
    from keras import layers
    x = layers.Dense(units)(x)
    x = layers.BatchNormalization(momentum=style.bn_momentum)(x)
    return layers.ReLU()(x)


def classifier_head(x: KerasTensor, classes: int) -> KerasTensor:
    """Average pooling over the whole feature map, Flatten, Dense with softmax."""
    from keras import layers
    x = layers.AveragePooling2D(pool_size=tuple(x.shape[1:3]))(x)
    x = layers.Flatten()(x)
    return layers.Dense(classes, activation="softmax")(x)
