"""Text lines over a device transport: what Renode's terminal tester does with a UART, for the QEMU keywords.

A line ends with `\\n` (a `\\r` before it is dropped). Waiting consumes the lines that do not match, as Renode's
tester does, and every wait is bounded.
"""
from __future__ import annotations

import re
import time

from tinyml.device.transport import Transport

LINE_END = b"\r"   # what Write Line To Uart appends: a carriage return, as a terminal's Enter key sends


class LineReader:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._pending = bytearray()
        self.seen: list[str] = []   # the lines read so far (for failure messages)

    def wait_for_line(self, content: str, timeout_s: float, regex: bool = False) -> str:
        """The first line containing `content` (or matching it as a regular expression) within `timeout_s`."""
        pattern = re.compile(content) if regex else None
        deadline = time.monotonic() + timeout_s
        while True:
            while b"\n" in self._pending:
                raw, _, rest = bytes(self._pending).partition(b"\n")
                self._pending[:] = rest
                line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
                self.seen.append(line)
                if (pattern.search(line) if pattern else content in line):
                    return line
            if time.monotonic() >= deadline:
                last = " | ".join(self.seen[-3:]) or "nothing"
                raise AssertionError(f"no line {'matching' if regex else 'containing'} {content!r} within "
                                     f"{timeout_s:g} s (last lines: {last})")
            self._pending += self.transport.read()

    def write_line(self, text: str) -> None:
        self.transport.write(text.encode() + LINE_END)
