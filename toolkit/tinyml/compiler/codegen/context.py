"""The context an operator lowering reads tensors and options through, and C spelling helpers."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from tinyml.compiler.codegen.lowered import Act, Const, Derived
from tinyml.compiler.codegen.target import HOST, Target
from tinyml.compiler.ir.graph import Graph, Operator, Tensor
from tinyml.errors import TinymlError

C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "float32": "float",
           "int64": "int64_t"}


@dataclass
class LoweringContext:
    graph: Graph
    prefix: str
    target: Target = HOST
    # Operators (indices) on the memory peak whose kernel variant should use its smallest scratch (see compiler).
    low_scratch: set[int] = field(default_factory=set)

    def tensor(self, op: Operator, position: int, *, outputs: bool = False) -> Tensor:
        indices = op.outputs if outputs else op.inputs
        if position >= len(indices) or indices[position] < 0:
            raise self.fail(op, f"has no {'output' if outputs else 'input'} {position}; the file is malformed")
        return self.graph.tensors[indices[position]]

    def option(self, op: Operator, name: str, default: int | float | None = None, minimum: int | None = None):
        """An operator option, checked: a missing option without default, or one below `minimum`, is an error."""
        value = op.options.get(name, default)
        if value is None:
            raise self.fail(op, f"has no option '{name}'; the file is malformed")
        if minimum is not None and value < minimum:
            raise self.fail(op, f"option '{name}' is {value}, must be at least {minimum}")
        return value

    def fused_activation(self, op: Operator) -> int:
        value = self.option(op, "fusedActivationFunction", 0)
        if value not in (0, 1, 2, 3):
            raise self.fail(op, f"fused activation {value} is not supported (NONE, RELU, RELU_N1_TO_1, RELU6 are)")
        return value

    def padding_same(self, op: Operator) -> bool:
        value = self.option(op, "padding")
        if value not in (0, 1):
            raise self.fail(op, f"padding {value} is neither SAME nor VALID")
        return value == 0

    def activation(self, t: Tensor) -> Act:
        """A non-constant tensor's buffer; offsets are resolved after planning."""
        return Act(t.index, C_TYPES[t.dtype])

    def const(self, t: Tensor) -> Const:
        return Const(t.index)

    def derived_const(self, name: str, ctype: str, values) -> Derived:
        """A generated constant array (stored in model_weights.c), to be listed in the lowering's `derived`."""
        return Derived(f"{self.prefix}_{name}", ctype, np.asarray(values).reshape(-1))

    def data(self, t: Tensor) -> Act | Const:
        return self.const(t) if t.is_constant else self.activation(t)

    def fail(self, op: Operator, what: str) -> TinymlError:
        return TinymlError(f"{self.graph.name}: {op.describe()}, version {op.version}: {what}")


def const_symbol(prefix: str, t: Tensor) -> str:
    """The C symbol of a constant tensor's array."""
    return f"{prefix}_w{t.index}_{c_ident(t.name)[:40]}"


def c_ident(name: str) -> str:
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_") or "t"
    return ident if not ident[0].isdigit() else "t" + ident


def c_float(value) -> str:
    """An exact C99 hex-float literal for a float32 value."""
    return float(value).hex() + "f"


def dims4(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Shapes of rank <= 4 padded at the front to NHWC."""
    if len(shape) > 4:
        raise ValueError(shape)
    return tuple([1] * (4 - len(shape)) + list(shape))  # type: ignore[return-value]
