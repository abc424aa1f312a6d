"""Random single-operator 16x8 models (int16 activations, zero point 0) of ADD, MUL, SOFTMAX, LOGISTIC and TANH, with
named edge cases, written with `tests.tflite_models.GraphBuilder` as the TFLite converter writes them in its 16x8 mode
(EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8): the same operator versions, ADD's
`pot_scale_int16 = false`, SOFTMAX/LOGISTIC/TANH outputs of scale 1/32768 (tests/codegen/test_kernels_s16.py holds a
real converter's model to these).

- `random_case_s16(op, rng, edge)`: one operator, its random inputs; `params["edge"]` names the edge case drawn, if
  any (`edge` asks for one of `EDGES_S16[op]`).
- `merged_cases_s16(ops, rng, count, max_input_bytes, edges)`: `count` graphs of each operator side by side in one
  model (each its own inputs and outputs), and one per named edge case asked for, for one firmware image per core in
  QEMU.
- `samples_s16(inputs, rng, n)`: the case's inputs, then the int16 extremes (-32768 and 32767 alternating), then
  random ones: n samples stacked along a new first axis.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tests.tflite_models import ACTIVATIONS, Case, GraphBuilder, QParams, schema

INT16 = schema.TensorType.INT16
OUTPUT_QP = QParams.per_tensor(1.0 / 32768.0)  # SOFTMAX, LOGISTIC and TANH outputs (TFLite requires it)
OPS_S16 = ("ADD", "MUL", "SOFTMAX", "LOGISTIC", "TANH")
# The named edge cases each generator draws (about half of its draws take one).
EDGES_S16 = {
    "ADD": ("broadcast", "scalar_operand", "constant_operand", "extreme_scale_ratio", "saturating_output",
            "fused_activation", "power_of_two_path"),
    "MUL": ("broadcast", "scalar_operand", "constant_operand", "extreme_scale_ratio", "saturating_output",
            "multiplier_above_one", "fused_activation"),
    "SOFTMAX": ("depth_one", "long_rows", "tiny_input_scale", "huge_input_scale"),
    "LOGISTIC": ("saturating_input", "tiny_input_scale", "power_of_two_scale"),
    "TANH": ("saturating_input", "tiny_input_scale", "power_of_two_scale"),
}


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _shape(rng: np.random.Generator, max_rank: int = 4, max_dim: int = 8) -> tuple[int, ...]:
    rank = int(rng.integers(1, max_rank + 1))
    return (1, *(int(d) for d in rng.integers(1, max_dim + 1, size=rank - 1)))


def _partner(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with `shape` to `shape`: some dimensions 1, sometimes fewer dimensions."""
    partner = tuple(1 if rng.random() < 0.5 else d for d in shape)
    return partner[int(rng.integers(0, len(partner))):] or (1,)


def _edge(rng: np.random.Generator, b: GraphBuilder, names: Sequence[str], share: float = 0.5) -> str:
    edge = names[int(rng.integers(len(names)))] if rng.random() < share else ""
    b.label = edge
    return edge


def _const_s16(b: GraphBuilder, rng: np.random.Generator, shape: tuple[int, ...], qp: QParams) -> int:
    """A constant int16 operand (the converter writes MUL and ADD by a constant so); GraphBuilder.const takes no
    int16, so through its tensor helper."""
    return b._add_tensor(shape, INT16, qp, rng.integers(-32768, 32768, size=shape, dtype=np.int16))


def _binary(rng: np.random.Generator, b: GraphBuilder, edges: Sequence[str]) -> tuple[str, int, int]:
    edge = _edge(rng, b, edges)
    shape = _shape(rng)
    other = _partner(rng, shape) if edge in ("broadcast", "scalar_operand", "constant_operand") else shape
    if edge == "scalar_operand":
        other = (1,)
    scales = [_log_uniform(rng, 1e-5, 1e-2) for _ in range(2)]
    if edge == "extreme_scale_ratio":
        scales[1] = scales[0] * _log_uniform(rng, 1e-5, 1e-4)
    first, second = (shape, other) if rng.random() < 0.5 else (other, shape)
    x = b.input(first, QParams.per_tensor(scales[0]), INT16)
    if edge == "constant_operand":
        y = _const_s16(b, rng, second, QParams.per_tensor(scales[1]))
    else:
        y = b.input(second, QParams.per_tensor(scales[1]), INT16)
    return edge, x, y


