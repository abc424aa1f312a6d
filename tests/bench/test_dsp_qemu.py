"""The DSP/SIMD kernel variants on the cores they are built for, in QEMU: the same kind of random cases as the host
property tests (tests/codegen/test_kernels_dsp.py and test_inplace.py, where tinyml/dsp.h emulates the ACLE
intrinsics), compiled for the board's core, run by the real SMLAD/SXTB16/SSAT instructions of a Cortex-M4
(mps2-an386), M33 (mps2-an505), M7 (mps2-an500) and M55 (mps3-an547, built without its Helium variants here; those
are checked in test_mve_qemu.py), and compared byte for byte with the TFLite interpreter.

Many cases share one image: `merged_cases` puts independent single-operator graphs side by side in one model (one
input and one output each), so each (variant, core) pair is one build and one QEMU session. Besides the generator's
own choices, each variant's other modes are forced: in place (`tm_conv_inplace_dsp_s8` around the row kernels), low
scratch (direct convolution without im2col, FC without the widened input), the output stage that adds the zero
point after the shift (mode TM_DSP_FAST_SAT_ANY, where the generator can fold it otherwise) and the weight layout:
int8, the default build's, or int16 (`--weights int16`). QEMU feeds the UART at about 12 KB/s, so the inputs are
kept small; the inferences take microseconds of wall time."""
from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from tests.forcing import force_inplace, force_low_scratch, force_zero_point_after_shift
from tests.tflite_models import Case, GraphBuilder, merged_cases, run_reference
from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.compiler import VARIANTS_H
from tinyml.compiler.codegen.target import Target
from tinyml.device.bench import bench
from tinyml.device.boards import get_board
from tinyml.device.build import build_compiled
from tinyml.device.weight_layouts import DEFAULT_WEIGHTS, WEIGHT_LAYOUTS

pytestmark = pytest.mark.qemu

BOARDS = ("mps2-an386", "mps2-an505", "mps2-an500", "mps3-an547")
CASES = {"CONV_2D": 32, "DEPTHWISE_CONV_2D": 40, "FULLY_CONNECTED": 40, "RESIDUAL": 12, "AVERAGE_POOL_2D": 40}
MAX_INPUT_BYTES = {"CONV_2D": 600, "DEPTHWISE_CONV_2D": 600, "FULLY_CONNECTED": 600, "RESIDUAL": 900,
                   "AVERAGE_POOL_2D": 600}
SAMPLES = 2
# (operator, mode, weight layout): mode "plain" is what the generator picks for the board, "inplace" and
# "low-scratch" are forced, "zp-after" the output stage that adds the zero point after the shift; the layout is
# tinyml.device.weight_layouts' (int8 the default build's, int16 asked for). Every kernel runs both layouts; the
# forced modes mostly int16, as int8 they run on the host (tests/codegen/test_inplace.py), the direct convolution on
# the M4 and M7 (test_conv_direct_qemu.py).
VARIANTS = [("CONV_2D", "plain", "int8"), ("CONV_2D", "plain", "int16"), ("CONV_2D", "inplace", "int8"),
            ("CONV_2D", "inplace", "int16"), ("CONV_2D", "low-scratch", "int16"),
            ("DEPTHWISE_CONV_2D", "plain", "int8"), ("DEPTHWISE_CONV_2D", "plain", "int16"),
            ("DEPTHWISE_CONV_2D", "inplace", "int16"), ("FULLY_CONNECTED", "plain", "int8"),
            ("FULLY_CONNECTED", "plain", "int16"), ("FULLY_CONNECTED", "low-scratch", "int8"),
            ("FULLY_CONNECTED", "low-scratch", "int16"),
            ("RESIDUAL", "plain", "int8"), ("RESIDUAL", "plain", "int16"), ("RESIDUAL", "low-scratch", "int16"),
            ("CONV_2D", "zp-after", "int8"), ("CONV_2D", "zp-after", "int16"),
            ("DEPTHWISE_CONV_2D", "zp-after", "int8"), ("FULLY_CONNECTED", "zp-after", "int8"),
            ("AVERAGE_POOL_2D", "plain", DEFAULT_WEIGHTS)]
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
    elif mode == "zp-after":
        force_zero_point_after_shift(monkeypatch)


@pytest.mark.parametrize("board_name", BOARDS)
@pytest.mark.parametrize("op, mode, weights", VARIANTS, ids=["-".join(v) for v in VARIANTS])
def test_dsp_variants_exact_on_their_core(op: str, mode: str, weights: str, board_name: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    case, inputs, want = _case_and_reference(op)
    board = get_board(board_name)
    model = tmp_path / f"{op.lower()}.tflite"
    model.write_bytes(case.model)
    # Built here for the board's own target, the mode forced, then reused by `bench` (same model, board, profile).
    # mve=False: the M55's Helium variants are test_mve_qemu.py's
    target = dataclasses.replace(Target.for_board(board), mve=False, wide_fc=WEIGHT_LAYOUTS[weights])
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
    if op != "AVERAGE_POOL_2D":   # int16 weights select the kernels' WIDE variants (TM_V_CONV_WIDE, ...)
        assert ("_WIDE" in (tmp_path / "build" / "model" / VARIANTS_H).read_text()) == (weights == "int16")
    assert build_compiled(compiled, board, tmp_path / "build", weights=weights).fits

    report = bench(model, board, inputs=inputs, build_dir=tmp_path / "build", weights=weights)
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
