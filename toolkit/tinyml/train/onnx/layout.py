"""How an ONNX activation lives in the Keras model: NCHW -> NHWC, NCL -> N1LC (a 1-D signal is a feature map one
row high, as the gesture recipe builds its 1-D CNN, so Conv1d and the 1-D pools become CONV_2D and the 2-D pools),
(N, F) as is. `Act.order` tracks element order where it is not that canonical layout: after `Flatten` of a feature
map (NHWC order) or a Transpose folded into the reshape after it, so no TRANSPOSE operator is needed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ONNX axis -> Keras axis, per ONNX rank (batch first in both)
KERAS_AXIS = {2: (0, 1), 3: (0, 3, 2), 4: (0, 3, 1, 2)}


@dataclass
class Act:
    """An activation: the Keras tensor, its ONNX shape (batch 1), and, when not canonical, `order` with
    keras_flat[i] == onnx_flat[order[i]]."""
    t: object
    shape: tuple[int, ...]
    order: np.ndarray | None = None
    nonneg: bool = False  # after a ReLU: zero padding acts like max pooling's -inf padding

    @property
    def rank(self) -> int:
        return len(self.shape)

    def element_order(self) -> np.ndarray:
        return self.order if self.order is not None else canonical_order(self.shape)

    def is_canonical(self) -> bool:
        return self.order is None or np.array_equal(self.order, canonical_order(self.shape))


def keras_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The Keras tensor shape (without batch) for an ONNX shape (with batch)."""
    if len(shape) == 4:
        return shape[2], shape[3], shape[1]
    if len(shape) == 3:
        return 1, shape[2], shape[1]
    return tuple(shape[1:])


def to_keras(x: np.ndarray) -> np.ndarray:
    """ONNX-layout data (batch first) -> the Keras layout."""
    if x.ndim == 4:
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    if x.ndim == 3:
        return np.ascontiguousarray(x.transpose(0, 2, 1)[:, None])
    return x


def from_keras(x: np.ndarray, rank: int) -> np.ndarray:
    if rank == 4:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if rank == 3:
        return np.ascontiguousarray(x[:, 0].transpose(0, 2, 1))
    return x


def canonical_order(shape: tuple[int, ...]) -> np.ndarray:
    """ONNX flat indices in the order the canonical Keras layout stores them."""
    return to_keras(np.arange(int(np.prod(shape))).reshape(shape)).reshape(-1)


def constant_like(c: np.ndarray, act: Act) -> np.ndarray:
    """A constant that broadcasts against `act` in ONNX terms, in the Keras tensor's layout, reduced to size 1
    along every axis where it does not vary (a per-channel constant stays (1, 1, 1, C), a scalar ())."""
    full = np.broadcast_to(np.asarray(c, np.float32), act.shape).reshape(-1)[act.element_order()]
    full = full.reshape(act.t.shape[0] or 1, *(int(d) for d in act.t.shape[1:]))
    if np.all(full == full.reshape(-1)[0]):
        return np.asarray(full.reshape(-1)[0], np.float32)
    for axis in range(full.ndim):
        first = np.take(full, [0], axis=axis)
        if np.all(full == first):
            full = first
    return np.ascontiguousarray(full, np.float32)
