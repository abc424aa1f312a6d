"""A lowered operator as data: the calls it makes (kernel name and structured arguments), the static parameters
it declares, the arrays it derives from constants, its scratch, the byte sharing it allows, and the kernel variant
chosen for it. Passes (in place, low scratch) edit these values; `tinyml.compiler.codegen.emit` prints them to C
once, at the end (the way TVM's AOT code generator builds its extern calls as structured calls)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Act:
    """A non-constant tensor's bytes in the arena, as a `ctype` pointer (its offset is known after planning)."""

    tensor: int
    ctype: str = "int8_t"


@dataclass(frozen=True)
class Const:
    """A constant tensor's array in model_weights.c."""

    tensor: int


@dataclass(frozen=True)
class Sym:
    """A named C object: an array derived for a kernel variant, a kernel passed as a function pointer, NULL."""

    name: str


@dataclass(frozen=True)
class Ref:
    """The address of a static const parameter of the operator's own declarations (`Decl`)."""

    name: str


@dataclass(frozen=True)
class Scratch:
    """The operator's scratch buffer in the arena, `offset` bytes in, as a `ctype` pointer (None: untyped)."""

    ctype: str | None = None
    offset: int = 0


@dataclass(frozen=True)
class Lit:
    """A literal: an integer, or a number already spelled in C (an exact hex float)."""

    value: int | str


@dataclass(frozen=True)
class Cast:
    ctype: str  # the pointer type, e.g. "const int8_t *"
    arg: Arg


@dataclass(frozen=True)
class Offset:
    """`arg` + `start` elements, + `step` per iteration of the enclosing `Loop`."""

    arg: Arg
    start: int
    step: int = 0


Arg = Act | Const | Sym | Ref | Scratch | Lit | Cast | Offset
NULL = Sym("NULL")


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Loop:
    """`count` iterations of `body` (its `Offset` arguments advance by their step)."""

    count: int
    body: tuple[Call, ...]


Init = int | str | tuple  # a C initializer: an int, C text (a symbol, a hex float), or braces of those


@dataclass(frozen=True)
class Decl:
    """`static const ctype name[length] = value;` next to the operator's call."""

    ctype: str
    name: str
    value: Init
    length: int | None = None


@dataclass(frozen=True)
class Derived:
    """An array the generator derives from constants for a kernel variant (re-arranged weights, folded biases); it
    goes to model_weights.c and counts in weights_bytes like the constant tensors."""

    name: str
    ctype: str
    values: np.ndarray


@dataclass(frozen=True)
class Variant:
    """The kernel chosen for an operator (see `tinyml.compiler.codegen.variants`) and what the passes may do
    with it."""

    kernel: str                       # the C function called
    source: str                       # its runtime source, relative to firmware/runtime/src
    mode: str = ""                    # e.g. "im2col" / "direct" (convolution), "scratch" / "direct" (FC)
    smaller_scratch: bool = False     # another mode of this kernel needs less scratch (LoweringContext.low_scratch)
    row_kernel: str | None = None     # the kernel that computes any range of output rows, for in-place execution
    inplace_driver: str | None = None  # the runtime function that runs `row_kernel` in place


@dataclass(frozen=True)
class Lowered:
    """One operator: its calls in tm_model_invoke(), its declarations, and what the planner must know."""

    kernels: tuple[str, ...] = ()     # runtime sources, relative to firmware/runtime/src
    decls: tuple[Decl, ...] = ()
    calls: tuple[Call | Loop, ...] = ()
    scratch_bytes: int = 0
    inplace_input: int | None = None  # an input tensor whose buffer the output may take over
    alias_input: int | None = None    # the output IS this input's bytes (no code runs)
    overlap_input: int | None = None  # the kernel writes its output over this input, which dies with the operator,
    overlap_delta: int = 0            # ... placed exactly overlap_delta bytes after the output's start (may be < 0)
    variant_bits: frozenset[str] = frozenset()  # DSP kernel variants it needs (TM_V_* of tinyml/kernels_dsp.h)
    variant: Variant | None = None    # the kernel variant chosen, for operators that have several
    derived: tuple[Derived, ...] = ()
    out_of_place: Lowered | None = None  # an in-place lowering: the same operator run out of place