def _activation(rng: np.random.Generator, edge: str) -> str:
    if edge == "fused_activation":
        return ("RELU", "RELU6", "RELU_N1_TO_1")[int(rng.integers(3))]
    return "NONE"


def _case_add(rng: np.random.Generator, b: GraphBuilder) -> None:
    """Edge cases: broadcasting, a one-element or constant operand, input scales 1e4-1e5 apart, an output scale
    at TFLite's lower bound (saturating sums), a fused activation, TFLite's power-of-two path (pot_scale_int16 with
    power-of-two scales: one input at the output's scale, the other 2^0 to 2^-20 below, sums that saturate)."""
    edge, x, y = _binary(rng, b, EDGES_S16["ADD"])
    sx, sy = b.tensors[x].qp.scale[0], b.tensors[y].qp.scale[0]
    floor = 2.0 * max(sx, sy) / 32768.0  # TFLite aborts below (output multiplier >= 1)
    scale = floor * (_log_uniform(rng, 1.01, 1.5) if edge == "saturating_output" else _log_uniform(rng, 1.5, 20.0))
    options = schema.AddOptionsT()
    options.fusedActivationFunction = ACTIVATIONS[_activation(rng, edge)]
    options.potScaleInt16 = edge == "power_of_two_path"
    if options.potScaleInt16:
        scale = 2.0 ** int(rng.integers(-16, -4))
        low = scale * 2.0 ** -int(rng.integers(0, 21))
        b.set_qp(x, QParams.per_tensor(scale if rng.random() < 0.5 else low))
        b.set_qp(y, QParams.per_tensor(low if b.tensors[x].qp.scale[0] == scale else scale))
        options.fusedActivationFunction = ACTIVATIONS[("NONE", "RELU")[int(rng.integers(2))]]
    shape = tuple(int(d) for d in np.broadcast_shapes(b.tensors[x].shape, b.tensors[y].shape))
    b.output(b.op("ADD", [x, y], shape, QParams.per_tensor(scale), options, out_dtype=INT16))


def _case_mul(rng: np.random.Generator, b: GraphBuilder) -> None:
    """Edge cases: broadcasting, a one-element or constant operand, extreme input scales, a saturating output
    scale, a multiplier above one (a left shift), a fused activation."""
    edge, x, y = _binary(rng, b, EDGES_S16["MUL"])
    product = b.tensors[x].qp.scale[0] * b.tensors[y].qp.scale[0]
    typical = product * 32768.0 * 32768.0 / 3.0 / 32768.0  # |x y| of two uniform int16s, over the int16 range
    scale = typical * {"saturating_output": _log_uniform(rng, 0.01, 0.1),
                       "multiplier_above_one": 0.0}.get(edge, _log_uniform(rng, 0.3, 3.0))
    if edge == "multiplier_above_one":
        scale = product / _log_uniform(rng, 1.5, 100.0)
    options = schema.MulOptionsT()
    options.fusedActivationFunction = ACTIVATIONS[_activation(rng, edge)]
    shape = tuple(int(d) for d in np.broadcast_shapes(b.tensors[x].shape, b.tensors[y].shape))
    b.output(b.op("MUL", [x, y], shape, QParams.per_tensor(scale), options, out_dtype=INT16))


def _case_softmax(rng: np.random.Generator, b: GraphBuilder) -> None:
    """Rows of any depth and a random beta; edge cases: a depth of one, long rows (large sums), an input scale so
    small that every difference stays near exp(0), one so large that all but the maximum vanish."""
    edge = _edge(rng, b, EDGES_S16["SOFTMAX"])
    shape = _shape(rng)
    if edge == "depth_one":
        shape = (*shape[:-1], 1) if len(shape) > 1 else (1, 1)
    elif edge == "long_rows":
        shape = (1, int(rng.integers(200, 1200)))
    scale = {"tiny_input_scale": _log_uniform(rng, 1e-8, 1e-6),
             "huge_input_scale": _log_uniform(rng, 1e-2, 5e-2)}.get(edge, _log_uniform(rng, 1e-5, 1e-3))
    x = b.input(shape, QParams.per_tensor(scale), INT16)
    options = schema.SoftmaxOptionsT()
    options.beta = float(np.float32(_log_uniform(rng, 0.25, 4.0) if rng.random() < 0.3 else 1.0))
    b.output(b.op("SOFTMAX", [x], shape, OUTPUT_QP, options, out_dtype=INT16))


