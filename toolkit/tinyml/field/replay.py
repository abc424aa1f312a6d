"""Run emulated field devices on a stream (`tinyml field run`): the field firmware (`tinyml build --app field`) in
QEMU as `FieldDevice`s, each fed a stream's clips one by one; their REPORT frames go to a file that
`tinyml monitor --file` ingests, into a store, or to an MQTT broker.

What a device is fed depends on its build. A model with `features.json` computes its features on the chip: every
clip is streamed as int16 samples after a stream restart, so each clip is one inference over exactly the frames
the host's extractor computes for it; a `--sensor file` build reads the clips instead from a file laid out by
`sensor_stream`, which the emulator hands it (at memory speed, where QEMU's UART takes 2 to 3 s a 1-second clip).
A model without features.json takes input tensors: int8 tensors from the stream, or, for raw clips, the features
the host computes with the model's `features.json` (`HostFeatures`, `--host-features MODEL.tflite`), the device
then running the model and its statistics.
"""
from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinyml.device.protocol import Frame, encode_frame
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.features import FeatureParams
from tinyml.field.report import Report, decode_payload
from tinyml.field.streams import FULL_SCALE

if TYPE_CHECKING:
    from tinyml.device.field_device import FieldDevice

SECONDS_PER_CLIP = 120.0  # the emulator's wall-time bound per clip (QemuSession's max_seconds = clips x this)


def firmware_board(firmware: Path) -> str:
    """The board a field build was made for (its build.json), or one clear error."""
    build_json = Path(firmware) / "build.json"
    try:
        build = json.loads(build_json.read_text())
    except (OSError, ValueError) as exc:
        raise TinymlError(f"{build_json}: not a readable build.json ({exc}); give the folder of "
                          "`tinyml build MODEL --board B --app field -o DIR`", BAD_INPUT) from exc
    if build.get("app") != "field":
        raise TinymlError(f"{firmware} holds a '{build.get('app')}' build; build it with --app field", BAD_INPUT)
    return str(build["board"])


@dataclass(frozen=True)
class HostFeatures:
    """A model's input features computed on the host: its features.json (the one extractor, `tinyml.features`),
    normalised and quantized with the model input's scale and zero point, as the chip would compute them."""

    params: FeatureParams
    scale: float
    zero_point: int
    shape: tuple[int, ...]

    @staticmethod
    def of(model: Path) -> HostFeatures:
        from tinyml.compiler.ir.reader import read_tflite
        from tinyml.device.features_sources import features_json, read_features

        found = features_json(Path(model))
        if found is None:
            raise TinymlError(f"{model}: no features.json beside it (<model>.features.json, written by tinyml "
                              "quantize): the host cannot compute its input features", BAD_INPUT)
        graph = read_tflite(Path(model))
        tensor = graph.tensors[graph.inputs[0]]
        quant = tensor.quant
        if tensor.dtype != "int8" or quant is None or not quant.scale:
            raise TinymlError(f"{model}: its input is not an int8 tensor with a scale", BAD_INPUT)
        return HostFeatures(FeatureParams.from_json(read_features(found)), float(quant.scale[0]),
                            int(quant.zero_point[0]), tuple(tensor.shape[1:]))

    def features(self, clips: np.ndarray) -> np.ndarray:
        """(N, *input shape) float features of int16 clips (normalised, before quantization)."""
        from tinyml.features import extract

        out = extract(np.asarray(clips, np.float64) / FULL_SCALE, self.params)
        return out.reshape(len(clips), *self.shape)

    def quantize(self, features: np.ndarray) -> np.ndarray:
        return np.clip(np.round(features / self.scale) + self.zero_point, -128, 127).astype(np.int8)

    def tensors(self, clips: np.ndarray) -> np.ndarray:
        return self.quantize(self.features(clips))


