"""MLPerf Tiny runner sessions over QEMU (mps2-an386, Cortex-M4): the `--app mlperf` firmware driven through a pty
with `serial.Serial`, as the MLCommons Tiny runner drives a board.

- KWS and IC: the `m-results` of every sample are the outputs our own protocol returns (`tinyml.device.bench`,
  itself checked against the host build and TFLite) dequantized, and Top-1 equals the host int8 Top-1.
- AD: each window's score is numpy's mean squared error between the float input and the dequantized output.
- Malformed commands get one `e-[...]` line and `m-ready`, and the device keeps working.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import serial

from tinyml.compiler.codegen import CompileResult, compile_model
from tinyml.device.bench import bench, firmware_for
from tinyml.device.boards import get_board
from tinyml.device.mlperf import Dut, qemu_dut, serve, session
from tinyml.device.mlperf_data import roc_auc, top1
from tinyml.device.targets.host import run_host

pytestmark = [pytest.mark.slow, pytest.mark.qemu]
BOARD = "mps2-an386"
SAMPLES = 3


def write_set(folder: Path, files: list[bytes], labels: list[int], classes: int, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (data, label) in enumerate(zip(files, labels, strict=True)):
        (folder / f"s{i}.bin").write_bytes(data)
        rows.append(f"s{i}.bin,{classes},{label}{extra}\n")
    (folder / "y_labels.csv").write_text("".join(rows))
    return folder


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.int32) - zero_point).astype(np.float32) * np.float32(scale)


@pytest.mark.parametrize("name", ["kws", "ic"])
def test_results_are_our_protocols_outputs_and_top1_the_hosts(name: str, mlperf_dir: Path, tmp_path: Path) -> None:
    model = mlperf_dir / f"{name}.tflite"
    compiled = compile_model(model, tmp_path / "model")
    (x_info,), (y_info,) = compiled.inputs, compiled.outputs
    rng = np.random.default_rng(7)
    raw = rng.integers(0, 256, (SAMPLES, int(np.prod(x_info.shape))), dtype=np.uint8)
    # The runner's files: int8 features for KWS; uint8 pixels for IC, which the device shifts by -128.
    x = (raw.view(np.int8) if name == "kws" else (raw.astype(np.int16) - 128).astype(np.int8))
    x = x.reshape((SAMPLES, *x_info.shape[1:]))
    host = run_host(compiled, [x])[0].reshape(SAMPLES, -1)
    classes = host.shape[1]
    labels = [int(np.argmax(host[0])), (int(np.argmax(host[1])) + 1) % classes, int(np.argmax(host[2]))]
    data = write_set(tmp_path / "data", [r.tobytes() for r in raw], labels, classes)

    report = session(model, get_board(BOARD), "accuracy", data_dir=data)
    ours = bench(model, get_board(BOARD), inputs=[x])

    assert ours.mismatched_samples == []
    device = np.array(report.results, dtype=np.float64)
    expected = dequantize(ours.outputs[0].reshape(SAMPLES, -1), y_info.scale, y_info.zero_point)
    assert device.shape == expected.shape == (SAMPLES, classes)
    assert np.abs(device - expected).max() <= 5e-7 + 1e-9  # printed with 6 decimals, rounded
    recovered = np.round(device / y_info.scale) + y_info.zero_point
    np.testing.assert_array_equal(recovered, ours.outputs[0].reshape(SAMPLES, -1))
    assert report.top1 == top1(dequantize(host, y_info.scale, y_info.zero_point), labels) == pytest.approx(2 / 3)


def quantize_half_away(v: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    x = v.astype(np.float32) / np.float32(scale)
    return np.clip(np.sign(x) * np.floor(np.abs(x.astype(np.float64)) + 0.5) + zero_point, -128, 127).astype(np.int8)


def test_ad_scores_are_the_mse_numpy_computes(mlperf_dir: Path, tmp_path: Path) -> None:
    model = mlperf_dir / "ad.tflite"
    compiled: CompileResult = compile_model(model, tmp_path / "model")
    (x_info,), (y_info,) = compiled.inputs, compiled.outputs
    rng = np.random.default_rng(3)
    frames, frame = 6, 128                      # windows of 5 frames, one frame apart: 2 windows per file
    levels = rng.integers(-100, 100, (2, frames * frame))
    streams = ((levels - x_info.zero_point) * x_info.scale
               + rng.uniform(-0.45, 0.45, levels.shape) * x_info.scale).astype("<f4")
    data = write_set(tmp_path / "data", [s.tobytes() for s in streams], [0, 1], 2, extra=",2560,512")

    report = session(model, get_board(BOARD), "accuracy", data_dir=data)

    windows = np.stack([s[start:start + 640] for s in streams for start in (0, frame)])
    q = quantize_half_away(windows, x_info.scale, x_info.zero_point)
    out = dequantize(run_host(compiled, [q])[0].reshape(len(windows), -1), y_info.scale, y_info.zero_point)
    mse = ((out.astype(np.float64) - windows.astype(np.float64)) ** 2).mean(axis=1)
    device = np.array(report.results).reshape(-1)
    np.testing.assert_allclose(device, mse, rtol=1e-5, atol=1e-6)
    assert report.auc == roc_auc(np.array(report.results).mean(axis=1), [0, 1])


def test_malformed_commands_get_an_error_and_the_device_keeps_working(mlperf_dir: Path, tmp_path: Path) -> None:
    model = mlperf_dir / "kws.tflite"
    compiled = compile_model(model, tmp_path / "model")
    board = get_board(BOARD)
    build = firmware_for(model, board, compiled.model_hash, app="mlperf")
    sample = np.random.default_rng(5).integers(-128, 128, 490, dtype=np.int8)
    cases = {
        "foo": "e-[Unknown command: foo]",
        "x" * 81: "e-[Command longer than 80 characters]",
        "db load 100": "e-[db load: the model's input takes 490 bytes]",
        "db load": "e-[db load: needs one byte count N >= 1]",
        "db load -5": "e-[db load: needs one byte count N >= 1]",
        "db 0011": "e-[db: no 'db load N' in progress]",
        "infer 0 1": "e-[infer: expects 'infer N W' with N >= 1 and W >= 0]",
        "infer 1 0": "e-[infer: no input loaded; send 'db load 490' and its bytes first]",
        "results": "e-[results: no inference has run yet]",
    }
    after_load = {
        "db 0g": "e-[db: not a hex digit: g]",
        "db 001": "e-[db: odd number of hex digits]",
        "db " + "00" * 31 + " 00": "e-[db: one run of hex digits per line]",
    }
    with qemu_dut(board, build.elf, max_seconds=120) as dut:
        for command, error in cases.items():
            assert dut.send(command) == [error, "m-ready"], command
        assert dut.command("db load 490") == ["m-[Expecting 490 bytes]", "m-ready"]
        for command, error in after_load.items():
            assert dut.send(command) == [error, "m-ready"], command
        chunks = [sample[i:i + 31].tobytes() for i in range(0, 490, 31)]
        for chunk in chunks[:-1]:
            dut.command("db " + chunk.hex())
        assert dut.send("db " + chunks[-1].hex() + "00") == ["e-[db: more bytes than the 25 still expected]",
                                                              "m-ready"]
        assert dut.command("db " + chunks[-1].hex()) == ["m-load-done", "m-ready"]
        run = dut.infer(1, 2)
        assert dut.send("") == ["m-ready"]   # what the runner sends to flush a port
    host = run_host(compiled, [sample.reshape(1, 49, 10, 1)])[0].reshape(-1)
    y = compiled.outputs[0]
    np.testing.assert_allclose(run.results, dequantize(host, y.scale, y.zero_point), atol=5e-7 + 1e-9)


def test_serve_gives_the_runner_a_serial_port(mlperf_dir: Path) -> None:
    found: list[str] = []
    ready = threading.Event()

    def on_ready(path: str, app: object) -> None:
        found.append(path)
        ready.set()

    worker = threading.Thread(target=serve, args=(mlperf_dir / "kws.tflite", get_board(BOARD), on_ready),
                              kwargs={"seconds": 8.0})
    worker.start()
    try:
        assert ready.wait(60), "serve never opened its pty"
        port = serial.Serial(found[0], 115200, timeout=0.1)   # as the runner's SerialDevice opens a DUT
        dut = Dut(port)
        assert dut.command("name") == ["m-name-dut-[tinyml mps2-an386]", "m-ready"]
        assert dut.fields()["model"] == "kws01"
        port.close()
    finally:
        worker.join(30)
    assert not worker.is_alive()
