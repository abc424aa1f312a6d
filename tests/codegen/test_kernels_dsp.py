"""The DSP/SIMD kernel variants against the TFLite reference, on the host: tinyml/dsp.h emulates the ACLE intrinsics
bit for bit there, so the generator's variant selection, weight re-arrangement, bias folding and fast
requantization are checked over the same random cases as the portable kernels (test_kernels.py). The real
instructions are checked in QEMU, on each DSP core, by tests/bench/test_dsp_qemu.py."""
from __future__ import annotations

import numpy as np
import pytest

from tests.codegen.test_kernels import _samples
from tests.host_batch import BatchCase, run_batch
from tests.tflite_models import random_case, run_reference
from tinyml.codegen.target import Target

CASES_PER_OP = 150
VARIANT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
TARGETS = {"dsp": Target("host", dsp=True, wide_fc=False), "dsp-wide": Target("host", dsp=True, wide_fc=True)}


def check_variant(op: str, target: Target, cases_per_op: int = CASES_PER_OP) -> None:
    rng = np.random.default_rng(sum(map(ord, op)) + 1)
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


@pytest.mark.parametrize("op, variant", [(op, variant) for variant in sorted(TARGETS) for op in VARIANT_OPS
                                         if variant != "dsp-wide" or op == "FULLY_CONNECTED"])
def test_dsp_variant_matches_tflite(op: str, variant: str) -> None:
    check_variant(op, TARGETS[variant])
