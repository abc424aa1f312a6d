"""The Helium (MVE) kernel variants on the Cortex-M55 (QEMU `mps3-an547`), compared byte for byte with the TFLite
interpreter and the host build: random single-operator graphs side by side in one image (`merged_cases`), the
generator choosing for the board (M55 with MVE), so each variant is one build and one QEMU session. The DSP
variants keep being checked on the M55 with MVE turned off (tests/bench/test_dsp_qemu.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tflite_models import merged_cases, run_reference
from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.target import Target
from tinyml.device.bench import bench
from tinyml.device.boards import get_board
from tinyml.device.build import build_compiled

pytestmark = pytest.mark.qemu

BOARD = "mps3-an547"
# operator: (cases, the MVE kernel the generator must call)
CASES = {"FULLY_CONNECTED": (48, "tm_fully_connected_s8_mve(")}
SAMPLES = 2


@pytest.mark.parametrize("op", sorted(CASES))
def test_mve_variants_exact_on_the_m55(op: str, tmp_path: Path) -> None:
    count, kernel = CASES[op]
    rng = np.random.default_rng(sum(map(ord, op)) + 55)
    case = merged_cases(op, rng, count, 600)
    inputs = [np.stack([x[0]] + [rng.integers(-128, 128, size=x.shape[1:], dtype=np.int8)
                                 for _ in range(SAMPLES - 1)]) for x in case.inputs]
    want = [run_reference(case.model, [x[i:i + 1] for x in inputs]) for i in range(SAMPLES)]
    board = get_board(BOARD)
    model = tmp_path / f"{op.lower()}.tflite"
    model.write_bytes(case.model)
    target = Target.for_board(board)
    assert target.mve
    compiled = compile_model(model, tmp_path / "build" / "model", target=target)
    calls = (tmp_path / "build" / "model" / "model.c").read_text().count(kernel)
    assert calls == count, f"{calls} calls of {kernel} for {count} {op} cases"
    assert build_compiled(compiled, board, tmp_path / "build").fits

    report = bench(model, board, inputs=inputs, build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"]
    failures = [f"case {k} ({params['tensors']}) sample {i}: {int((w[0] != report.outputs[k][i]).sum())} differ"
                for i in range(SAMPLES) for k, (w, params) in enumerate(zip(want[i], case.params["cases"]))
                if not np.array_equal(w[0].view(np.uint8), report.outputs[k][i].view(np.uint8))]
    assert not failures, f"{len(failures)} mismatches, first: {failures[0]}"
    assert report.mismatched_samples == [] and report.outputs_match == report.outputs_total
