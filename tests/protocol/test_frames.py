"""The host frame parser: round trips through line noise, rejects every damaged frame, never raises."""
from __future__ import annotations

import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from tinyml.device.protocol import MAX_PAYLOAD_LIMIT, SYNC, Frame, FrameDecoder, encode_frame

frames = st.builds(Frame, type=st.integers(0, 255), seq=st.integers(0, 0xFFFF), payload=st.binary(max_size=300))
# Noise rich in sync bytes, so that false frame starts are common.
noise = st.lists(st.sampled_from([SYNC, SYNC[:1], SYNC[1:]]) | st.binary(max_size=8), max_size=12).map(b"".join)


def decode_everything(data: bytes, chunk: int) -> list[Frame]:
    decoder = FrameDecoder(max_payload=512)
    found: list[Frame] = []
    for start in range(0, len(data), chunk):
        found += decoder.feed(data[start:start + chunk])
    while decoder.buffered:  # the line goes quiet: incomplete frames expire
        found += decoder.expire()
    return found


def test_encoding_matches_the_documented_layout() -> None:
    frame = encode_frame(0x81, 0x1234, b"\x01\x02")
    body = bytes([1, 0x81, 0x34, 0x12, 2, 0, 1, 2])
    assert frame == SYNC + body + zlib.crc32(body).to_bytes(4, "little")


@given(frames, noise, noise, st.integers(1, 64))
def test_a_frame_is_found_behind_and_before_noise(frame: Frame, before: bytes, after: bytes, chunk: int) -> None:
    data = before + encode_frame(frame.type, frame.seq, frame.payload) + after
    assert frame in decode_everything(data, chunk)


@given(frames, st.data())
def test_a_damaged_frame_is_never_accepted(frame: Frame, data: st.DataObject) -> None:
    wire = bytearray(encode_frame(frame.type, frame.seq, frame.payload))
    positions = data.draw(st.sets(st.integers(len(SYNC), len(wire) - 1), min_size=1, max_size=4))
    for pos in positions:
        wire[pos] ^= data.draw(st.integers(1, 255))
    found = decode_everything(bytes(wire), data.draw(st.integers(1, 64)))
    assert found == [], f"accepted a damaged frame: {found}"


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=600), max_size=20))
def test_random_bytes_never_raise_and_the_buffer_stays_bounded(chunks: list[bytes]) -> None:
    decoder = FrameDecoder()
    for chunk in chunks:
        decoder.feed(chunk)
        assert len(decoder._buf) <= 2 + 6 + MAX_PAYLOAD_LIMIT + 4 + len(chunk)
    while decoder.buffered:
        decoder.expire()
