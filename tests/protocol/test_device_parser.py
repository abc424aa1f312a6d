"""The device side (firmware/protocol/tm_proto.c) compiled for the host, driven with raw frames over stdin/stdout:
one reply per frame, NAKs for damage, no state change from a damaged frame, no crash or hang on any input."""
from __future__ import annotations

import os
import select
import struct
import subprocess
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from proto_support import FAKE_INVOKE_TICKS, IN0_BYTES, decode_all, expected_outputs, run_device_stdio

from tinyml.device.protocol import (
    ACK_BIT,
    CMD_INFO,
    CMD_INVOKE,
    CMD_LOAD_INPUT,
    CMD_READ_OUTPUT,
    CMD_READ_STATS,
    CMD_TENSOR_INFO,
    ERR_BAD_CRC,
    ERR_TIMEOUT,
    ERR_TOO_LONG,
    INVOKE_RECORD,
    LOAD_HEAD,
    NAK,
    READ_ARGS,
    STATS_TAIL,
    SYNC,
    Frame,
    encode_frame,
)

FUZZ = settings(max_examples=60, deadline=None)


def nak(seq: int, error: int, request_type: int) -> Frame:
    return Frame(NAK, seq, bytes([error, request_type]))


def stats_of(frame: Frame) -> tuple[int, ...]:
    """(invokes since boot, link errors since boot) from a READ_STATS ACK."""
    assert frame.type == CMD_READ_STATS | ACK_BIT
    _, invokes, link_errors = STATS_TAIL.unpack_from(frame.payload, INVOKE_RECORD.size)
    return invokes, link_errors


def test_info_is_answered_with_the_crc_python_uses(device_exe: Path) -> None:
    (reply,) = decode_all(run_device_stdio(device_exe, encode_frame(CMD_INFO, 0xBEEF, b"")))
    assert (reply.type, reply.seq) == (CMD_INFO | ACK_BIT, 0xBEEF)
    assert reply.payload[:9] == struct.pack("<BHIBB", 1, 256, 1406, 2, 2)
    assert reply.payload[9:] == b"\x100123456789abcdef" + b"\x09host-test" + b"\x08test-1.0"


def test_every_request_error_gets_a_nak_with_its_code(device_exe: Path) -> None:
    requests = [
        (encode_frame(CMD_INFO, 1, b"", version=2), 4),
        (encode_frame(0x42, 2, b""), 5),
        (encode_frame(CMD_INFO, 3, b"x"), 6),
        (encode_frame(CMD_TENSOR_INFO, 4, bytes([1, 2])), 7),
        (encode_frame(CMD_LOAD_INPUT, 5, LOAD_HEAD.pack(0, IN0_BYTES - 1) + b"ab"), 8),
        (encode_frame(CMD_READ_OUTPUT, 6, READ_ARGS.pack(0, 0, 257)), 8),
        (encode_frame(CMD_INVOKE, 7, struct.pack("<I", 0)), 9),
    ]
    replies = decode_all(run_device_stdio(device_exe, b"".join(frame for frame, _ in requests)))
    assert [(r.type, r.seq, r.payload[0]) for r in replies] == [(NAK, i + 1, code) for i, (_, code) in
                                                                 enumerate(requests)]


def test_a_resent_invoke_is_answered_without_running_again(device_exe: Path) -> None:
    invoke = encode_frame(CMD_INVOKE, 7, struct.pack("<I", 3))
    damaged = bytearray(encode_frame(CMD_INVOKE, 9, struct.pack("<I", 3)))
    damaged[-1] ^= 1
    data = invoke + bytes(damaged) + invoke + encode_frame(CMD_READ_STATS, 8, b"") + invoke + \
        encode_frame(CMD_READ_STATS, 9, b"")
    first, nak_reply, again, stats1, rerun, stats2 = decode_all(run_device_stdio(device_exe, data))
    assert first == again and first.type == CMD_INVOKE | ACK_BIT
    assert nak_reply == nak(9, ERR_BAD_CRC, CMD_INVOKE)
    assert INVOKE_RECORD.unpack(first.payload) == (3, 3 * FAKE_INVOKE_TICKS, FAKE_INVOKE_TICKS,
                                                   FAKE_INVOKE_TICKS, FAKE_INVOKE_TICKS)
    assert stats_of(stats1) == (3, 1)
    assert rerun == first  # seq 7 again, but after another request: a new INVOKE, run again
    assert stats_of(stats2) == (6, 1)


