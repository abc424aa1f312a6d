"""Helpers for the protocol tests: paths and build flags, the fake model's expected outputs, running the device
over stdin/stdout, and a loopback proxy that damages the link."""
from __future__ import annotations

import random
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from tinyml.device.protocol import Frame, FrameDecoder, encode_frame
from tinyml.paths import FIRMWARE_DIR

HERE = Path(__file__).parent
PROTOCOL_DIR = FIRMWARE_DIR / "protocol"
FAKE_MODEL_DIR = HERE / "fake_model"
STRICT_C = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
BYTE_TIMEOUT_MS = 20  # the device's inter-byte timeout in these builds (100 ms on boards)

# The fake model (fake_model/model.h): two inputs, two outputs.
IN0_BYTES, IN1_BYTES = 700, 3
FAKE_INVOKE_TICKS = 1_000_000_000


def expected_outputs(in0: bytes, in1: bytes) -> tuple[bytes, bytes]:
    return bytes((b + 1) & 0xFF for b in in0), bytes(b ^ 0xFF for b in in1)


def run_device_stdio(exe: Path, data: bytes, timeout_s: float = 10.0) -> bytes:
    """Feeds bytes to the device over stdin, then end of input; returns everything it sent back."""
    result = subprocess.run([str(exe)], input=data, capture_output=True, timeout=timeout_s)
    assert result.returncode == 0, f"device exited with {result.returncode}: {result.stderr!r}"
    return result.stdout


def decode_all(data: bytes) -> list[Frame]:
    """Every frame in a device's output; asserts that the output is nothing but well-formed frames."""
    frames = FrameDecoder().feed(data)
    assert b"".join(encode_frame(f.type, f.seq, f.payload) for f in frames) == data, "device sent non-frame bytes"
    return frames


Transform = Callable[[bytes], bytes]


class RandomDamage:
    """Drops or corrupts each byte with the given probabilities (seeded: the same run damages the same bytes)."""

    def __init__(self, seed: int, drop: float, corrupt: float) -> None:
        self._rng = random.Random(seed)
        self.drop, self.corrupt = drop, corrupt
        self.damaged = 0

    def __call__(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            roll = self._rng.random()
            if roll < self.drop:
                self.damaged += 1
            elif roll < self.drop + self.corrupt:
                self.damaged += 1
                out.append(byte ^ self._rng.randrange(1, 256))
            else:
                out.append(byte)
        return bytes(out)


class DropFrames:
    """Parses the device's replies and drops the first `count` frames of one type (the rest pass unchanged)."""

    def __init__(self, frame_type: int, count: int = 1) -> None:
        self._decoder = FrameDecoder()
        self.frame_type, self.left = frame_type, count

    def __call__(self, data: bytes) -> bytes:
        out = bytearray()
        for frame in self._decoder.feed(data):
            if frame.type == self.frame_type and self.left > 0:
                self.left -= 1
            else:
                out += encode_frame(frame.type, frame.seq, frame.payload)
        return bytes(out)


class LinkProxy:
    """A loopback TCP proxy between host and device that passes each direction through a transform."""

    def __init__(self, upstream_url: str, to_device: Transform, to_host: Transform) -> None:
        host, port = upstream_url.removeprefix("socket://").rsplit(":", 1)
        self._upstream = socket.create_connection((host, int(port)))
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self._server.getsockname()[1]}"
        self._transforms = (to_device, to_host)
        self._client: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            self._client, _ = self._server.accept()
        except OSError:
            return
        for src, dst, transform in ((self._client, self._upstream, self._transforms[0]),
                                    (self._upstream, self._client, self._transforms[1])):
            thread = threading.Thread(target=self._pump, args=(src, dst, transform), daemon=True)
            thread.start()
            self._threads.append(thread)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, transform: Transform) -> None:
        try:
            while data := src.recv(4096):
                dst.sendall(transform(data))
        except OSError:
            pass

    def close(self) -> None:
        for sock in (self._server, self._upstream, self._client):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
