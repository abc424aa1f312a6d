"""The 16x8 ADD, MUL, SOFTMAX, LOGISTIC and TANH kernels on emulated Cortex-M0, M4 and M55 cores, byte for byte
against the TFLite interpreter: the random generators of the host tests (tests/codegen/s16_cases.py, with their named
edge cases), CASES_PER_OP graphs of each operator and one per named edge case of EDGES side by side in one model,
cross-compiled for each core and run in QEMU, one build and one session per core (as tests/bench/test_ops_qemu.py).
Samples: the drawn inputs, then the int16 extremes (-32768 and 32767 alternating). Inputs stay small: the micro:bit
has 16 KB of RAM and QEMU's UART is slow."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.codegen.s16_cases import OPS_S16, merged_cases_s16, samples_s16
from tests.tflite_models import run_reference
from tinyml.device.bench import bench
from tinyml.device.boards import get_board

pytestmark = pytest.mark.qemu

BOARDS = {"M0": "microbit", "M4": "mps2-an386", "M55": "mps3-an547"}
CASES_PER_OP = 4
MAX_INPUT_BYTES = 96
SAMPLES = 2
EDGES = (("ADD", "power_of_two_path"), ("ADD", "extreme_scale_ratio"), ("ADD", "fused_activation"),
         ("MUL", "multiplier_above_one"), ("MUL", "saturating_output"), ("SOFTMAX", "huge_input_scale"),
         ("SOFTMAX", "depth_one"))

_CACHE: dict[str, tuple] = {}


def _case_and_reference():
    """Once per session: the merged model, SAMPLES inputs per graph input and the TFLite outputs per sample."""
    if "case" not in _CACHE:
        rng = np.random.default_rng(1608)
        case = merged_cases_s16(OPS_S16, rng, CASES_PER_OP, MAX_INPUT_BYTES, EDGES)
        inputs = samples_s16(case.inputs, rng, SAMPLES)
        want = [run_reference(case.model, [x[i] for x in inputs]) for i in range(SAMPLES)]
        _CACHE["case"] = case, inputs, want
    return _CACHE["case"]


@pytest.mark.parametrize("core", BOARDS)
def test_s16_operators_exact_in_qemu(core: str, tmp_path: Path) -> None:
    case, inputs, want = _case_and_reference()
    model = tmp_path / "ops_s16.tflite"
    model.write_bytes(case.model)
    samples = [x[:, 0] for x in inputs]  # a sample is the tensor without its batch of one
    report = bench(model, get_board(BOARDS[core]), inputs=samples, build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"]
    failures = []
    for i in range(SAMPLES):
        for k, (w, params) in enumerate(zip(want[i], case.params["cases"], strict=True)):
            got = report.outputs[k][i]
            if not np.array_equal(w.reshape(-1), got.reshape(-1)):
                failures.append(f"graph {k} ({params}) sample {i}: {int((w.reshape(-1) != got.reshape(-1)).sum())} "
                                f"of {got.size} differ")
    assert not failures, f"{len(failures)} mismatches on {core}, first: {failures[0]}"
    assert report.mismatched_samples == [] and report.outputs_match == report.outputs_total
