"""The Helium convolutions (tinyml.compiler.codegen.ops.mve) on the Cortex-M55 (QEMU `mps3-an547`), byte for byte
against the TFLite interpreter and the host build: random single convolutions side by side in one image, and chains
of two; built as planned (the kernels called directly), then with every layer whose input dies run over its own
input, a few rows at a time (`tm_conv_inplace_s8`).
- pointwise (`tm_conv2d_1x1_s8_mve`): 1x1 stride 1, SAME and VALID, any channel counts, so that the 16-byte
  predicated tails and the output channels beyond the last group of four run;
- any other at dilation 1 with at least 16 input channels (`tm_conv2d_s8_mve`; fewer go to the DSP variant when
  the filter is narrow): random kernel sizes, strides and padding (padded taps at every border, rows wholly outside
  the image), spans that are and are not whole vectors.
Per-tensor and per-channel weights, every fused activation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.forcing import force_inplace
from tests.tflite_models import GraphBuilder, _add_conv, _random_conv_geometry, random_qp, run_reference
from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.target import Target
from tinyml.device.bench import bench
from tinyml.device.boards import get_board
from tinyml.device.build import build_compiled

pytestmark = pytest.mark.qemu

BOARD = "mps3-an547"
KERNELS = ("tm_conv2d_1x1_s8_mve", "tm_conv2d_s8_mve")
SINGLE = 20      # single layers
CHAINS = 4       # a layer, then another over its output (which dies with it: in place when forced)
SAMPLES = 2
MAX_INPUT_BYTES = 1600


def _layer(rng: np.random.Generator, b: GraphBuilder, x: int, kind: str) -> int:
    if kind == "pointwise":
        geometry = {"kernel": (1, 1), "stride": (1, 1), "padding": "SAME" if rng.random() < 0.5 else "VALID"}
    else:
        geometry = _random_conv_geometry(rng, b, x)
    out_c = rng.integers(1, 41) if kind == "pointwise" else rng.integers(16, 41)  # a chain's second: >= 16 in
    return _add_conv(rng, b, x, int(out_c), {**geometry, "dilation": (1, 1)})


def _model(rng: np.random.Generator, kind: str) -> tuple[bytes, list[tuple[int, ...]], list[str]]:
    """SINGLE layers and CHAINS pairs in one model: its bytes, the input shapes, a description of each."""
    b, shapes, described = GraphBuilder(), [], []
    while len(shapes) < SINGLE + CHAINS:
        chain = len(shapes) >= SINGLE
        channels = rng.integers(1, 81) if kind == "pointwise" else rng.integers(16, 41)  # the latter: spans >= 16
        shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(channels))
        if np.prod(shape) > MAX_INPUT_BYTES or (chain and np.prod(shape) < 200):
            continue
        x = b.input(shape, random_qp(rng))
        y = _layer(rng, b, x, kind)
        b.output(_layer(rng, b, y, kind) if chain else y)
        shapes.append(shape)
        described.append(f"{'chain of 2 on ' if chain else ''}{list(shape)}")
    return b.to_bytes(), shapes, described


@pytest.mark.parametrize("in_place", [False, True], ids=["as-planned", "all-in-place"])
@pytest.mark.parametrize("kind", ["pointwise", "any"])
def test_helium_convolutions_exact_on_the_m55(kind: str, in_place: bool, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5513 + len(kind))
    model_bytes, shapes, described = _model(rng, kind)
    inputs = [rng.integers(-128, 128, size=(SAMPLES, *shape[1:]), dtype=np.int8) for shape in shapes]
    want = [run_reference(model_bytes, [x[i:i + 1] for x in inputs]) for i in range(SAMPLES)]
    board = get_board(BOARD)
    model = tmp_path / f"{kind}.tflite"
    model.write_bytes(model_bytes)
    target = Target.for_board(board)
    assert target.mve
    with monkeypatch.context() as forced:
        if in_place:
            force_inplace(forced)  # wherever the input dies (graph inputs included), row driver and all
        compiled = compile_model(model, tmp_path / "build" / "model", target=target)
    source = (tmp_path / "build" / "model" / "model.c").read_text()
    driven = sum(source.count(f"tm_conv_inplace_s8({kernel},") for kernel in KERNELS)
    direct = sum(source.count(f"{kernel}(") for kernel in KERNELS)
    assert driven + direct == SINGLE + 2 * CHAINS
    assert driven == SINGLE + 2 * CHAINS if in_place else direct >= SINGLE
    assert (kind == "pointwise") == (source.count("tm_conv2d_s8_mve") == 0)
    assert build_compiled(compiled, board, tmp_path / "build").fits

    report = bench(model, board, inputs=inputs, build_dir=tmp_path / "build")
    assert report.references == ["host", "tflite"]
    failures = [f"case {k} ({what}) sample {i}: {int((w[0] != report.outputs[k][i]).sum())} differ"
                for i in range(SAMPLES) for k, (w, what) in enumerate(zip(want[i], described))
                if not np.array_equal(w[0].view(np.uint8), report.outputs[k][i].view(np.uint8))]
    assert not failures, f"{len(failures)} mismatches, first: {failures[0]}"
    assert report.mismatched_samples == [] and report.outputs_match == report.outputs_total
