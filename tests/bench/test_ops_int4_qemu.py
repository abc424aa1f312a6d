"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with int4 weights (tm_conv2d_s4, tm_depthwise_conv2d_s4,
tm_fully_connected_s4) on emulated Cortex-M0, M4 and M55 cores, byte for byte against the TFLite interpreter: the
random generators of the host tests (tests/codegen/int4_models.py, with their named edge cases), CASES_PER_OP graphs
of each operator side by side in one model, one build and one QEMU session per core. Small shapes: the micro:bit
(the M0) has 16 KB of RAM and every graph's input and output stay live; QEMU's UART is slow."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from tests.codegen.int4_models import merged_case
from tests.tflite_models import Case, run_reference
from tinyml.device.bench import bench
from tinyml.device.boards import get_board

pytestmark = pytest.mark.qemu

BOARDS = {"M0": "microbit", "M4": "mps2-an386", "M55": "mps3-an547"}
CASES_PER_OP = 8
SAMPLES = 2
LIMITS = {"max_size": 6, "max_channels": 6, "max_features": 32, "max_units": 8}


@cache
def _case_and_reference() -> tuple[Case, list[np.ndarray], list[list[np.ndarray]]]:
    """The merged model (the same on every core), SAMPLES inputs per graph input (the drawn one, then random) and
    TFLite's outputs per sample."""
    rng = np.random.default_rng(404)
    case = merged_case(rng, CASES_PER_OP, **LIMITS)
    inputs = [np.stack([x] + [rng.integers(-128, 128, size=x.shape, dtype=np.int8) for _ in range(SAMPLES - 1)])
              for x in case.inputs]
    want = [run_reference(case.model, [x[i] for x in inputs]) for i in range(SAMPLES)]
    return case, inputs, want


@pytest.mark.parametrize("core", BOARDS)
def test_int4_operators_exact_in_qemu(core: str, tmp_path: Path) -> None:
    case, inputs, want = _case_and_reference()
    (tmp_path / "ops_int4.tflite").write_bytes(case.model)
    report = bench(tmp_path / "ops_int4.tflite", get_board(BOARDS[core]), inputs=[x[:, 0] for x in inputs],
                   build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"]  # the firmware's bytes were checked against both
    got = [[report.outputs[k][i].tobytes() for k in range(len(case.params["cases"]))] for i in range(SAMPLES)]
    expected = [[w.tobytes() for w in sample] for sample in want]
    wrong = [(i, params) for i in range(SAMPLES) for params, g, w in zip(case.params["cases"], got[i], expected[i],
                                                                         strict=True) if g != w]
    assert not wrong, f"{len(wrong)} mismatching outputs on {core}, first (sample, graph): {wrong[0]}"
    assert report.mismatched_samples == [] and report.outputs_match == report.outputs_total
    assert {p["edge"] for p in case.params["cases"]} - {""}, "the draw took no named edge case"
