"""Simulated field devices: each with its own id, boot counter and sequence number, reporting statistics that
`accumulate` computes over the inputs it is fed. Used by the tests and scripts/bench_fleet.py until the firmware
reports on its own."""
from __future__ import annotations

import hashlib
import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tinyml.device.statistics import StatsLayout, accumulate
from tinyml.field.drift import DriftTracker, psi
from tinyml.field.mqtt import MqttUrl, connect
from tinyml.field.mqtt import client as mqtt_client
from tinyml.field.report import Report, encode_report


@dataclass
class SimulatedDevice:
    device_id: bytes
    layout: StatsLayout
    boot: int = 1
    seq: int = 0
    firmware: str = "sim-1"
    model_hash: str = "0" * 16

    @staticmethod
    def numbered(i: int, layout: StatsLayout) -> SimulatedDevice:
        return SimulatedDevice(hashlib.sha256(f"device {i}".encode()).digest()[:8], layout)

    def report(self, inputs: np.ndarray, outputs: np.ndarray | list[np.ndarray]) -> Report:
        """The next report, over these int8 inputs and outputs (one window)."""
        self.seq += 1
        return Report(self.device_id, self.boot, self.seq, self.firmware, self.model_hash, len(inputs),
                      accumulate(inputs, outputs, self.layout))

    def reboot(self) -> None:
        self.boot += 1
        self.seq = 0


def random_inputs(rng: np.random.Generator, n: int, scale: float = 30.0, offset: float = 0.0,
                  shape: tuple[int, ...] = (49, 10)) -> np.ndarray:
    """n int8 inputs of normally distributed values (a KWS-sized 49 x 10 feature map by default)."""
    return np.clip(np.round(rng.normal(offset, scale, (n, *shape))), -128, 127).astype(np.int8)


def fleet_reports(devices: int, per_device: int, layout: StatsLayout, *, window: int = 8,
                  seed: int = 0) -> list[Report]:
    """`per_device` reports from each of `devices` simulated devices over stationary inputs, round by round."""
    x = random_inputs(np.random.default_rng(seed), window, shape=(49, layout.channels * layout.group))
    y = toy_model(x, layout.outputs[0].classes)
    sims = [SimulatedDevice.numbered(i, layout) for i in range(devices)]
    return [sim.report(x, y) for _ in range(per_device) for sim in sims]


def toy_model(x: np.ndarray, classes: int, seed: int = 0) -> np.ndarray:
    """A fixed int8 classifier for simulations: mean over all but the last axis, a random projection, a
    softmax quantized as TFLite quantizes it (scale 1/256, zero point -128)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(x.shape[-1], classes)) / np.sqrt(x.shape[-1])
    feats = x.reshape(len(x), -1, x.shape[-1]).astype(np.float64).mean(axis=1) / 32.0
    logits = feats @ w * 4.0
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return np.clip(np.round(p * 256) - 128, -128, 127).astype(np.int8)


def replay(tracker: DriftTracker, device: SimulatedDevice, windows: list[np.ndarray], classes: int) -> list[list[dict]]:
    """The alerts each window raises when `device` reports it (outputs from `toy_model`)."""
    return [tracker.update(device.report(x, toy_model(x, classes))) for x in windows]


def publish(url: str, reports: list[Report], *, clients: int = 4, timeout_s: float = 120.0,
            between: Callable[[int], None] | None = None) -> int:
    """Publishes the reports' frames with QoS 1, each on its device's topic, over `clients` connections (each
    carrying a share of the devices), and waits (bounded) until the broker has acknowledged every one; paho
    resends unacknowledged ones after a reconnect. `between(i)` runs after the i-th report is handed over (a test
    restarts the broker there). Returns the number acknowledged."""
    target = MqttUrl.parse(url)
    acked: queue.Queue[int] = queue.Queue()
    conns = []
    for i in range(clients):
        c = mqtt_client(f"tinyml-sim-{os.getpid()}-{i}", persistent=False)
        c.on_publish = lambda cl, u, mid, reason, p: acked.put(mid)
        connect(c, target, "simulated devices")
        conns.append(c)
    by_device = {device: n % clients for n, device in enumerate(dict.fromkeys(r.device for r in reports))}
    try:
        for i, r in enumerate(reports):
            conns[by_device[r.device]].publish(target.device_topic(r.device), encode_report(r), qos=1)
            if between is not None:
                between(i)
        done, deadline = 0, time.monotonic() + timeout_s
        while done < len(reports) and time.monotonic() < deadline:
            try:
                acked.get(timeout=0.5)
                done += 1
            except queue.Empty:
                continue
        return done
    finally:
        for c in conns:
            c.disconnect()
            c.loop_stop()


def sample_windows(x: np.ndarray, n: int, window: int, seed: int) -> list[np.ndarray]:
    """n report windows of `window` samples drawn (with replacement) from x: a stream replaying a data split."""
    rng = np.random.default_rng(seed)
    return [x[rng.integers(0, len(x), window)] for _ in range(n)]


class VibrationFeatures:
    """The vibration set's log-mel features (5 frames x 128 mels), int8-quantized over the training range, and
    the reference statistics of the training split under `layout` (outputs: `toy_model` with `classes`)."""

    def __init__(self, layout: StatsLayout, classes: int) -> None:
        from tinyml.train.data import load_dataset

        d = load_dataset("vibration")
        self.layout, self.classes, self.mels = layout, classes, int(d.features["n_mels"])
        self.mean, self.std = d.features["mean"], d.features["std"]
        lo, hi = float(d.x_train.min()), float(d.x_train.max())
        self.scale, self.zero = (hi - lo) / 255, int(round(-128 - lo / ((hi - lo) / 255)))
        self.train = self.quantize(d.x_train)
        self.normal = np.concatenate([d.x_val[d.y_val == 0], d.x_test[d.y_test == 0]])   # unseen, same machines
        self.faulty = np.concatenate([d.x_val[d.y_val == 1], d.x_test[d.y_test == 1]])
        self.reference = accumulate(self.train, toy_model(self.train, classes), layout)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        q = np.clip(np.round(x / self.scale) + self.zero, -128, 127).astype(np.int8)
        return q.reshape(len(x), -1, self.mels)  # frames x mel bands

    def shifted(self, gain: float = 1.0, offset: float = 0.0) -> np.ndarray:
        """Normal features of a sensor whose log-mel energy changed by a gain and an offset (raw units)."""
        raw = self.normal * self.std + self.mean
        return self.quantize(((raw * gain + offset) - self.mean) / self.std)

    def population_psi(self, x: np.ndarray) -> float:
        return float(psi(accumulate(x, toy_model(x, self.classes), self.layout).hist, self.reference.hist).max())
