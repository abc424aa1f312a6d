"""Every operator against the TFLite reference: random shapes, strides, padding, dilation, depth multipliers,
per-channel scales over orders of magnitude, zero points and activation ranges; several inputs per case."""
from __future__ import annotations

import numpy as np
import pytest

from tests.host_batch import BatchCase, run_batch
from tests.tflite_models import OPS, random_case, run_reference
from tinyml.compiler.codegen.ops import LOWERINGS
from tinyml.compiler.codegen.target import Target

CASES_PER_OP = 150
SAMPLES_PER_CASE = 4


def _samples(case_inputs: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The case's own input plus fresh random ones of the same kind, stacked along a new sample axis."""
    stacked = []
    for x in case_inputs:
        samples = [x]
        for _ in range(SAMPLES_PER_CASE - 1):
            if x.dtype == np.int8:
                samples.append(rng.integers(-128, 128, size=x.shape, dtype=np.int8))
            else:
                samples.append((x * rng.uniform(0.5, 1.5, size=x.shape)).astype(x.dtype))
        stacked.append(np.stack(samples))
    return stacked


def check_operator(op: str, cases_per_op: int = CASES_PER_OP, target: Target | None = None,
                   seed_offset: int = 0) -> None:
    """`cases_per_op` random cases of `op`, several inputs each, compiled for `target`, against TFLite's bytes."""
    rng = np.random.default_rng(sum(map(ord, op)) + seed_offset)
    cases = [random_case(op, rng) for _ in range(cases_per_op)]
    batch = [BatchCase(c.model, _samples(c.inputs, rng)) for c in cases]
    ours = run_batch(batch, target=target)
    failures = []
    for case, item, got in zip(cases, batch, ours):
        for i in range(item.inputs[0].shape[0]):
            want = run_reference(case.model, [x[i] for x in item.inputs])
            for w, g in zip(want, got):
                if not np.array_equal(w.view(np.uint8), g[i].view(np.uint8)):
                    diff = np.abs(w.astype(np.float64) - g[i].astype(np.float64))
                    failures.append(f"{case.params} sample {i}: {int((diff > 0).sum())} of {diff.size} differ, "
                                    f"max {diff.max()}")
    assert not failures, f"{len(failures)} mismatches, first: {failures[0]}"


@pytest.mark.parametrize("op", [op for op in OPS if op in LOWERINGS])
def test_operator_matches_tflite(op: str) -> None:
    check_operator(op)
