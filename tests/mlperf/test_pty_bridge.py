"""The pty bridge passes every byte value both ways and stops with its session."""
from __future__ import annotations

import socket
import threading

import serial

from tinyml.device.pty_bridge import PtyBridge


def test_bytes_pass_unchanged_both_ways() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def echo() -> None:
            conn, _ = server.accept()
            with conn:
                while data := conn.recv(256):
                    conn.sendall(bytes(255 - b for b in data))

        threading.Thread(target=echo, daemon=True).start()
        with PtyBridge() as bridge:
            port = serial.Serial(bridge.path, 115200, timeout=2)
            bridge.attach("127.0.0.1", server.getsockname()[1])
            payload = bytes(range(256)) * 4   # CR, LF, ^C, ^D, XON/XOFF, NUL: nothing is interpreted
            port.write(payload)
            got = port.read(len(payload))
            port.close()
            assert got == bytes(255 - b for b in payload)
            assert bridge.alive
        assert not bridge.alive
