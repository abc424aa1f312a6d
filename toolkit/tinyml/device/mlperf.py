"""`tinyml mlperf`: an MLPerf Tiny session against firmware built with `--app mlperf`, run in QEMU and driven the
way the MLCommons Tiny runner drives a device (benchmark/runner in mlcommons/tiny).

The emulator's UART is exposed as a pseudo-terminal (`tinyml.device.pty_bridge`) and opened with
`serial.Serial(path, 115200)`, as the runner opens its ports. Each command is `text%`; the reply is every line up to
one containing `m-ready`, each line awaited at most LINE_TIMEOUT_S (INFER_LINE_TIMEOUT_S while inferring), so no
wait is unbounded. The steps follow the runner's test scripts (tests_performance.yaml, tests_accuracy.yaml):

- performance: `loop 5: download, infer N W`, and the throughput of each window is N / (second lap - first lap);
  the report gives the median. The runner fixes N per model for silicon; here N is chosen from one probe inference
  so each window lasts `window_ms` of device time.
- accuracy: for every sample of the data set, `download` (db load + db lines) and `infer 1 0`, and the
  `m-results-[...]` of each; Top-1, or for ad01 the AUC (`tinyml.device.mlperf_data`).

Device time comes from the firmware's `m-lap-us` stamps. Under QEMU (-icount shift=0) one guest instruction takes
1 ns of virtual time, so a microsecond is 1000 instructions: a throughput of an ideal 1 GHz core that retires one
instruction per cycle, not of the board.
"""
from __future__ import annotations

import math
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import serial
from tqdm import tqdm

from tinyml.device.boards import Board
from tinyml.device.mlperf_app import MlperfApp, mlperf_app
from tinyml.device.mlperf_data import Sample, read_dataset, roc_auc, top1
from tinyml.device.pty_bridge import PtyBridge
from tinyml.device.targets.qemu import QemuSession
from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, TinymlError

MODES = ("performance", "accuracy")
BAUD = 115200
LINE_TIMEOUT_S = 5.0          # the runner's wait for each reply line
INFER_LINE_TIMEOUT_S = 30.0   # ... and while the device infers
BOOT_TIMEOUT_S = 20.0
DB_BYTES_PER_LINE = 31        # the runner's chunk (26 when it also measures energy)
WINDOWS = 5                   # the runner's performance script: loop 5
DEFAULT_WINDOW_MS = 1000.0
MAX_WARMUPS = 10
RANDOM_SEED = 0
READ_S = 0.05
_RESULTS = re.compile(r"^m-results-\[([^\]]*)\]$")
_LAP = re.compile(r"^m-lap-us-([0-9]+)$")
_FIELD = re.compile(r"^m-(name-dut|profile|model)-\[([^\]]*)\]$")
QEMU_TIME_BASIS = "QEMU -icount shift=0 virtual time: 1 ns per guest instruction (1 us = 1000 instructions)"


@dataclass(frozen=True)
class Inference:
    results: list[float]
    elapsed_us: int       # second m-lap-us minus the first


@dataclass(frozen=True)
class MlperfReport:
    board: str
    model_id: str
    mode: str
    name: str                                  # m-name-dut-[...]
    profile: str                               # m-profile-[...]
    samples: int                               # data set files (accuracy) or inputs loaded (performance)
    time_basis: str
    inferences_per_window: int = 0
    warmups: int = 0
    throughputs: list[float] = field(default_factory=list)   # inferences per second of device time, per window
    top1: float | None = None
    auc: float | None = None
    results: list[list[float]] = field(default_factory=list, repr=False)  # accuracy: per file (ad01: its windows)
    session_s: float = 0.0                     # wall time of the emulator session

    @property
    def throughput(self) -> float:
        return statistics.median(self.throughputs)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"board": self.board, "model_id": self.model_id, "mode": self.mode, "name": self.name,
                               "profile": self.profile, "samples": self.samples, "time_basis": self.time_basis,
                               "session_s": round(self.session_s, 3)}
        if self.mode == "performance":
            out |= {"throughput_median": round(self.throughput, 3), "throughputs": [round(t, 3) for t in
                                                                                  self.throughputs],
                    "inferences_per_window": self.inferences_per_window, "warmups": self.warmups}
        else:
            out |= {"top1": self.top1, "auc": self.auc, "results": self.results}
        return out


