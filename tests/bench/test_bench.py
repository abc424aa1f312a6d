"""`tinyml.device.bench` in QEMU: every emulated board, the four MLPerf Tiny models and independently built random
networks return outputs byte-identical to the references (our host build and the TFLite interpreter), with
instruction counts that repeat exactly; the serial-port path is exercised against the emulator's UART."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import tflite_models as tm
from tests.codegen.test_models import varied_inputs
from tests.conftest import MLPERF_MODELS
from tinyml.compiler.codegen import TensorInfo
from tinyml.device.bench import BenchReport, bench, random_inputs
from tinyml.device.boards import all_boards, get_board
from tinyml.device.targets.qemu import QemuSession

EMULATED = [b.name for b in all_boards() if b.emulator is not None]
# Inputs per MLPerf model: QEMU streams ~12 KB/s into the UART, so one VWW input (27 KB) costs ~1.3 s of wall
# time; the inference itself (~95 M instructions) ~0.1 s.
MLPERF_SAMPLES = {"kws": 20, "vww": 10, "ic": 20, "ad": 20}
pytestmark = pytest.mark.qemu


def _write_network(seed: int, directory: Path) -> tuple[Path, tm.Case]:
    case = tm.random_network(np.random.default_rng(seed))
    path = directory / f"network{seed}.tflite"
    path.write_bytes(case.model)
    return path, case


def _assert_exact(report: BenchReport, runs: int) -> None:
    assert report.references == ["host", "tflite"]
    assert report.runs == runs and report.mismatched_samples == []
    assert report.outputs_match == report.outputs_total == runs * len(report.outputs)
    assert all(count > 0 for count in report.per_inference)
    assert 0 < report.stack_peak_bytes < get_board(report.board).stack_bytes


@pytest.mark.parametrize("name", EMULATED)
def test_every_emulated_board_is_exact(name: str, tmp_path: Path) -> None:
    path, case = _write_network(11, tmp_path)
    report = bench(path, get_board(name), runs=3, build_dir=tmp_path / "build")
    _assert_exact(report, 3)
    assert report.counter == "instructions" and report.target == "qemu"
    assert report.ram_bytes <= get_board(name).ram_bytes


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_models_exact_on_m4(name: str, mlperf_dir: Path, tmp_path: Path) -> None:
    model = mlperf_dir / f"{name}.tflite"
    n = MLPERF_SAMPLES[name]
    board = get_board("mps2-an386")
    shape = {"kws": (1, 49, 10, 1), "vww": (1, 96, 96, 3), "ic": (1, 32, 32, 3), "ad": (1, 640)}[name]
    x = varied_inputs(shape, n, np.random.default_rng(7))
    report = bench(model, board, inputs=[x], build_dir=tmp_path / "build")
    _assert_exact(report, n)
    assert len({o.tobytes() for o in report.outputs[0]}) > 1, "outputs do not depend on the input"
    assert report.energy_uj_estimate == pytest.approx(
        board.power.energy_uj(report.count_per_inference, board.clock_hz))
    assert report.latency_ms_estimate == pytest.approx(report.count_per_inference / board.clock_hz * 1e3)


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_random_networks_exact_on_m4(seed: int, tmp_path: Path) -> None:
    path, _ = _write_network(seed, tmp_path)
    _assert_exact(bench(path, get_board("mps2-an386"), runs=4, build_dir=tmp_path / "build"), 4)


def test_same_run_twice_same_instructions(tmp_path: Path) -> None:
    path, _ = _write_network(11, tmp_path)
    board = get_board("mps2-an385")
    first = bench(path, board, runs=3, build_dir=tmp_path / "build")
    stamp = (tmp_path / "build" / "firmware.elf").stat().st_mtime_ns
    second = bench(path, board, runs=3, build_dir=tmp_path / "build")
    assert (tmp_path / "build" / "firmware.elf").stat().st_mtime_ns == stamp, "the build was not reused"
    assert first.per_inference == second.per_inference
    assert first.stack_peak_bytes == second.stack_peak_bytes
    assert all(np.array_equal(a, b) for a, b in zip(first.outputs, second.outputs))


def test_port_path_against_the_emulator_uart(tmp_path: Path) -> None:
    """`--port` speaks to a flashed board through pyserial; QEMU's UART URL stands in for /dev/ttyACM0."""
    path, _ = _write_network(11, tmp_path)
    board = get_board("mps2-an386")
    emulated = bench(path, board, runs=2, build_dir=tmp_path / "build")
    with QemuSession(board, tmp_path / "build" / "firmware.elf", max_seconds=60) as qemu:
        on_port = bench(path, board, port=qemu.url, runs=2, build_dir=tmp_path / "build")
    _assert_exact(on_port, 2)
    assert on_port.counter == "cycles" and on_port.target == qemu.url
    assert [t * 40 for t in on_port.per_inference] == emulated.per_inference   # raw ticks on the port path


def test_random_inputs_are_deterministic_and_cover_the_range() -> None:
    infos = (TensorInfo("a", "int8", (1, 64), 0.1, 0), TensorInfo("b", "float32", (1, 3), 0.0, 0),
             TensorInfo("c", "int8", (2, 8), 0.1, 0))
    first, again = random_inputs(infos, 50), random_inputs(infos, 50)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert first[0].dtype == np.int8 and first[0].min() == -128 and first[0].max() == 127
    assert first[1].shape == (50, 3) and first[1].dtype == np.float32
    assert first[2].shape == (50, 2, 8)                   # a first dimension other than 1: whole tensors
