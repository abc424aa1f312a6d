"""ARG_MAX with int64 indices against the TFLite interpreter on the host: random shapes and axes with the named
edge cases of tests/codegen/arg_max_models.py, several inputs per case, the int64 outputs compared byte for byte."""
from __future__ import annotations

import numpy as np

from tests.codegen.arg_max_models import add_arg_max_int64
from tests.host_batch import BatchCase, run_batch
from tests.tflite_models import GraphBuilder, run_reference

CASES, SAMPLES = 60, 4


def test_arg_max_int64_matches_tflite() -> None:
    rng = np.random.default_rng(64)
    builders = []
    for _ in range(CASES):
        b = GraphBuilder()
        add_arg_max_int64(rng, b)
        builders.append(b)
    batch = [BatchCase(b.to_bytes(), [rng.integers(-128, 128, size=(SAMPLES, *b.tensors[b.inputs[0]].shape),
                                                   dtype=np.int8)]) for b in builders]
    ours = run_batch(batch)
    failures, edges = [], set()
    for b, case, got in zip(builders, batch, ours, strict=True):
        edges.add(b.label)
        for i in range(SAMPLES):
            (want,) = run_reference(case.model, [case.inputs[0][i]])
            assert want.dtype == np.int64
            if got[0][i].dtype != np.int64 or not np.array_equal(want.view(np.uint8), got[0][i].view(np.uint8)):
                failures.append(f"{b.label or 'random'} {b.tensors[b.inputs[0]].shape} sample {i}: "
                                f"want {want.reshape(-1)[:8]}, got {got[0][i].reshape(-1)[:8]}")
    assert not failures, f"{len(failures)} mismatches, first: {failures[0]}"
    assert edges >= {"ties", "long_axis", "batch_axis", ""}  # the named cases were drawn