class Dut:
    """The host side of the runner protocol over an open serial port; `check` raises if the device died."""

    def __init__(self, port: serial.Serial, check: Callable[[], None] = lambda: None) -> None:
        self._port, self._check = port, check
        self._pending = b""

    def _line(self, timeout_s: float, waiting_for: str) -> str:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            self._check()
            if time.monotonic() > deadline:
                raise TinymlError(f"the device sent no line within {timeout_s:.0f} s {waiting_for}", DEVICE_FAILURE)
            try:
                self._pending += self._port.read(max(1, self._port.in_waiting))
            except (serial.SerialException, OSError) as exc:
                raise TinymlError(f"lost the device's serial port {waiting_for}: {exc}", DEVICE_FAILURE) from exc
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode(errors="replace").strip("\r\0 ")

    def until_ready(self, timeout_s: float = LINE_TIMEOUT_S, waiting_for: str = "") -> list[str]:
        """Lines up to and including the one containing `m-ready`."""
        lines: list[str] = []
        while not lines or "m-ready" not in lines[-1]:
            lines.append(self._line(timeout_s, waiting_for))
        return lines

    def send(self, text: str, timeout_s: float = LINE_TIMEOUT_S) -> list[str]:
        """Send `text%` and return its reply, whatever it says."""
        self._port.write(f"{text}%".encode())
        return self.until_ready(timeout_s, f"after '{text[:40]}'")

    def command(self, text: str, timeout_s: float = LINE_TIMEOUT_S) -> list[str]:
        """Send `text%` and return its reply; an `e-[...]` line is an error naming the command."""
        lines = self.send(text, timeout_s)
        refused = [ln for ln in lines if ln.startswith("e-[")]
        if refused:
            raise TinymlError(f"the device refused '{text[:40]}': {refused[0]}", DEVICE_FAILURE)
        return lines

    def fields(self) -> dict[str, str]:
        """name, profile and model, from the `name` and `profile` commands."""
        lines = self.command("name") + self.command("profile")
        return {m.group(1): m.group(2) for m in map(_FIELD.match, lines) if m}

    def load(self, data: bytes) -> None:
        self.command(f"db load {len(data)}")
        for start in range(0, len(data), DB_BYTES_PER_LINE):
            self.command(f"db {data[start:start + DB_BYTES_PER_LINE].hex()}")

    def infer(self, n: int, warmups: int) -> Inference:
        lines = self.command(f"infer {n} {warmups}", INFER_LINE_TIMEOUT_S)
        laps = [int(m.group(1)) for m in map(_LAP.match, lines) if m]
        found = [m.group(1) for m in map(_RESULTS.match, lines) if m]
        if len(laps) != 2 or len(found) != 1:
            raise TinymlError(f"the device's reply to 'infer {n} {warmups}' lacks its two m-lap-us lines or its "
                              f"m-results line: {lines}", DEVICE_FAILURE)
        return Inference(results=[float(x) for x in found[0].split(",") if x.strip()], elapsed_us=laps[1] - laps[0])


