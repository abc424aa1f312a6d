"""Report frames: the unsolicited frame (type 0x40) a field device sends every report window.

The payload layout (version 1) is specified in docs/PROTOCOL.md, "Report frames"; the firmware implements the
same bytes. `encode_report` is what simulated devices and tests send; `decode_report` checks every length and
the statistics' internal consistency and raises `MalformedReport` for anything else, so no payload, however
damaged, gets further than one counted rejection. `ReportReader` turns a byte stream (a serial link, a recorded
file) into reports and counts what it rejects.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from tinyml.device.protocol import REPORT, VERSION, Frame, FrameDecoder, encode_frame
from tinyml.device.statistics import U32_MAX, OutputLayout, OutputStats, StatsLayout, WindowStats
from tinyml.errors import BAD_INPUT, TinymlError

REPORT_VERSION = 1
MAX_STRING = 32
HEAD = struct.Struct("<IIIIII")          # boot, seq, window length, inferences, shadow runs, shadow agree
SHAPE = struct.Struct("<HHBB")           # channels, bins, group, outputs
CHANNEL = struct.Struct("<IqQ")          # count, sum, sum of squares (then bins x u32)
OUTPUT = struct.Struct("<HHbI")          # classes, confidence bins, low-confidence q, low-confidence count


class MalformedReport(TinymlError):
    def __init__(self, message: str) -> None:
        super().__init__(message, BAD_INPUT)


@dataclass(frozen=True)
class Report:
    device_id: bytes
    boot: int
    seq: int
    firmware: str
    model_hash: str
    window: int  # inferences per report window, as configured on the device
    stats: WindowStats

    @property
    def device(self) -> str:
        """The device id as text (hex), the store's key."""
        return self.device_id.hex()


def encode_payload(report: Report) -> bytes:
    s, lay = report.stats, report.stats.layout
    parts = [bytes([REPORT_VERSION]), _string(report.device_id, "device id"),
             HEAD.pack(report.boot, report.seq, report.window, s.inferences, s.shadow_runs, s.shadow_agree),
             _string(report.firmware.encode(), "firmware version"), _string(report.model_hash.encode(), "model hash"),
             SHAPE.pack(lay.channels, lay.bins, lay.group, len(lay.outputs))]
    for c in range(lay.channels):
        parts.append(CHANNEL.pack(int(s.count[c]), int(s.sum[c]), int(s.sumsq[c])))
        parts.append(s.hist[c].astype("<u4").tobytes())
    for o, ol in zip(s.outputs, lay.outputs, strict=True):
        parts.append(OUTPUT.pack(ol.classes, ol.confidence_bins, ol.low_confidence_q, o.low_confidence))
        parts += [o.class_hist.astype("<u4").tobytes(), o.confidence_hist.astype("<u4").tobytes()]
    return b"".join(parts)


def encode_report(report: Report) -> bytes:
    """The whole frame: sync, header (type REPORT, the sequence number's low 16 bits), payload, CRC-32."""
    payload = encode_payload(report)
    if len(payload) > 4096:
        raise TinymlError(f"a report of {report.stats.layout.channels} channels x {report.stats.layout.bins} bins "
                          f"needs {len(payload)} bytes, a frame holds 4096: use fewer bins or a larger group",
                          BAD_INPUT)
    return encode_frame(REPORT, report.seq & 0xFFFF, payload)


def _string(raw: bytes, what: str) -> bytes:
    if len(raw) > MAX_STRING:
        raise TinymlError(f"the {what} is {len(raw)} bytes, at most {MAX_STRING} fit a report", BAD_INPUT)
    return bytes([len(raw)]) + raw


