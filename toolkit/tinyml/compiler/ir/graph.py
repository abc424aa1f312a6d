"""The intermediate representation: a few frozen dataclasses every later stage reads and none mutates."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

DTYPES: Mapping[int, str] = MappingProxyType({
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8",
    10: "float64", 15: "uint32", 16: "uint16",
})
DTYPE_CODES: Mapping[str, int] = MappingProxyType({name: code for code, name in DTYPES.items()})


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point); per-channel along `axis` when len(scale) > 1."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1


@dataclass(frozen=True, eq=False)
class Tensor:
    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    quant: Quantization | None
    data: np.ndarray | None = None  # constant tensors only
    is_variable: bool = False  # a state the model keeps from one invoke to the next (an LSTM's), not in the arena

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def scale(self) -> float:
        """The per-tensor scale (first entry for per-channel tensors)."""
        return self.quant.scale[0] if self.quant else 0.0

    @property
    def zero_point(self) -> int:
        return self.quant.zero_point[0] if self.quant else 0


@dataclass(frozen=True)
class Operator:
    index: int
    opcode: str
    version: int
    inputs: tuple[int, ...]  # -1 marks an absent optional input
    outputs: tuple[int, ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    intermediates: tuple[int, ...] = ()  # tensors that only carry quantization (an integer LSTM's hidden scale)

    def describe(self) -> str:
        return f"operator {self.index} ({self.opcode})"


@dataclass(frozen=True)
class Graph:
    name: str  # the file the graph was read from, for messages
    sha256: str
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def consumers(self, tensor_index: int) -> list[Operator]:
        return [op for op in self.operators if tensor_index in op.inputs]
