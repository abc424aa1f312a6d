"""The DSP/SIMD kernel variants on the cores they are built for, in QEMU: the same kind of random cases as the host
property tests (tests/codegen/test_kernels_dsp.py and test_inplace.py, where tinyml/dsp.h emulates the ACLE
intrinsics), compiled for the board's core, run by the real SMLAD/SXTB16/SSAT instructions of a Cortex-M4
(mps2-an386), M33 (mps2-an505), M7 (mps2-an500) and M55 (mps3-an547, built without its Helium variants here; those
are checked in test_mve_qemu.py), and compared byte for byte with the TFLite interpreter.

Many cases share one image: `merged_cases` puts independent single-operator graphs side by side in one model (one
input and one output each), so each (variant, core) pair is one build and one QEMU session. Besides the generator's
own choices, each variant's other modes are forced: in place (`tm_conv_inplace_dsp_s8` around the row kernels), low
scratch (direct convolution without im2col, FC without the widened input) and int8 or int16 weights. QEMU
feeds the UART at about 12 KB/s, so the inputs are kept small; the inferences take microseconds of wall time."""
from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from tests.forcing import force_inplace, force_low_scratch
from tests.tflite_models import Case, GraphBuilder, merged_cases, run_reference
from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.target import Target
from tinyml.device.bench import bench
from tinyml.device.boards import get_board
from tinyml.device.build import build_compiled

pytestmark = pytest.mark.qemu

BOARDS = ("mps2-an386", "mps2-an505", "mps2-an500", "mps3-an547")
CASES = {"CONV_2D": 32, "DEPTHWISE_CONV_2D": 40, "FULLY_CONNECTED": 40, "RESIDUAL": 12, "AVERAGE_POOL_2D": 40}
MAX_INPUT_BYTES = {"CONV_2D": 600, "DEPTHWISE_CONV_2D": 600, "FULLY_CONNECTED": 600, "RESIDUAL": 900,
                   "AVERAGE_POOL_2D": 600}
SAMPLES = 2
# (operator, mode): "auto" is what the generator picks for the board (on these boards' flash: int16 weights for
# convolutions, depthwise and FC, "wide"); the others are forced, "compact" being the int8 weights.
VARIANTS = [("CONV_2D", "auto"), ("CONV_2D", "compact"), ("CONV_2D", "inplace"), ("CONV_2D", "low-scratch"),
            ("DEPTHWISE_CONV_2D", "auto"), ("DEPTHWISE_CONV_2D", "compact"), ("DEPTHWISE_CONV_2D", "inplace"),
            ("FULLY_CONNECTED", "wide"), ("FULLY_CONNECTED", "compact"), ("FULLY_CONNECTED", "low-scratch"),
            ("RESIDUAL", "auto"), ("RESIDUAL", "low-scratch"), ("AVERAGE_POOL_2D", "auto")]
DSP_CALL = re.compile(r"\btm_\w*_dsp\w*\(")          # a call of a DSP kernel or of the DSP in-place wrapper


def _mostly_dsp() -> callable:
    """Depthwise and average pooling draws the DSP variant takes (as many output as input channels, a multiple of 4:
    about 1 in 10 depthwise draws), and 1 in 16 of the others (the portable fallback runs on the same core)."""
    others = itertools.count()

    def accept(b: GraphBuilder) -> bool:
        x, y = b.tensors[b.inputs[0]].shape, b.tensors[-1].shape
        return (x[3] == y[3] and x[3] % 4 == 0) or next(others) % 16 == 0
    return accept


_CACHE: dict[str, tuple[Case, list[np.ndarray], list[list[np.ndarray]]]] = {}


def _case_and_reference(op: str) -> tuple[Case, list[np.ndarray], list[list[np.ndarray]]]:
    """Per op, once per session: the merged model (the same on every core), SAMPLES inputs per graph input (the
    drawn one, then random) and the TFLite outputs per sample."""
    if op not in _CACHE:
        rng = np.random.default_rng(sum(map(ord, op)) + 3)
        accept = _mostly_dsp() if op in ("DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D") else None
        case = merged_cases(op, rng, CASES[op], MAX_INPUT_BYTES[op], accept)
        inputs = [np.stack([x[0]] + [rng.integers(-128, 128, size=x.shape[1:], dtype=np.int8)
                                     for _ in range(SAMPLES - 1)]) for x in case.inputs]
        want = [run_reference(case.model, [x[i:i + 1] for x in inputs]) for i in range(SAMPLES)]
        _CACHE[op] = case, inputs, want
    return _CACHE[op]


def _force(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if mode == "inplace":
        force_inplace(monkeypatch)
    elif mode == "low-scratch":
        force_low_scratch(monkeypatch)


@pytest.mark.parametrize("board_name", BOARDS)
@pytest.mark.parametrize("op, mode", VARIANTS, ids=[f"{op}-{mode}" for op, mode in VARIANTS])
def test_dsp_variants_exact_on_their_core(op: str, mode: str, board_name: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    case, inputs, want = _case_and_reference(op)
    board = get_board(board_name)
    model = tmp_path / f"{op.lower()}.tflite"
    model.write_bytes(case.model)
    # Built here for the board's own target, the mode forced, then reused by `bench` (same model, board, profile).
    target = dataclasses.replace(Target.for_board(board), mve=False)  # the M55's Helium variants: test_mve_qemu.py
    if mode in ("wide", "compact"):
        target = dataclasses.replace(target, wide_fc=mode == "wide")
    assert target.dsp
    with monkeypatch.context() as forced:
        _force(mode, forced)
        compiled = compile_model(model, tmp_path / "build" / "model", target=target)
    model_c = (tmp_path / "build" / "model" / "model.c").read_text()
    dsp_calls = len(DSP_CALL.findall(model_c))
    assert dsp_calls >= CASES[op] // 2, f"only {dsp_calls} DSP kernel calls for {CASES[op]} cases"
    if op == "RESIDUAL":
        assert re.search(r"\btm_conv2d_add\w*_dsp\w*\(", model_c), "no fused DSP conv + add"
    if mode == "inplace":
        assert "tm_conv_inplace_dsp_s8(" in model_c
    assert build_compiled(compiled, board, tmp_path / "build").fits

    report = bench(model, board, inputs=inputs, build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"]
    failures = []
    for i in range(SAMPLES):
        for k, (w, params) in enumerate(zip(want[i], case.params["cases"])):
            got = report.outputs[k][i]
            if not np.array_equal(w[0].view(np.uint8), got.view(np.uint8)):
                failures.append(f"case {k} (seed {params['seed']}, tensors {params['tensors']}) sample {i}: "
                                f"{int((w[0] != got).sum())} of {got.size} differ")
    assert not failures, f"{len(failures)} mismatches on {board_name}, first: {failures[0]}"
    assert report.mismatched_samples == [] and report.outputs_match == report.outputs_total
