"""Training recipes: compact Keras architectures with width and depth multipliers, each tied to a data set.

| recipe | architecture | data | task |
| --- | --- | --- | --- |
| kws | DS-CNN (MLPerf Tiny KWS: conv 10x4 stride 2, depthwise-separable blocks) | kws (MFCC 49x10) | classification |
| image | MobileNetV1-style (depthwise-separable stages) | digits (16x16) | classification |
| resnet8 | ResNet-8-style (three residual stages) | digits (16x16) | classification |
| anomaly | fully connected autoencoder (MLPerf Tiny AD layout) | vibration (5x128 log-mel) | anomaly |
| gesture | small 1D CNN | gesture (128x3 accelerometer) | classification |

The layers come from `blocks` (shared with the MLPerf Tiny reference models in `models/`).
`width` scales every channel/unit count, `depth` the number of repeated blocks (1.0 = the reference layout).
Models are built with a free batch axis for training; `batch_one` gives the batch-1 graph used for export, so no
dynamic-shape operator reaches the .tflite.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tinyml.errors import TinymlError
from tinyml.train.recipes.blocks import classifier_head, conv_bn_relu, dense_bn_relu, depthwise_separable, residual


def _ch(base: int, width: float) -> int:
    return max(1, int(round(base * width)))


def ds_cnn(input_shape, classes, width=1.0, depth=1.0):
    import keras
    inputs = keras.Input(input_shape)
    x = conv_bn_relu(inputs, _ch(64, width), (10, 4), strides=(2, 2))
    for _ in range(max(1, int(round(4 * depth)))):
        x = depthwise_separable(x, _ch(64, width))
    return keras.Model(inputs, classifier_head(x, classes), name="ds_cnn")


def mobilenet_v1(input_shape, classes, width=1.0, depth=1.0):
    import keras
    inputs = keras.Input(input_shape)
    x = conv_bn_relu(inputs, _ch(16, width), 3, strides=2)
    x = depthwise_separable(x, _ch(32, width))
    for filters in (64, 128):
        x = depthwise_separable(x, _ch(filters, width), strides=2)
        for _ in range(int(round(depth))):
            x = depthwise_separable(x, _ch(filters, width))
    return keras.Model(inputs, classifier_head(x, classes), name="mobilenet_v1")


def resnet8(input_shape, classes, width=1.0, depth=1.0):
    import keras
    inputs = keras.Input(input_shape)
    x = conv_bn_relu(inputs, _ch(16, width), 3)
    for filters, strides in ((16, 1), (32, 2), (64, 2)):
        for i in range(max(1, int(round(depth)))):
            x = residual(x, _ch(filters, width), strides if i == 0 else 1)
    return keras.Model(inputs, classifier_head(x, classes), name="resnet8")


def fc_autoencoder(input_shape, classes=None, width=1.0, depth=1.0):
    import keras
    from keras import layers
    inputs = keras.Input(input_shape)
    x = inputs
    n = max(1, int(round(4 * depth)))
    for units in [_ch(128, width)] * n + [8] + [_ch(128, width)] * n:
        x = dense_bn_relu(x, units)
    return keras.Model(inputs, layers.Dense(input_shape[-1])(x), name="fc_autoencoder")


def cnn1d(input_shape, classes, width=1.0, depth=1.0):
    import keras
    from keras import layers
    inputs = keras.Input(input_shape)
    x = inputs
    for i in range(max(1, int(round(3 * depth)))):
        x = layers.Conv1D(_ch(16 * 2 ** min(i, 2), width), 5, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling1D(2)(x)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x), name="cnn1d")


@dataclass(frozen=True)
class Recipe:
    name: str
    architecture: str
    dataset: str
    task: str                               # "classification" or "anomaly"
    build: Callable[..., object]            # (input_shape, classes, width, depth) -> keras.Model
    epochs: int
    batch_size: int = 32
    learning_rate: float = 3e-3
    widths: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)   # what `tinyml fit` searches
    depths: tuple[float, ...] = (0.5, 1.0)
    aliases: tuple[str, ...] = ()


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("kws", "DS-CNN", "kws", "classification", ds_cnn, epochs=30, aliases=("ds_cnn", "ds-cnn")),
    Recipe("image", "MobileNetV1-style", "digits", "classification", mobilenet_v1, epochs=20,
           depths=(0.0, 1.0), aliases=("mobilenet", "mobilenet_v1")),
    Recipe("resnet8", "ResNet-8-style", "digits", "classification", resnet8, epochs=15, widths=(0.25, 0.5, 1.0),
           depths=(1.0,), aliases=("resnet", "ic")),
    Recipe("anomaly", "FC autoencoder", "vibration", "anomaly", fc_autoencoder, epochs=30, learning_rate=1e-3,
           aliases=("ad", "autoencoder", "fc_autoencoder")),
    Recipe("gesture", "1D CNN", "gesture", "classification", cnn1d, epochs=20, aliases=("cnn1d",)),
)}


def get_recipe(spec: str) -> tuple[Recipe, float]:
    """`name` or `name:width` (e.g. `kws:0.5`) -> (Recipe, width)."""
    name, _, width_s = spec.partition(":")
    for recipe in RECIPES.values():
        if name == recipe.name or name in recipe.aliases:
            break
    else:
        raise TinymlError(f"unknown recipe '{name}'; known: {', '.join(RECIPES)}")
    try:
        width = float(width_s) if width_s else 1.0
    except ValueError:
        raise TinymlError(f"recipe width in '{spec}' must be a number, e.g. {name}:0.5") from None
    if not 0 < width <= 4:
        raise TinymlError(f"recipe width must be in (0, 4], got {width}")
    return recipe, width


def build_model(recipe: Recipe, input_shape, classes: int, width: float = 1.0, depth: float = 1.0):
    if depth < 0 or width <= 0:
        raise TinymlError(f"width must be > 0 and depth >= 0 (got {width}, {depth})")
    return recipe.build(tuple(input_shape), classes, width, depth)


def batch_one(model):
    """The same model (shared weights) on a batch-1 input, for export: no dynamic-shape operators."""
    import keras
    inputs = keras.Input(tuple(model.input_shape[1:]), batch_size=1)
    return keras.Model(inputs, model(inputs, training=False), name=model.name)