def sensor_stream(clips: np.ndarray, params: FeatureParams, infer_every: int) -> np.ndarray:
    """int16 clips laid back to back as one sensor stream in which every inference of a device that infers each
    `infer_every` feature frames sees exactly one clip's frames, as the host's extractor computes them: each clip
    (cut or zero-padded to `clip_samples`) fills a slot of `infer_every` hops, after a lead of `infer_every -
    frames` hops (the device's first inference waits for a whole window, later ones for `infer_every` new frames)."""
    if infer_every < params.frames_between_clips:
        raise TinymlError(f"a sensor stream of whole clips needs a build whose --infer-every is at least "
                          f"{params.frames_between_clips} frames (its clips' frames must not overlap), "
                          f"got {infer_every}", BAD_INPUT)
    slot = infer_every * params.hop
    clips = np.asarray(clips, np.int16)[:, :min(params.clip_samples, slot)]  # frames read no further
    slots = np.zeros((len(clips), slot), np.int16)
    slots[:, :clips.shape[1]] = clips
    lead = np.zeros((infer_every - params.frames) * params.hop, np.int16)
    return np.concatenate([lead, slots.reshape(-1)])


def sensor_settings(firmware: Path) -> tuple[FeatureParams, int] | None:
    """For a `--sensor file` build (its build.json): the model's feature parameters and the frames per inference;
    None for a build that takes its input over the serial link."""
    try:
        field_json = json.loads((Path(firmware) / "build.json").read_text()).get("field") or {}
    except (OSError, ValueError):
        return None
    if field_json.get("sensor") != "file":
        return None
    return FeatureParams.from_json(field_json["feature_params"]), int(field_json["infer_every"])


def run_device(firmware: Path, inputs: np.ndarray, device_id: bytes, *, boot: int = 1, flush: bool = True,
               board: str | None = None) -> list[Frame]:
    """One emulated device fed `inputs` (int16 clips, or int8 input tensors), one clip or tensor per inference;
    returns its REPORT frames. `flush`: a last, partial window is reported too (REPORT_NOW).

    A `--sensor file` build reads the clips as its sensor, back to back (`sensor_stream`), from a file the
    emulator hands it; other builds take them over the serial link."""
    from tinyml.device.field_device import FieldDevice

    inputs = np.asarray(inputs)
    bound = 60.0 + SECONDS_PER_CLIP * len(inputs)
    sensor = sensor_settings(firmware)
    with tempfile.TemporaryDirectory(prefix="tinyml-sensor-") as tmp:
        sensor_file = None
        if sensor is not None:
            if inputs.dtype != np.int16:
                raise TinymlError(f"{firmware}: a --sensor file build reads int16 clips; this stream holds "
                                  f"{inputs.dtype} values", BAD_INPUT)
            sensor_file = Path(tmp) / "sensor.raw"
            sensor_file.write_bytes(sensor_stream(inputs, *sensor).astype("<i2").tobytes())
        with FieldDevice(firmware, board or firmware_board(firmware), device_id, boot, max_seconds=bound,
                         sensor_file=sensor_file) as dev:
            if sensor_file is not None:
                done = dev.wait_inferences(len(inputs), bound)
            else:
                done = _feed_over_link(dev, firmware, inputs)
            if flush and done % dev.info().field.report_every:
                dev.report_now()
            return dev.reports()


def _feed_over_link(dev: FieldDevice, firmware: Path, inputs: np.ndarray) -> int:
    """Streams `inputs` to a device over its serial link, one inference each; returns the inferences made."""
    on_chip = dev.info().field.features_on_chip
    if inputs.dtype == np.int16 and not on_chip:
        raise TinymlError(f"{firmware}: its model computes no features on the chip; stream int8 input tensors, "
                          "or raw clips with --host-features MODEL.tflite", BAD_INPUT)
    if inputs.dtype == np.int8 and on_chip:
        raise TinymlError(f"{firmware}: its model computes its features on the chip from int16 samples; this "
                          "stream holds int8 tensors", BAD_INPUT)
    done = 0
    for clip in inputs:
        if on_chip:
            dev.restart_stream()  # each clip is one whole window, as the host's extractor sees it
        done = dev.feed(clip)
    if done != len(inputs):
        raise TinymlError(f"{firmware}: {len(inputs)} clips made {done} inferences on the device; a clip must "
                          "hold exactly one model input (the model's features.json clip length)", BAD_INPUT)
    return done


