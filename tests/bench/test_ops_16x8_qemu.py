"""The 16x8 CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D, MAX_POOL_2D, QUANTIZE and DEQUANTIZE
kernels on emulated Cortex-M0, M4 and M55 cores, byte for byte against the TFLite interpreter: the random generators
of the host tests (tests/codegen/s16_models.py), CASES_PER_OP graphs of each operator side by side in one model,
one build and one QEMU session per core. Samples: the drawn inputs, then full-scale ones (-32768 and 32767) where the
input is int16. Small shapes: the micro:bit has 16 KB of RAM (every graph's input and output stay live) and QEMU's
UART is slow."""
from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from tests.codegen.s16_models import OPS, merged_cases
from tests.tflite_models import Case, run_reference
from tinyml.device.bench import bench
from tinyml.device.boards import get_board

pytestmark = pytest.mark.qemu

BOARDS = {"M0": "microbit", "M4": "mps2-an386", "M55": "mps3-an547"}
CASES_PER_OP = 3
MAX_SIZE, MAX_CHANNELS = 4, 4


@cache
def _case_and_reference() -> tuple[Case, list[np.ndarray], list[list[np.ndarray]]]:
    """The merged model (the same on every core), two samples per graph input and TFLite's outputs per sample."""
    rng = np.random.default_rng(1608)
    case = merged_cases(OPS, rng, CASES_PER_OP, MAX_SIZE, MAX_CHANNELS)
    full_scale = [x if x.dtype != np.int16 else np.where(rng.random(x.shape) < 0.5, -32768, 32767).astype(np.int16)
                  for x in case.inputs]
    inputs = [np.stack(pair) for pair in zip(case.inputs, full_scale, strict=True)]
    want = [run_reference(case.model, [x[i] for x in inputs]) for i in range(2)]
    return case, inputs, want


@pytest.mark.parametrize("core", BOARDS)
def test_16x8_operators_exact_in_qemu(core: str, tmp_path: Path) -> None:
    case, inputs, want = _case_and_reference()
    model = tmp_path / "ops_16x8.tflite"
    model.write_bytes(case.model)
    report = bench(model, get_board(BOARDS[core]), inputs=[x[:, 0] for x in inputs], build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"]
    failures = [f"graph {k} ({params}) sample {i}"
                for i in range(2) for k, params in enumerate(case.params["cases"])
                if not np.array_equal(want[i][k].reshape(-1).view(np.uint8),
                                      report.outputs[k][i].reshape(-1).view(np.uint8))]
    assert not failures, f"{len(failures)} mismatches on {core}, first: {failures[0]}"
    assert report.mismatched_samples == [] and report.outputs_match == report.outputs_total
