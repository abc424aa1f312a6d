"""The DSP convolution's direct mode in QEMU, by the real SMLAD/SXTB16 of a Cortex-M4 (mps2-an386) and M7
(mps2-an500): random convolutions and residual blocks (the fused CONV_2D + ADD) whose input channels are a multiple
of 4, every layer forced into its low-scratch mode (the direct convolution), int16 and int8 weights, compared byte for
byte with the TFLite interpreter. The direct tile's assembly (runs of taps, odd group counts entering the loop's
second half, int8 weights widened in place) runs only on these cores; the host covers its C twin
(tests/codegen/test_conv_direct_dsp.py)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.codegen.test_conv_direct_dsp import count_direct
from tests.forcing import force_low_scratch
from tests.tflite_models import GraphBuilder, merged_cases, run_reference
from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.target import Target
from tinyml.device.bench import bench
from tinyml.device.boards import get_board
from tinyml.device.build import build_compiled

pytestmark = pytest.mark.qemu

CASES = 12          # of each kind (single convolutions, residual blocks) in one image
MAX_INPUT_BYTES = 700
SAMPLES = 2
_CACHE: dict[str, tuple[bytes, list[np.ndarray], list[list[np.ndarray]], list[dict]]] = {}


def _channels_in_words(b: GraphBuilder) -> bool:
    return b.tensors[b.inputs[0]].shape[3] % 4 == 0


def _case() -> tuple[bytes, list[np.ndarray], list[list[np.ndarray]], list[dict]]:
    """Once per session: the merged model, SAMPLES inputs per graph input and the TFLite outputs per sample."""
    if not _CACHE:
        rng = np.random.default_rng(1313)
        case = merged_cases(["CONV_2D", "RESIDUAL"], rng, CASES, MAX_INPUT_BYTES, _channels_in_words)
        inputs = [np.stack([x[0]] + [rng.integers(-128, 128, size=x.shape[1:], dtype=np.int8)
                                     for _ in range(SAMPLES - 1)]) for x in case.inputs]
        want = [run_reference(case.model, [x[i:i + 1] for x in inputs]) for i in range(SAMPLES)]
        _CACHE["case"] = case.model, inputs, want, case.params["cases"]
    return _CACHE["case"]


@pytest.mark.parametrize("wide", [True, False], ids=["int16-weights", "int8-weights"])
@pytest.mark.parametrize("board_name", ["mps2-an386", "mps2-an500"])
def test_direct_convolutions_exact_on_the_core(board_name: str, wide: bool, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    model_bytes, inputs, want, described = _case()
    board = get_board(board_name)
    model = tmp_path / "direct.tflite"
    model.write_bytes(model_bytes)
    target = dataclasses.replace(Target.for_board(board), wide_fc=wide)
    with monkeypatch.context() as forced:
        force_low_scratch(forced)
        chosen = count_direct(forced)
        compiled = compile_model(model, tmp_path / "build" / "model", target=target)
    assert chosen.count("direct") >= 2 * CASES, chosen
    assert build_compiled(compiled, board, tmp_path / "build").fits
    report = bench(model, board, inputs=inputs, build_dir=tmp_path / "build")
    failures = [f"case {k} ({params}) sample {i}"
                for i in range(SAMPLES) for k, (w, params) in enumerate(zip(want[i], described))
                if not np.array_equal(w[0].view(np.uint8), report.outputs[k][i].view(np.uint8))]
    assert not failures, f"{len(failures)} mismatches on {board_name}, first: {failures[0]}"