class _Payload:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise MalformedReport(f"report payload ends inside the {what} (byte {self.pos} of {len(self.data)})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: struct.Struct, what: str) -> tuple:
        return fmt.unpack(self.take(fmt.size, what))

    def counts(self, n: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(4 * n, what), "<u4").astype(np.uint64)

    def string(self, what: str) -> bytes:
        (length,) = self.take(1, what)
        if length > MAX_STRING:
            raise MalformedReport(f"report {what} claims {length} bytes, at most {MAX_STRING} are allowed")
        return self.take(length, what)


def decode_payload(payload: bytes) -> Report:
    """A report from a REPORT frame's payload; `MalformedReport` (one line naming the field) for anything else."""
    p = _Payload(payload)
    (version,) = p.take(1, "version")
    if version != REPORT_VERSION:
        raise MalformedReport(f"report version {version}, this host reads version {REPORT_VERSION}")
    device_id = p.string("device id")
    if not device_id:
        raise MalformedReport("report has an empty device id")
    boot, seq, window, inferences, shadow_runs, shadow_agree = p.unpack(HEAD, "header")
    try:
        firmware, model_hash = p.string("firmware version").decode(), p.string("model hash").decode()
    except UnicodeDecodeError as exc:
        raise MalformedReport(f"report firmware version or model hash is not UTF-8 ({exc.reason})") from exc
    channels, bins, group, n_outputs = p.unpack(SHAPE, "statistics shape")
    if not (channels and bins and group and n_outputs) or bins > 256:
        raise MalformedReport(f"report statistics shape is impossible ({channels} channels, {bins} bins, "
                              f"group {group}, {n_outputs} outputs)")
    count, total, squares, hists = [], [], [], []
    for c in range(channels):
        n, s, q = p.unpack(CHANNEL, f"channel {c}")
        count.append(n)
        total.append(s)
        squares.append(q)
        hists.append(p.counts(bins, f"channel {c} histogram"))
    outputs, out_layouts = [], []
    for i in range(n_outputs):
        classes, conf_bins, low_q, low = p.unpack(OUTPUT, f"output {i}")
        if not classes or not conf_bins or conf_bins > 256:
            raise MalformedReport(f"report output {i} has an impossible shape ({classes} classes, {conf_bins} bins)")
        out_layouts.append(OutputLayout(classes, conf_bins, low_q))
        outputs.append(OutputStats(p.counts(classes, f"output {i} classes"),
                                   p.counts(conf_bins, f"output {i} confidence"), low))
    if p.pos != len(payload):
        raise MalformedReport(f"report payload has {len(payload) - p.pos} bytes after the statistics")
    stats = WindowStats(StatsLayout(channels, tuple(out_layouts), bins, group), inferences, np.stack(hists),
                        np.asarray(count, np.uint64), np.asarray(total, np.int64), np.asarray(squares, np.uint64),
                        tuple(outputs), shadow_runs, shadow_agree)
    _check_consistent(stats)
    return Report(device_id, boot, seq, firmware, model_hash, window, stats)


def _check_consistent(s: WindowStats) -> None:
    """What a device that counted correctly always sends (unless a counter saturated)."""
    if s.shadow_agree > s.shadow_runs:
        raise MalformedReport("report counts more shadow agreements than shadow runs")
    for c in range(s.layout.channels):
        if s.count[c] < U32_MAX and int(s.hist[c].sum()) != int(s.count[c]):
            raise MalformedReport(f"report channel {c}: histogram sums to {int(s.hist[c].sum())}, count is "
                                  f"{int(s.count[c])}")
    for i, o in enumerate(s.outputs):
        if s.inferences < U32_MAX and (int(o.class_hist.sum()) != s.inferences
                                       or int(o.confidence_hist.sum()) != s.inferences
                                       or o.low_confidence > s.inferences):
            raise MalformedReport(f"report output {i}: class or confidence histogram does not sum to the "
                                  f"{s.inferences} inferences of the window")


@dataclass
class ReportReader:
    """Bytes in, reports out; everything else counted. Never raises on input."""

    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    malformed: int = 0        # REPORT frames whose CRC checked but whose payload did not decode
    other_frames: int = 0     # frames of other types (replies), ignored
    last_problem: str = ""

    @property
    def damaged(self) -> int:
        """False syncs skipped: bad CRC or impossible length (random or bit-flipped bytes)."""
        return self.decoder.damaged

    def feed(self, data: bytes) -> list[Report]:
        return self.accept(self.decoder.feed(data))

    def expire(self) -> list[Report]:
        return self.accept(self.decoder.expire())

    def accept(self, frames: list[Frame]) -> list[Report]:
        reports = []
        for frame in frames:
            if frame.type != REPORT:
                self.other_frames += 1
                continue
            try:
                if frame.version != VERSION:
                    raise MalformedReport(f"report frame of protocol version {frame.version}, this host speaks "
                                          f"{VERSION}")
                reports.append(decode_payload(frame.payload))
            except MalformedReport as exc:
                self.malformed += 1
                self.last_problem = exc.message
        return reports


def decode_report_frame(data: bytes) -> Report:
    """A report from exactly one whole frame (an MQTT message); `MalformedReport` for anything else."""
    reader = ReportReader()
    reports = reader.feed(data)
    if len(reports) == 1 and not reader.decoder.buffered and not reader.damaged and not reader.other_frames:
        return reports[0]
    raise MalformedReport(reader.last_problem or f"message of {len(data)} bytes is not one whole report frame")
