"""A pseudo-terminal in front of a TCP serial port: tools that open serial *device paths* (the MLPerf Tiny runner
calls `serial.Serial(path)`, not `serial_for_url`) can then talk to QEMU's UART.

    with PtyBridge() as bridge:
        port = serial.Serial(bridge.path, 115200)   # open first: opening a port flushes what is waiting
        bridge.attach("127.0.0.1", qemu.port)       # QEMU starts the guest once this connects
        ...

A thread pumps bytes both ways until `close()` (or the end of the `with` block) or until either side closes. The
pty is raw (no echo, no line editing, no CR/LF translation), so bytes pass unchanged.
"""
from __future__ import annotations

import os
import select
import socket
import threading
import tty
from types import TracebackType

from tinyml.errors import DEVICE_FAILURE, TinymlError

CONNECT_TIMEOUT_S = 5.0
POLL_S = 0.05      # how often the pump checks for `close()`
CHUNK = 4096


class PtyBridge:
    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # our own handle keeps the pty alive while the user reopens the path
        self.path = os.ttyname(self._slave)
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None  # why the pump stopped early, if it did

    def __enter__(self) -> PtyBridge:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def attach(self, host: str, port: int) -> None:
        """Connect to the TCP serial port and start pumping."""
        try:
            self._sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            raise TinymlError(f"cannot connect to the serial port at {host}:{port}: {exc}", DEVICE_FAILURE) from exc
        self._sock.setblocking(False)
        self._thread = threading.Thread(target=self._pump, name=f"pty-bridge {self.path}", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _pump(self) -> None:
        assert self._sock is not None
        sock = self._sock
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self._master, sock], [], [], POLL_S)
                if self._master in ready:
                    data = os.read(self._master, CHUNK)
                    if not data:
                        break
                    sock.sendall(data)
                if sock in ready:
                    data = sock.recv(CHUNK)
                    if not data:
                        self.error = "the emulator closed its serial port"
                        break
                    _write_all(self._master, data)
        except OSError as exc:
            self.error = str(exc)

    def close(self) -> None:
        """Stop the pump, then close the socket and both ends of the pty; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * POLL_S + 1.0)
        if self._sock is not None:
            self._sock.close()
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._master = self._slave = -1


def _write_all(fd: int, data: bytes) -> None:
    while data:
        _, writable, _ = select.select([], [fd], [], 5.0)
        if not writable:
            raise OSError("nobody reads the pty")
        data = data[os.write(fd, data):]
