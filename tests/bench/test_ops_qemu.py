"""The second set of operators (issue 14: LEAKY_RELU, HARD_SWISH, SUB, ..., EXP) on emulated Cortex-M0, M4 and M55
cores, byte for byte against the TFLite interpreter: the same random generators (with their named edge cases) as
the host kernel tests (tests/codegen/test_kernels.py), cross-compiled for each core and run in QEMU.

One image per core: `merged_cases` puts CASES_PER_OP independent single-operator graphs of every operator side by
side in one model (each its own inputs and outputs), so each core is one build and one QEMU session. The model
must fit the micro:bit's 16 KB of RAM (every graph's inputs and outputs stay live in the arena), and QEMU feeds the
UART at about 12 KB/s, so the inputs are kept small."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tflite_models import merged_cases, run_reference
from tinyml.device.bench import bench
from tinyml.device.boards import get_board

pytestmark = pytest.mark.qemu

BOARDS = {"M0": "microbit", "M4": "mps2-an386", "M55": "mps3-an547"}
OPERATORS = ("LEAKY_RELU", "HARD_SWISH", "SUB", "MINIMUM", "MAXIMUM", "SQUARED_DIFFERENCE", "PRELU", "TRANSPOSE",
             "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "PACK", "UNPACK", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "SUM",
             "REDUCE_MAX", "ARG_MAX", "GATHER", "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "L2_NORMALIZATION",
             "EXP", "TRANSPOSE_CONV", "LOG_SOFTMAX")
CASES_PER_OP = 4
MAX_INPUT_BYTES = 48
SAMPLES = 2

_CACHE: dict[str, tuple] = {}


def _case_and_reference():
    """Once per session: the merged model (the same on every core), SAMPLES inputs per graph input (the drawn one,
    then random) and the TFLite outputs per sample."""
    if "case" not in _CACHE:
        rng = np.random.default_rng(14)
        case = merged_cases(OPERATORS, rng, CASES_PER_OP, MAX_INPUT_BYTES)
        inputs = [np.stack([x[0]] + [rng.integers(-128, 128, size=x.shape[1:], dtype=np.int8)
                                     for _ in range(SAMPLES - 1)]) for x in case.inputs]
        want = [run_reference(case.model, [x[i:i + 1] for x in inputs]) for i in range(SAMPLES)]
        _CACHE["case"] = case, inputs, want
    return _CACHE["case"]


@pytest.mark.parametrize("core", BOARDS)
def test_new_operators_exact_in_qemu(core: str, tmp_path: Path) -> None:
    case, inputs, want = _case_and_reference()
    model = tmp_path / "ops.tflite"
    model.write_bytes(case.model)
    report = bench(model, get_board(BOARDS[core]), inputs=inputs, build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"]
    failures = []
    for i in range(SAMPLES):
        for k, (w, params) in enumerate(zip(want[i], case.params["cases"], strict=True)):
            got = report.outputs[k][i]
            if not np.array_equal(w[0].reshape(-1).view(np.uint8), got.reshape(-1).view(np.uint8)):  # 0-d too
                failures.append(f"graph {k} ({params}) sample {i}: {int((w[0] != got).sum())} of {got.size} differ")
    assert not failures, f"{len(failures)} mismatches on {core}, first: {failures[0]}"
    assert report.mismatched_samples == [] and report.outputs_match == report.outputs_total
