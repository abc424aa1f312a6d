"""ARG_MAX with int64 indices on emulated Cortex-M0, M4 and M55 cores, byte for byte against the TFLite interpreter
(and the host build): one random graph per edge case of tests/codegen/arg_max_models.py side by side in one model,
one firmware image and one QEMU session per core. The arena aligns tensors to 4 bytes, not 8: the kernel stores
each int64 index as two 32-bit words, which every core takes at any 4-byte offset."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.codegen.arg_max_models import EDGES, add_arg_max_int64
from tests.tflite_models import GraphBuilder, run_reference
from tinyml.device.bench import bench
from tinyml.device.boards import get_board

pytestmark = pytest.mark.qemu

BOARDS = {"M0": "microbit", "M4": "mps2-an386", "M55": "mps3-an547"}
SAMPLES = 2
# Every named edge case but the batch axis (its output has no batch of one to drop), and two plain draws.
GRAPH_EDGES = (*(e for e in EDGES if e != "batch_axis"), "", "")


def _model_inputs_and_reference() -> tuple[bytes, list[np.ndarray], list[list[np.ndarray]]]:
    rng = np.random.default_rng(64)
    b = GraphBuilder()
    for edge in GRAPH_EDGES:
        add_arg_max_int64(rng, b, edge)
    model = b.to_bytes()
    inputs = [rng.integers(-128, 128, size=(SAMPLES, *b.tensors[x].shape[1:]), dtype=np.int8) for x in b.inputs]
    want = [run_reference(model, [x[i:i + 1] for x in inputs]) for i in range(SAMPLES)]
    return model, inputs, want


@pytest.mark.parametrize("core", BOARDS)
def test_arg_max_int64_exact_in_qemu(core: str, tmp_path: Path) -> None:
    model_bytes, inputs, want = _model_inputs_and_reference()
    model = tmp_path / "arg_max_int64.tflite"
    model.write_bytes(model_bytes)
    report = bench(model, get_board(BOARDS[core]), inputs=inputs, build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"]
    assert report.mismatched_samples == [] and report.outputs_match == report.outputs_total
    for i in range(SAMPLES):
        for k, w in enumerate(want[i]):
            got = report.outputs[k][i]
            assert w.dtype == got.dtype == np.int64
            assert np.array_equal(w.reshape(-1), got.reshape(-1)), f"graph {k} sample {i}"