def frame_bytes(frame: Frame) -> bytes:
    """A received frame as it came over the wire."""
    return encode_frame(frame.type, frame.seq, frame.payload, frame.version)


class Sink:
    """Where report frames go: `add` per device as it finishes, `close` once all are in."""

    def add(self, frames: list[Frame]) -> None: ...

    def close(self) -> str:
        """Delivers what is pending; returns where the frames went."""
        return ""


@dataclass
class FileSink(Sink):
    """A file of recorded frames (what `tinyml monitor --file` reads), written once at the end, atomically."""

    path: Path
    _data: list[bytes] = field(default_factory=list)

    def add(self, frames: list[Frame]) -> None:
        self._data += [frame_bytes(f) for f in frames]

    def close(self) -> str:
        from tinyml.npyio import write_atomically

        write_atomically(Path(self.path), b"".join(self._data))
        return str(self.path)


@dataclass
class StoreSink(Sink):
    """Straight into a store (SQLite file or PostgreSQL URL), one transaction per device."""

    url: str
    _where: str = ""

    def add(self, frames: list[Frame]) -> None:
        from tinyml.field.store import open_store

        with open_store(self.url) as db:
            db.ingest([decode_payload(f.payload) for f in frames])
            self._where = db.where

    def close(self) -> str:
        return self._where or self.url


@dataclass
class MqttSink(Sink):
    """Published with QoS 1 on each device's topic of `mqtt://HOST:PORT/TOPIC`; close waits for the PUBACKs."""

    url: str
    _reports: list[Report] = field(default_factory=list)

    def add(self, frames: list[Frame]) -> None:
        self._reports += [decode_payload(f.payload) for f in frames]

    def close(self) -> str:
        from tinyml.field.simulate import publish

        acked = publish(self.url, self._reports, clients=1)
        if acked != len(self._reports):
            raise TinymlError(f"{self.url}: the broker acknowledged {acked} of {len(self._reports)} reports",
                              BAD_INPUT)
        return self.url


@dataclass(frozen=True)
class RunSummary:
    devices: list[str]
    clips: int
    reports: int
    shift_at: int | None
    seconds: float
    to: str

    def to_json(self) -> dict:
        return {"devices": self.devices, "clips": self.clips, "reports": self.reports, "shift_at": self.shift_at,
                "seconds": round(self.seconds, 1), "to": self.to}


def device_id(prefix: str, i: int) -> bytes:
    """The i-th device's id: `<prefix>-<i>` (text, at most 32 bytes)."""
    ident = f"{prefix}-{i:04d}".encode()
    if len(ident) > 32:
        raise TinymlError(f"device id prefix '{prefix}' is too long: ids have at most 32 bytes", BAD_INPUT)
    return ident


def run_devices(firmware: Path, inputs_for: Callable[[int], np.ndarray], devices: int, sink: Sink, *,
                prefix: str = "field", boot: int = 1, shift_at: int | None = None,
                progress: Callable[[str], None] = lambda line: None) -> RunSummary:
    """`devices` emulated devices one after the other, device i fed `inputs_for(i)`; frames to `sink`."""
    board = firmware_board(firmware)
    start, ids, clips, reports = time.monotonic(), [], 0, 0
    for i in range(devices):
        ident = device_id(prefix, i)
        inputs = inputs_for(i)
        frames = run_device(firmware, inputs, ident, boot=boot, board=board)
        sink.add(frames)
        ids.append(ident.hex())
        clips += len(inputs)
        reports += len(frames)
        progress(f"device {ident.decode()}: {len(inputs)} clips, {len(frames)} reports "
                 f"({time.monotonic() - start:.0f} s)")
    return RunSummary(ids, clips, reports, shift_at, time.monotonic() - start, sink.close())
