"""`tinyml bench --profile` on the KWS model (MLPerf Tiny) on the M4: the per-layer instructions and cycles sum
exactly to the whole inference's (as `--cycles` traces it, and within the SysTick count's resolution of what the
device measures), a kernel shared by several layers is split by position (four identical pointwise layers get the
same counts), the JSON has its schema and the CLI prints the table."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.codegen.test_models import varied_inputs
from tinyml.cli import main
from tinyml.compiler.stats import model_stats
from tinyml.device.bench import bench
from tinyml.device.boards import get_board
from tinyml.device.profile import Profile, profile
from tinyml.device.targets.cycle_estimate import estimate_inference

pytestmark = pytest.mark.qemu
BOARD = "mps2-an386"
POINTWISE = (2, 4, 6, 8)    # KWS's operators of one shape: 1x1 conv 64 -> 64 over 25x5
DEPTHWISE = (1, 3, 5, 7)    # 3x3 depthwise over 25x5x64
LAYER_KEYS = {"index", "op", "output", "kernel", "mode", "in_place", "calls", "macs", "first_line", "last_line",
              "instructions", "cycles", "cycles_share", "mac_per_cycle"}


@pytest.fixture(scope="module")
def kws(mlperf_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray, Profile]:
    """The model, a build directory the tests share, one input and its profile."""
    build = tmp_path_factory.mktemp("kws") / "build"
    x = varied_inputs((1, 49, 10, 1), 1, np.random.default_rng(3))
    model = mlperf_dir / "kws.tflite"
    return model, build, x, profile(model, get_board(BOARD), inputs=[x], build_dir=build)


def test_layers_sum_exactly_to_the_inference(kws: tuple[Path, Path, np.ndarray, Profile]) -> None:
    model, build, x, prof = kws
    board = get_board(BOARD)
    assert sum(p.instructions for p in prof.layers) == prof.instructions
    assert sum(p.cycles for p in prof.layers) == prof.cycles
    # `--cycles`' estimate of the same input, from a run of its own, counts the same inference.
    whole = estimate_inference(board, build / "firmware.elf", [x[0].tobytes()])
    assert (whole.instructions, whole.cycles) == (prof.instructions, prof.cycles)
    # The device's own count (SysTick: 40 instructions a tick, read before and after the invoke) agrees to a tick
    # or two: the trace neither misses nor adds work (QEMU's stopped TBs are not counted).
    measured = bench(model, board, inputs=[x], build_dir=build).per_inference[0]
    assert abs(measured - prof.instructions) <= 2 * 40, (measured, prof.instructions)


def test_layers_by_position_kernel_and_macs(kws: tuple[Path, Path, np.ndarray, Profile]) -> None:
    model, _, _, prof = kws
    by_index = {p.layer.index: p for p in prof.layers}
    assert [p.layer.index for p in prof.layers] == list(range(13))
    for group in (POINTWISE, DEPTHWISE):   # one kernel, four call sites: each layer its own, equal share
        counts = [by_index[i].instructions for i in group]
        assert len({by_index[i].layer.kernel for i in group}) == 1
        assert max(counts) - min(counts) <= 0.001 * max(counts), counts
    assert by_index[2].instructions > 1.5 * by_index[1].instructions  # 512k MACs against 72k
    assert by_index[10].layer.op == "RESHAPE" and by_index[10].instructions == by_index[10].cycles == 0
    assert all(p.instructions > 0 for p in prof.layers if p.layer.calls)
    assert by_index[2].layer.in_place and by_index[2].layer.kernel.endswith("_rows")
    assert by_index[9].layer.op == "AVERAGE_POOL_2D" and by_index[9].layer.macs == 25 * 5 * 64
    assert prof.macs == model_stats(model).macs + by_index[9].layer.macs   # the pool's accumulates besides
    for p in prof.layers:
        assert p.instructions <= p.cycles


def test_profile_json_schema(kws: tuple[Path, Path, np.ndarray, Profile]) -> None:
    _, _, _, prof = kws
    data = json.loads(json.dumps(prof.to_json()))
    assert data["instructions"] == prof.instructions and data["cycles"] == prof.cycles
    assert data["macs"] == prof.macs and "zero wait states" in data["basis"] and data["board"] == BOARD
    assert len(data["layers"]) == 13 and all(set(layer) == LAYER_KEYS for layer in data["layers"])
    assert sum(layer["instructions"] for layer in data["layers"]) == data["instructions"]
    assert sum(layer["cycles_share"] for layer in data["layers"]) == pytest.approx(1.0, abs=1e-4)
    first = data["layers"][0]
    assert first["kernel"] == "tm_conv2d_s8_dsp" and first["mode"] == "im2col" and first["in_place"] is False
    assert first["mac_per_cycle"] == pytest.approx(first["macs"] / first["cycles"], abs=1e-6)
    assert data["layers"][10]["mac_per_cycle"] is None   # RESHAPE: no work
    assert data["layers"][12]["output"] == "Identity"    # the softmax's output tensor


def test_cli_prints_the_table(kws: tuple[Path, Path, np.ndarray, Profile], tmp_path: Path) -> None:
    model, build, x, prof = kws
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(main, ["bench", str(model), "--board", BOARD, "--inputs", str(tmp_path / "x.npy"),
                                       "--build-dir", str(build), "--profile"])
    assert result.exit_code == 0, result.output
    table = result.output.split("per-layer profile")[1].splitlines()[1:]
    assert table[0].split()[:3] == ["#", "operator", "kernel"] and table[-1].split()[0] == "total"
    assert len(table) == 1 + 13 + 1
    assert table[3].split()[:3] == ["2", "CONV_2D", "tm_conv2d_s8_dsp_rows"] and "(im2col, in place)" in table[3]
    assert f"{prof.cycles:,}" in table[-1] and f"{prof.instructions:,}" in table[-1]


@pytest.mark.parametrize(("args", "text"), [
    (("--board", "mps2-an385"), "--profile needs an emulated cortex-m4 or cortex-m7"),
    (("--board", BOARD, "--port", "socket://localhost:1"), "cannot profile the board on --port")])
def test_profile_needs_an_emulated_m4_or_m7(args: tuple[str, ...], text: str, mlperf_dir: Path) -> None:
    result = CliRunner().invoke(main, ["bench", str(mlperf_dir / "kws.tflite"), *args, "--profile"])
    assert result.exit_code == 2 and text in result.output, result.output