def random_samples(app: MlperfApp, n: int, seed: int = RANDOM_SEED) -> list[bytes]:
    """`n` inputs as the runner would send them: random bytes, or for ad01 standard normal float32 values."""
    rng = np.random.default_rng(seed)
    if app.input_format == "float":
        return [rng.standard_normal(app.db_bytes // 4).astype("<f4").tobytes() for _ in range(n)]
    return [rng.integers(0, 256, app.db_bytes, dtype=np.uint8).tobytes() for _ in range(n)]


def performance(dut: Dut, inputs: list[bytes], window_ms: float) -> tuple[int, int, list[float]]:
    """The runner's performance loop: per window `download` and `infer N W`; N from one probe inference so a window
    lasts `window_ms` of device time. Returns N, W and the throughput of each window."""
    dut.load(inputs[0])
    probe_us = max(dut.infer(1, 0).elapsed_us, 1)
    n = max(1, math.ceil(window_ms * 1000 / probe_us))
    warmups = min(MAX_WARMUPS, n)
    throughputs = []
    for window in range(WINDOWS):
        dut.load(inputs[window % len(inputs)])
        run = dut.infer(n, warmups)
        throughputs.append(n / (max(run.elapsed_us, 1) / 1e6))
    return n, warmups, throughputs


def accuracy(dut: Dut, samples: list[Sample], scores: bool, progress: bool) -> list[list[float]]:
    """The runner's accuracy loop: every window of every sample loaded and inferred once (`infer 1 0`). Per sample
    its results, or with `scores` (ad01) the one score of each of its windows."""
    out = []
    for sample in tqdm(samples, desc="mlperf", unit="sample", file=sys.stderr, disable=not progress):
        per_window = []
        for window in sample.windows:
            dut.load(window)
            per_window.append(dut.infer(1, 0).results)
        out.append([r[0] for r in per_window] if scores else per_window[0])
    return out


def session(model_path: Path, board: Board, mode: str, *, data_dir: Path | None = None,
            samples: int | None = None, mlperf_model: str | None = None, build_dir: Path | None = None,
            window_ms: float = DEFAULT_WINDOW_MS, progress: bool = False) -> MlperfReport:
    """Build (or reuse) the MLPerf app for `board`, run it in QEMU and drive one `mode` session over a pty.

    `data_dir`: a runner data set (`tinyml.device.mlperf_data`), needed for accuracy; without it performance loads
    random inputs. `samples`: use the first N files (or random inputs). `mlperf_model`: as `tinyml build`."""
    if mode not in MODES:
        raise TinymlError(f"unknown mode '{mode}'; expected one of {', '.join(MODES)}", BAD_INPUT)
    if mode == "accuracy" and data_dir is None:
        raise TinymlError("--mode accuracy needs --data DIR (the runner's data set: sample files and y_labels.csv)",
                          BAD_INPUT)
    if samples is not None and samples < 1:
        raise TinymlError(f"--samples must be at least 1, got {samples}", BAD_INPUT)
    if window_ms <= 0:
        raise TinymlError(f"--window-ms must be positive, got {window_ms}", BAD_INPUT)
    app, elf = firmware(Path(model_path), board, mlperf_model, build_dir)
    dataset = read_dataset(Path(data_dir), app.model_id, app.db_bytes, samples) if data_dir is not None else None
    inputs = ([w for s in dataset for w in s.windows][:WINDOWS] if dataset
              else random_samples(app, samples or WINDOWS))
    windows = sum(len(s.windows) for s in dataset) if dataset and mode == "accuracy" else 2 * WINDOWS + 2
    started = time.monotonic()
    with qemu_dut(board, elf, max_seconds=BOOT_TIMEOUT_S + windows * INFER_LINE_TIMEOUT_S) as dut:
        info = dut.fields()
        if info.get("model") != app.model_id:
            raise TinymlError(f"the device reports model {info.get('model')!r}, expected {app.model_id!r}",
                              DEVICE_FAILURE)
        report = dict(board=board.name, model_id=app.model_id, mode=mode, name=info.get("name-dut", ""),
                      profile=info.get("profile", ""), time_basis=QEMU_TIME_BASIS)
        if mode == "performance":
            n, warmups, throughputs = performance(dut, inputs, window_ms)
            return MlperfReport(**report, samples=len(inputs), inferences_per_window=n, warmups=warmups,
                                throughputs=throughputs, session_s=time.monotonic() - started)
        assert dataset is not None
        scored = app.result == "mse"
        results = accuracy(dut, dataset, scored, progress)
    labels = [s.label for s in dataset]
    return MlperfReport(**report, samples=len(dataset), results=results,
                        top1=None if scored else top1(results, labels),
                        auc=roc_auc([float(np.mean(r)) for r in results], labels) if scored else None,
                        session_s=time.monotonic() - started)


def firmware(model_path: Path, board: Board, mlperf_model: str | None = None,
             build_dir: Path | None = None) -> tuple[MlperfApp, Path]:
    """The app's settings for the model and its firmware for an emulated `board` (built, or reused from
    `build_dir` or the cache)."""
    from tinyml.compiler.codegen import compile_model
    from tinyml.device.bench import firmware_for

    if board.emulator is None:
        raise TinymlError(f"board {board.name} has no emulator; `tinyml mlperf` runs in QEMU", BAD_INPUT)
    with tempfile.TemporaryDirectory(prefix="tinyml-mlperf-") as tmp:
        compiled = compile_model(model_path, Path(tmp) / "model")
    app = mlperf_app(model_path, compiled.inputs, compiled.outputs, mlperf_model)
    build = firmware_for(model_path, board, compiled.model_hash, build_dir, app="mlperf", mlperf_model=mlperf_model)
    return app, build.elf


def serve(model_path: Path, board: Board, ready: Callable[[str, MlperfApp], None], *,
          mlperf_model: str | None = None, build_dir: Path | None = None, seconds: float = 3600.0) -> None:
    """Run the app in QEMU with its UART on a pty for another program (the MLCommons runner's `DUT(path)`), for at
    most `seconds` or until interrupted; `ready(path, app)` is called once the device has booted (its boot lines are
    read here, so the other program starts on a quiet line)."""
    app, elf = firmware(Path(model_path), board, mlperf_model, build_dir)
    with QemuSession(board, elf, max_seconds=seconds + BOOT_TIMEOUT_S) as qemu, PtyBridge() as bridge:
        with serial.Serial(bridge.path, BAUD, timeout=READ_S) as port:
            bridge.attach("127.0.0.1", qemu.port)
            Dut(port, check=lambda: _check(qemu, bridge)).until_ready(BOOT_TIMEOUT_S, "after boot")
        ready(bridge.path, app)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            _check(qemu, bridge)
            time.sleep(0.2)


@contextmanager
def qemu_dut(board: Board, elf: Path, max_seconds: float) -> Iterator[Dut]:
    """The MLPerf app `elf` running in `board`'s emulator, its UART on a pty opened with `serial.Serial`, booted
    (`m-init-done` ... `m-ready` read); everything is closed and reaped when the block ends."""
    with QemuSession(board, elf, max_seconds=max_seconds) as qemu, PtyBridge() as bridge:
        port = serial.Serial(bridge.path, BAUD, timeout=READ_S)   # opened before the guest starts: nothing is lost
        try:
            bridge.attach("127.0.0.1", qemu.port)
            dut = Dut(port, check=lambda: _check(qemu, bridge))
            dut.until_ready(BOOT_TIMEOUT_S, "after boot (m-init-done, m-ready)")
            yield dut
        finally:
            port.close()


def _check(qemu: QemuSession, bridge: PtyBridge) -> None:
    qemu.check()
    if not bridge.alive:
        raise TinymlError(f"QEMU ({qemu.board.emulator}): {bridge.error or 'the serial bridge stopped'}",
                          DEVICE_FAILURE)
