"""The DSP/SIMD kernel variants against the TFLite reference, on the host: tinyml/dsp.h emulates the ACLE intrinsics
bit for bit there, so the generator's variant selection, weight re-arrangement, bias folding and fast
requantization are checked over the same random cases as the portable kernels (test_kernels.py). The real
instructions are checked in QEMU, on each DSP core, by tests/bench/test_dsp_qemu.py."""
from __future__ import annotations

import pytest

from tests.codegen.test_kernels import check_operator
from tinyml.compiler.codegen.target import Target

CASES_PER_OP = 150
VARIANT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D")
TARGETS = {"dsp": Target("host", dsp=True, wide_fc=False), "dsp-wide": Target("host", dsp=True, wide_fc=True)}


def check_variant(op: str, target: Target, cases_per_op: int = CASES_PER_OP) -> None:
    check_operator(op, cases_per_op, target, seed_offset=1)


@pytest.mark.parametrize("op, variant", [(op, variant) for variant in sorted(TARGETS) for op in VARIANT_OPS])
def test_dsp_variant_matches_tflite(op: str, variant: str) -> None:
    check_variant(op, TARGETS[variant])
