"""Report frames: round trip, named malformed payloads, and fuzzing (random, truncated, bit-flipped, replayed
frames are rejected or deduplicated and counted, never a crash); the device link queues reports next to replies."""
from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.field.conftest import make_reports
from tinyml.device.protocol import ACK_BIT, CMD_READ_STATS, HEADER, REPORT, SYNC, DeviceLink, FrameDecoder, encode_frame
from tinyml.field.report import (
    MalformedReport,
    ReportReader,
    decode_payload,
    decode_report_frame,
    encode_payload,
    encode_report,
)

REPORTS = make_reports(3, 2)


def test_a_report_survives_the_round_trip():
    for report in REPORTS:
        frame = encode_report(report)
        assert frame[:2] == SYNC and frame[3] == REPORT
        back = decode_report_frame(frame)
        assert (back.device_id, back.boot, back.seq, back.firmware, back.model_hash, back.window) == \
            (report.device_id, report.boot, report.seq, report.firmware, report.model_hash, report.window)
        assert back.stats.to_json() == report.stats.to_json()


def test_the_payload_layout_is_the_documented_one():
    report = REPORTS[0]
    payload = encode_payload(report)
    assert payload[0] == 1 and payload[1] == 8 and payload[2:10] == report.device_id
    boot, seq, window, inferences, runs, agree = struct.unpack_from("<IIIIII", payload, 10)
    assert (boot, seq, window, inferences, runs, agree) == (1, 1, 8, 8, 0, 0)
    lay = report.stats.layout
    size = 1 + 9 + 24 + 1 + 5 + 1 + 16 + 6 + lay.channels * (20 + 4 * lay.bins) + 9 + 4 * (4 + 16)
    assert len(payload) == size  # 10 channels x 16 bins, one output of 4 classes: 1004 bytes


@pytest.mark.parametrize("name,edit,message", [
    ("version", lambda p: b"\x02" + p[1:], "report version 2"),
    ("empty_device_id", lambda p: b"\x01\x00" + p[10:], "empty device id"),
    ("long_device_id", lambda p: b"\x01\x40" + p[2:], "at most 32"),
    ("truncated", lambda p: p[:-3], "ends inside"),
    ("trailing_bytes", lambda p: p + b"\x00", "after the statistics"),
    ("histogram_count_mismatch", lambda p: p[:91] + bytes([p[91] ^ 1]) + p[92:], "histogram sums to"),
    ("zero_channels", lambda p: p[:57] + b"\x00\x00" + p[59:], "impossible"),
])
def test_malformed_payloads_are_rejected_with_the_field_named(name, edit, message):
    payload = encode_payload(REPORTS[0])
    with pytest.raises(MalformedReport, match=message):
        decode_payload(edit(payload))


def test_a_report_frame_longer_than_the_device_receive_buffer_is_accepted():
    decoder = FrameDecoder(max_payload=256)  # what DeviceLink sets after INFO
    frame = encode_report(REPORTS[0])
    assert len(frame) > 256 and decoder.feed(frame)[0].type == REPORT


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_crash_the_reader(data):
    reader = ReportReader()
    assert reader.feed(data) == [] or all(r.device_id for r in reader.feed(b""))
    reader.expire()


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_truncated_and_bit_flipped_frames_are_rejected_and_counted(data):
    frames = [encode_report(r) for r in REPORTS]
    victim = data.draw(st.integers(0, len(frames) - 1))
    damaged = bytearray(frames[victim])
    if data.draw(st.booleans()):
        bit = data.draw(st.integers(0, len(damaged) * 8 - 1))
        damaged[bit // 8] ^= 1 << (bit % 8)
    else:
        del damaged[data.draw(st.integers(1, len(damaged) - 1)):]
    stream = b"".join(frames[:victim]) + bytes(damaged) + b"".join(frames[victim + 1:])
    reader = ReportReader()
    got = reader.feed(stream)
    while reader.decoder.buffered:
        got += reader.expire()
    keys = [(r.device, r.seq) for r in got]
    others = [(r.device, r.seq) for i, r in enumerate(REPORTS) if i != victim]
    assert keys == others or keys == [(r.device, r.seq) for r in REPORTS]  # a flip in a sync byte can't hurt
    framed = damaged[:2] == SYNC and len(damaged) >= len(SYNC) + HEADER.size  # else it is mere line noise
    assert reader.damaged + reader.malformed >= (1 if len(keys) == len(others) and framed else 0)


def test_a_frame_with_a_valid_crc_and_garbage_payload_is_malformed_not_fatal():
    reader = ReportReader()
    good = encode_report(REPORTS[0])
    got = reader.feed(encode_frame(REPORT, 7, b"\x01\x03abc") + good + encode_frame(0x81, 1, b""))
    assert len(got) == 1 and reader.malformed == 1 and reader.other_frames == 1
    assert "ends inside" in reader.last_problem


class ScriptedDevice:
    """A transport whose device answers every request after sending a report first (unsolicited)."""

    url = "scripted://device"

    def __init__(self, frames: list[bytes]) -> None:
        self._reports, self._out = frames, b""

    def write(self, data: bytes) -> None:
        _, command, seq, _ = HEADER.unpack_from(data, len(SYNC))
        stats = struct.pack("<IQIII", 0, 0, 0, 0, 0) + struct.pack("<III", 1, 2, 3)
        self._out += (self._reports.pop(0) if self._reports else b"") + encode_frame(command | ACK_BIT, seq, stats)

    def read(self) -> bytes:
        out, self._out = self._out, b""
        return out

    def close(self) -> None:
        pass


def test_the_device_link_queues_reports_that_arrive_while_awaiting_a_reply():
    frames = [encode_report(r) for r in REPORTS[:2]]
    link = DeviceLink(ScriptedDevice(list(frames)))
    assert link.request(CMD_READ_STATS, b"")[-12:] == struct.pack("<III", 1, 2, 3)
    assert link.stats().invokes_total == 2
    queued = link.reports()
    assert [decode_report_frame(encode_frame(f.type, f.seq, f.payload)).seq for f in queued] == [1, 1]
    assert link.reports() == []


def test_a_statistics_block_too_large_for_a_frame_is_refused_with_advice():
    from tinyml.device.statistics import layout_for
    from tinyml.field.simulate import SimulatedDevice

    layout = layout_for(128, [4], bins=16)
    x = np.zeros((1, 128), np.int8)
    report = SimulatedDevice.numbered(0, layout).report(x, np.zeros((1, 4), np.int8))
    with pytest.raises(Exception, match="larger group"):
        encode_report(report)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1200))
def test_random_payloads_with_a_valid_crc_are_malformed_never_a_crash(payload):
    reader = ReportReader()
    got = reader.feed(encode_frame(REPORT, 1, payload))
    assert len(got) + reader.malformed == 1


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_bit_flips_under_a_recomputed_crc_decode_or_are_malformed(data):
    payload = bytearray(encode_payload(REPORTS[0]))
    for _ in range(data.draw(st.integers(1, 4))):
        bit = data.draw(st.integers(0, len(payload) * 8 - 1))
        payload[bit // 8] ^= 1 << (bit % 8)
    try:
        decode_payload(bytes(payload))  # a flip in a sum or a string may still be a consistent report
    except MalformedReport as exc:
        assert exc.message and "\n" not in exc.message
