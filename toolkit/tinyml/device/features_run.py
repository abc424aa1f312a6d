"""Run the generated feature extractor (firmware/features) over int16 streams on the host (host `cc`) or on an
emulated board (QEMU), through `firmware/features/parity_harness.c`: the device's int8 features after each stream
(`tm_features_reset()`, then the stream's samples), to be held against the host's numpy features
(scripts/feature_parity.py, tests/field/test_features_c.py)."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml.compiler.codegen import TensorInfo
from tinyml.compiler.codegen.features import feature_params, generate_features
from tinyml.device.boards import Board
from tinyml.device.build import FirmwareSources, hal_sources, link, render_board_sources
from tinyml.device.features_sources import FEATURES_DIR, PARITY_HARNESS, STATIC_SOURCES
from tinyml.device.targets.host import host_cflags
from tinyml.device.targets.qemu import QemuSession
from tinyml.device.transport import SerialTransport
from tinyml.errors import DEVICE_FAILURE, TinymlError
from tinyml.features import FeatureParams, extract
from tinyml.paths import HAL_DIR

REPLY_TIMEOUT_S = 120.0
BATCH = 200                  # clips per extract() call (bounds its float64 work arrays)


@dataclass(frozen=True)
class Extractor:
    """A built parity harness: the program (host executable or firmware.elf) and its window's size."""

    program: Path
    input_bytes: int


@dataclass(frozen=True)
class FeatureRun:
    features: np.ndarray     # (streams, input_bytes) int8: tm_features_window after each (zeros: too few frames)
    frames: np.ndarray       # (streams,) tm_features_frames after each
    ticks: np.ndarray        # (streams,) counter ticks inside tm_features_push (0 on the host)


def _generated(features: dict, model_input: TensorInfo, work: Path, source: str) -> tuple[list[Path], int]:
    p = feature_params(features, model_input, source)
    tables = [f for f in generate_features(features, model_input, work, source) if f.suffix == ".c"]
    return [*tables, *STATIC_SOURCES, PARITY_HARNESS], p.frames * p.coeffs


def build_host(features: dict, model_input: TensorInfo, work: Path, source: str = "features.json",
               cc: str | None = None) -> Extractor:
    """Compile the extractor and the harness with the host compiler (the model runner's flags) into `work`."""
    work.mkdir(parents=True, exist_ok=True)
    sources, size = _generated(features, model_input, work, source)
    exe = work / "features_parity"
    cmd = [cc or os.environ.get("CC", "cc"), *host_cflags(), "-DTM_FEATURES_HOST", f"-I{work}", f"-I{FEATURES_DIR}",
           *map(str, sources), "-o", str(exe), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise TinymlError(f"host compiler failed on the feature extractor: {proc.stderr.strip()[-500:]}",
                          DEVICE_FAILURE)
    return Extractor(exe, size)


def build_board(features: dict, model_input: TensorInfo, board: Board, work: Path,
                source: str = "features.json") -> Extractor:
    """Link the extractor and the harness against `board`'s start-up code and HAL into `work/firmware.elf`."""
    work.mkdir(parents=True, exist_ok=True)
    sources, size = _generated(features, model_input, work, source)
    board_c = render_board_sources(board, work, harness=False)
    link(board, FirmwareSources([*board_c, *hal_sources(board), *sources], [work, HAL_DIR, FEATURES_DIR],
                                work / "linker.ld"), work)
    return Extractor(work / "firmware.elf", size)


def _stream_bytes(streams: np.ndarray) -> bytes:
    """(n, samples) int16 -> the harness's input: per stream its sample count and samples, little-endian."""
    streams = np.asarray(streams)
    if streams.dtype != np.int16 or streams.ndim != 2:
        raise TinymlError(f"the feature harness takes (streams, samples) int16, got {streams.dtype} {streams.shape}")
    count = np.uint32(streams.shape[1]).astype("<u4").tobytes()
    return b"".join(count + s.astype("<i2").tobytes() for s in streams)


def _decode(ex: Extractor, raw: bytes, n: int) -> FeatureRun:
    row = ex.input_bytes + 8
    if len(raw) != n * row:
        raise TinymlError(f"the feature harness returned {len(raw)} bytes for {n} streams, expected {n * row}",
                          DEVICE_FAILURE)
    table = np.frombuffer(raw, np.uint8).reshape(n, row)
    counters = table[:, ex.input_bytes:].copy().view("<u4")
    return FeatureRun(table[:, :ex.input_bytes].copy().view(np.int8), counters[:, 0].copy(), counters[:, 1].copy())


def run_host(ex: Extractor, streams: np.ndarray) -> FeatureRun:
    """Each row of `streams` (int16) through the host build."""
    proc = subprocess.run([str(ex.program)], input=_stream_bytes(streams), capture_output=True)
    if proc.returncode != 0:
        raise TinymlError(f"the host feature extractor failed (exit {proc.returncode}): "
                          f"{proc.stderr.decode(errors='replace')[-500:]}", DEVICE_FAILURE)
    return _decode(ex, proc.stdout, len(streams))


def run_board(ex: Extractor, board: Board, streams: np.ndarray) -> FeatureRun:
    """Each row of `streams` (int16) through the harness in QEMU over the board's UART, one at a time."""
    row = ex.input_bytes + 8
    out = []
    with QemuSession(board, ex.program, max_seconds=REPLY_TIMEOUT_S + 60 * len(streams)) as qemu:
        link_ = SerialTransport(qemu.url)
        try:
            for one in np.asarray(streams):
                link_.write(_stream_bytes(one[None]))
                got = b""
                while len(got) < row:
                    chunk = link_.read()
                    if not chunk:
                        qemu.check()
                    got += chunk
                out.append(got[:row])
        finally:
            link_.close()
    return _decode(ex, b"".join(out), len(streams))


def to_int16(signals: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Float signals (1.0 = int16 full scale after `gain`) as a sensor's int16 samples, rounded and clamped."""
    return np.clip(np.round(np.asarray(signals) * gain * 32768.0), -32768, 32767).astype(np.int16)


def host_features(clips: np.ndarray, p: FeatureParams) -> np.ndarray:
    """The host's float32 features of int16 clips: `extract()` on samples / 32768.0, normalised."""
    return np.concatenate([extract(clips[i:i + BATCH] / 32768.0, p) for i in range(0, len(clips), BATCH)])


def calibrated_input(x: np.ndarray, shape: tuple[int, ...]) -> TensorInfo:
    """The int8 input quantization a converter calibrated on `x` gives: [min, max] widened to hold 0, 255 steps."""
    lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
    scale = float(np.float32((hi - lo) / 255.0))
    return TensorInfo("input", "int8", shape, scale, int(np.clip(round(-128 - lo / scale), -128, 127)))


def compare(run: FeatureRun, reference: np.ndarray, frames: int, unsaturated: bool = False) -> dict:
    """Streams, values compared, shares identical and off by one, max |difference| against the host's int8
    `reference` (streams, input bytes); `unsaturated`: only the values the host does not clamp to -128 or 127."""
    if (run.frames != frames).any():
        raise TinymlError(f"the extractor made {sorted(set(run.frames.tolist()))} frames per stream, expected "
                          f"{frames}", DEVICE_FAILURE)
    reference = reference[:len(run.features)].astype(np.int32)
    diff = np.abs(run.features.astype(np.int32) - reference)
    if unsaturated:
        diff = diff[(reference > -128) & (reference < 127)]
    return {"clips": len(run.features), "values": diff.size, "identical": float((diff == 0).mean()),
            "off_by_one": float((diff == 1).mean()), "max_diff": int(diff.max())}
