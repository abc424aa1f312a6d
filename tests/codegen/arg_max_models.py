"""ARG_MAX graphs with int64 indices (the TFLite converter's default `output_type`), for the host kernel test
(tests/codegen/test_arg_max_int64.py) and the emulated cores (tests/bench/test_arg_max_int64_qemu.py).

`add_arg_max_int64(rng, b, edge)` adds one random graph to a `GraphBuilder`: an int8 input (batch of one, rank 2
to 4), ARG_MAX on a random axis, the int64 indices as a model output. Named edge cases (`b.label`): ties (most
values clamped to one level by a MAXIMUM with a constant first, so the first of equal maxima must win), a negative
axis, the last axis, an axis of one element, a long axis (indices above 255), the batch axis (whose output keeps no
batch of one; the emulated runs leave it out)."""
from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from tests.tflite_models import GraphBuilder, maximum, random_qp

INT64 = schema.TensorType.INT64
EDGES = ("ties", "negative_axis", "last_axis", "axis_of_one", "long_axis", "batch_axis")


def arg_max_int64(b: GraphBuilder, x: int, axis: int) -> int:
    """ARG_MAX of `x` on `axis` (a constant int32 axis tensor) with int64 indices."""
    shape = list(b.tensors[x].shape)
    del shape[axis % len(shape)]
    options = schema.ArgMaxOptionsT()
    options.outputType = INT64
    return b.op("ARG_MAX", [x, b.const(np.array([axis], dtype=np.int32))], shape, None, options, out_dtype=INT64)


def add_arg_max_int64(rng: np.random.Generator, b: GraphBuilder, edge: str | None = None) -> None:
    """One ARG_MAX graph on a new input of `b`, its output a model output: the named `edge` case ("" for none), or
    a random draw of one (None)."""
    if edge is None:
        edge = EDGES[int(rng.integers(len(EDGES)))] if rng.random() < 0.6 else ""
    b.label = edge
    shape = [1] + [int(rng.integers(1, 7)) for _ in range(int(rng.integers(1, 4)))]
    axis = int(rng.integers(1, len(shape)))
    if edge == "long_axis":
        shape, axis = [1, int(rng.integers(257, 300))], 1
    elif edge == "last_axis" or edge == "negative_axis":
        axis = len(shape) - 1
    elif edge == "batch_axis":
        axis = 0
    if edge == "axis_of_one":
        shape[axis] = 1
    x = b.input(shape, random_qp(rng))
    if edge == "ties":
        x = maximum(b, x, b.const(np.array([int(rng.integers(60, 127))], dtype=np.int8), b.tensors[x].qp))
    b.output(arg_max_int64(b, x, axis - len(shape) if edge == "negative_axis" else axis))