def test_an_oversized_length_is_nakked(device_exe: Path) -> None:
    header = SYNC + bytes([1, CMD_LOAD_INPUT]) + struct.pack("<HH", 5, 257)
    assert decode_all(run_device_stdio(device_exe, header)) == [nak(5, ERR_TOO_LONG, CMD_LOAD_INPUT)]


def test_a_truncated_frame_is_nakked_after_the_byte_timeout(device_exe: Path) -> None:
    frame = encode_frame(CMD_INFO, 77, b"")
    proc = subprocess.Popen([str(device_exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(frame[:-2])
        proc.stdin.flush()
        start = time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], 2.0)
        assert ready, "no NAK for a truncated frame"
        reply = os.read(proc.stdout.fileno(), 4096)
        assert time.monotonic() - start < 1.0
        assert decode_all(reply) == [nak(77, ERR_TIMEOUT, CMD_INFO)]
        proc.stdin.write(frame)  # and the device serves the next frame normally
        proc.stdin.close()
        assert [f.type for f in decode_all(proc.stdout.read())] == [CMD_INFO | ACK_BIT]
        assert proc.wait(timeout=5) == 0
    finally:
        proc.kill()
        proc.wait()


requests = st.sampled_from([
    encode_frame(CMD_INVOKE, 1, struct.pack("<I", 2)),
    encode_frame(CMD_LOAD_INPUT, 2, LOAD_HEAD.pack(0, 0) + bytes(range(200))),
    encode_frame(CMD_LOAD_INPUT, 3, LOAD_HEAD.pack(1, 0) + b"\x10\x20\x30"),
])


@FUZZ
@given(st.lists(st.tuples(requests, st.data()), min_size=1, max_size=8))
def test_damaged_frames_never_change_the_device(device_exe: Path, damaged: list[tuple[bytes, st.DataObject]]) -> None:
    data = bytearray()
    for frame, draw in damaged:
        wire = bytearray(frame)
        for pos in draw.draw(st.sets(st.integers(2, len(wire) - 1), min_size=1, max_size=3)):
            wire[pos] ^= draw.draw(st.integers(1, 255))
        cut = draw.draw(st.integers(len(SYNC), len(wire)))  # maybe truncated too
        data += wire[:cut]
    check = [encode_frame(CMD_READ_STATS, 100, b""), encode_frame(CMD_INVOKE, 101, struct.pack("<I", 1)),
             encode_frame(CMD_READ_OUTPUT, 102, READ_ARGS.pack(0, 0, 200)),
             encode_frame(CMD_READ_OUTPUT, 103, READ_ARGS.pack(1, 0, 3))]
    # Idle bytes so that a truncated frame swallows them, not the first check frame (the device NAKs it instead).
    replies = decode_all(run_device_stdio(device_exe, bytes(data) + bytes(300) + b"".join(check)))
    *naks, stats, _, out0, out1 = replies
    assert all(r.type == NAK and r.payload[0] in (ERR_BAD_CRC, ERR_TIMEOUT, ERR_TOO_LONG) for r in naks)
    assert stats_of(stats)[0] == 0, "a damaged INVOKE was run"
    assert (out0.payload, out1.payload) == expected_outputs(bytes(200), bytes(3)), "a damaged LOAD_INPUT was stored"


@FUZZ
@given(st.lists(st.sampled_from([SYNC, SYNC + b"\x01"]) | st.binary(max_size=300), max_size=10).map(b"".join))
def test_random_bytes_never_crash_or_hang_the_device(device_exe: Path, data: bytes) -> None:
    replies = decode_all(run_device_stdio(device_exe, data, timeout_s=10.0))
    assert all(r.type == NAK for r in replies)