def _sigmoid_like(rng: np.random.Generator, b: GraphBuilder, op: str) -> None:
    """Edge cases: an input scale that saturates most values, a tiny one (long left shifts), a power of two that
    still takes the general path (2^-10, 2^-14)."""
    edge = _edge(rng, b, EDGES_S16[op])
    scale = {"saturating_input": _log_uniform(rng, 1e-2, 1.0), "tiny_input_scale": _log_uniform(rng, 1e-7, 1e-5),
             "power_of_two_scale": 2.0 ** float(rng.choice([-10, -14]))}.get(edge, _log_uniform(rng, 2e-5, 1e-3))
    shape = _shape(rng)
    b.output(b.op(op, [b.input(shape, QParams.per_tensor(scale), INT16)], shape, OUTPUT_QP, out_dtype=INT16))


CASES_S16: dict[str, Callable[[np.random.Generator, GraphBuilder], None]] = {
    "ADD": _case_add, "MUL": _case_mul, "SOFTMAX": _case_softmax,
    "LOGISTIC": lambda rng, b: _sigmoid_like(rng, b, "LOGISTIC"),
    "TANH": lambda rng, b: _sigmoid_like(rng, b, "TANH"),
}


def _describe(b: GraphBuilder) -> dict[str, Any]:
    return {**({"edge": b.label} if b.label else {}),
            "tensors": [(t.shape, t.qp.scale[0] if t.qp else None) for t in b.tensors]}


def _random_inputs(b: GraphBuilder, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.integers(-32768, 32768, size=b.tensors[i].shape, dtype=np.int16) for i in b.inputs]


def random_case_s16(op: str, rng: np.random.Generator, edge: str | None = None) -> Case:
    """A random `op` case; with `edge`, drawn again until it is that named edge case ("" for none)."""
    while True:
        b = GraphBuilder()
        CASES_S16[op](rng, b)
        if edge in (None, b.label):
            return Case(op, _describe(b), b.to_bytes(), _random_inputs(b, rng))


def merged_cases_s16(ops: Sequence[str], rng: np.random.Generator, count: int, max_input_bytes: int,
                     edges: Sequence[tuple[str, str]] = ()) -> Case:
    """`count` random graphs of each of `ops` in one model (see tests.tflite_models.merged_cases), then one graph per
    (operator, named edge case) of `edges`, keeping draws whose inputs total at most `max_input_bytes`;
    `params["cases"]` describes the graph behind each output."""
    merged, described = GraphBuilder(), []
    wanted = [(ops[k % len(ops)], None) for k in range(count * len(ops))] + list(edges)
    for op, edge in wanted:
        while True:
            seed = int(rng.integers(2**63))
            trial = GraphBuilder()
            CASES_S16[op](np.random.default_rng(seed), trial)
            if sum(2 * math.prod(trial.tensors[i].shape) for i in trial.inputs) <= max_input_bytes \
                    and all(trial.tensors[i].shape[:1] == (1,) for i in trial.inputs) \
                    and edge in (None, trial.label):  # a sample is the tensor without its batch of one
                break
        CASES_S16[op](np.random.default_rng(seed), merged)
        described.append({"op": op, "seed": seed, **_describe(trial)})
    return Case("+".join(ops), {"cases": described}, merged.to_bytes(), _random_inputs(merged, rng))


def samples_s16(inputs: list[np.ndarray], rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """n samples per input (n >= 2): the case's own, the int16 extremes alternating, then random ones."""
    stacked = []
    for x in inputs:
        extremes = np.where(np.arange(x.size) % 2 == 0, -32768, 32767).astype(np.int16).reshape(x.shape)
        rest = [rng.integers(-32768, 32768, size=x.shape, dtype=np.int16) for _ in range(n - 2)]
        stacked.append(np.stack([x, extremes, *rest]))
    return stacked
