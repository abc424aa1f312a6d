"""Int8 UNIDIRECTIONAL_SEQUENCE_LSTM on emulated Cortex-M0, M4 and M55 cores, byte for byte against the TFLite
interpreter: one random LSTM (tests/codegen/lstm_models.py) with a cell clip that bites and a zero point on every
quantized tensor, SAMPLES invokes in a row on one device, so the state the model keeps between invokes (static
arrays outside the arena) is checked on the target too. Sized to fit the micro:bit's 16 KB of RAM."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.codegen.lstm_models import build, random_spec, run_sequence, sequence_inputs
from tinyml.device.bench import bench
from tinyml.device.boards import get_board

pytestmark = pytest.mark.qemu

BOARDS = {"M0": "microbit", "M4": "mps2-an386", "M55": "mps3-an547"}
SAMPLES = 3


@pytest.mark.parametrize("core", BOARDS)
def test_lstm_exact_in_qemu(core: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(55)
    spec = dataclasses.replace(random_spec(rng, "small_cell_clip"), batch=2, time=5, n_input=6, units=10)
    model = tmp_path / "lstm.tflite"
    model.write_bytes(build(spec, rng))
    x = sequence_inputs(spec, rng, SAMPLES)
    report = bench(model, get_board(BOARDS[core]), inputs=[x], build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"]
    want = run_sequence(model.read_bytes(), x)
    assert np.array_equal(report.outputs[0].reshape(want.shape), want), f"{core}: differs from TFLite"
    assert report.mismatched_samples == [] and report.outputs_match == report.outputs_total == SAMPLES
