"""The DSP pointwise convolution in place without a ring (tm_conv_inplace_dsp_s8 with ring_rows 0: one kernel call
over every pixel, the outputs written over pixels already read) in QEMU, by the real SMLAD/SXTB16 of a Cortex-M4
(mps2-an386) and M7 (mps2-an500): chains of 1x1 convolutions keeping or shrinking the channels on odd pixel counts,
forced in place, int8 and int16 weights, compared byte for byte with the TFLite interpreter. The host runs the C
twin of the same kernels on more chains (tests/codegen/test_inplace.py)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.forcing import force_inplace
from tests.tflite_models import GraphBuilder, _add_conv, random_qp, run_reference
from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.target import Target
from tinyml.device.bench import bench
from tinyml.device.boards import get_board
from tinyml.device.build import build_compiled
from tinyml.device.weight_layouts import WEIGHT_LAYOUTS

pytestmark = pytest.mark.qemu

SAMPLES = 2
GEOMETRY = {"kernel": (1, 1), "stride": (1, 1), "dilation": (1, 1), "padding": "SAME"}


def _chain(seed: int) -> tuple[bytes, np.ndarray]:
    """Three 1x1 convolutions (same channels, fewer, fewer) over 5 x 7 pixels; SAMPLES random inputs."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder()
    x = b.input((1, 5, 7, 24), random_qp(rng, 1e-2, 1e-1))
    for out_c in (24, 17, 9):
        x = _add_conv(rng, b, x, out_c, GEOMETRY)
    b.output(x)
    return b.to_bytes(), rng.integers(-128, 128, size=(SAMPLES, 1, 5, 7, 24), dtype=np.int8)


@pytest.mark.parametrize("board_name", ["mps2-an386", "mps2-an500"])
@pytest.mark.parametrize("weights", ["int8", "int16"])
def test_pointwise_in_place_without_ring_exact(board_name: str, weights: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    model_bytes, samples = _chain(71 + (weights == "int16"))
    model = tmp_path / "pointwise.tflite"
    model.write_bytes(model_bytes)
    board = get_board(board_name)
    target = dataclasses.replace(Target.for_board(board), mve=False, wide_fc=WEIGHT_LAYOUTS[weights])
    with monkeypatch.context() as forced:
        force_inplace(forced)
        compiled = compile_model(model, tmp_path / "build" / "model", target=target)
    model_c = (tmp_path / "build" / "model" / "model.c").read_text()
    assert model_c.count("tm_conv_inplace_dsp_s8(") == 3
    assert model_c.count("tm_inplace_params") == 3 and model_c.count("_ip = {0, ") == 3
    assert build_compiled(compiled, board, tmp_path / "build", weights=weights).fits
    inputs = [samples[:, 0]]
    report = bench(model, board, inputs=inputs, build_dir=tmp_path / "build", weights=weights)
    for i in range(SAMPLES):
        want = run_reference(model_bytes, [samples[i]])[0]
        assert np.array_equal(want[0].view(np.uint8), report.outputs[0][i].view(np.uint8)), f"sample {i}"
    assert report.outputs_match == report.outputs_total
