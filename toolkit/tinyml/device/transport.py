"""Transports: the byte pipes under every device link (open, read, write, close), so that the protocol and the
bench never open a port themselves.

`SerialTransport` covers everything pyserial reaches by URL: a board on `/dev/tty*` or `COM3`, an emulator's
UART on `socket://127.0.0.1:PORT`, `rfc2217://` servers and `loop://`. Another transport (a pty, an MQTT bridge)
only has to read what arrives within a short gap, write whole buffers and close.
"""
from __future__ import annotations

from typing import Protocol

import serial

from tinyml.errors import DEVICE_FAILURE, TinymlError

READ_GAP_S = 0.1  # `read()` returns what arrived once the line has been quiet this long (empty: nothing came)


class Transport(Protocol):
    url: str

    def read(self) -> bytes:
        """What arrives within READ_GAP_S of quiet; empty when nothing came. Raises TinymlError on a lost link."""

    def write(self, data: bytes) -> None:
        """Sends all of `data`. Raises TinymlError on a lost link."""

    def close(self) -> None: ...


class SerialTransport:
    """A pyserial port or URL; every failure is a `TinymlError` with exit code DEVICE_FAILURE naming the URL."""

    def __init__(self, url: str, baudrate: int = 115200) -> None:
        self.url = url
        try:
            self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=READ_GAP_S)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TinymlError(f"cannot open {url}: {exc}", DEVICE_FAILURE) from exc

    def read(self) -> bytes:
        try:
            first = self._port.read(1)
            return first + self._port.read(self._port.in_waiting) if first else first
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from exc

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from exc

    def close(self) -> None:
        self._port.close()

    def _lost(self, exc: Exception) -> TinymlError:
        return TinymlError(f"lost the connection to {self.url}: {exc}", DEVICE_FAILURE)


def open_transport(url: str, baudrate: int = 115200) -> Transport:
    """The transport for a port name or URL (today every one is a pyserial URL)."""
    return SerialTransport(url, baudrate)
