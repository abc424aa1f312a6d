"""Run firmware in qemu-system-arm with its first UART on a loopback TCP port (a pyserial `socket://` URL).

    with QemuSession(board, elf) as qemu:
        link = serial.serial_for_url(qemu.url, timeout=2)
        ...
        qemu.check()   # after a timeout: raises a clear error if the emulator died

Timing: `-icount shift=0` makes every guest instruction take exactly 1 ns of virtual time, so the firmware's
SysTick (clocked at the machine's modelled clock, `board.boot_clock_hz`) counts instructions: one tick is
1e9 / boot_clock_hz instructions (40 on MPS2 at 25 MHz). Checked with a 2-instruction loop run 1,000,000 times on
every emulated board (tests/firmware/test_qemu.py).

QEMU waits for the serial client before it starts the guest (`wait=on`), so no early output is lost. The process
is always reaped: on leaving the `with` block for any reason (including Ctrl-C), after `max_seconds` of wall time
(a watchdog kills it), and, on Linux, when this Python process dies (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from tinyml.device.boards import Board
from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, TinymlError

QEMU = "qemu-system-arm"
READY_MARKER = "QEMU waiting for connection on"
START_TIMEOUT_S = 10.0


def ticks_to_instructions(board: Board, ticks: int) -> int:
    """Instructions executed during `ticks` SysTick ticks of an emulated board under `-icount shift=0`."""
    return round(ticks * 1e9 / board.boot_clock_hz)


def qemu_command(board: Board, elf: Path, port: int, extra_args: tuple[str, ...] = ()) -> list[str]:
    if board.emulator is None:
        raise TinymlError(f"board {board.name} has no emulator; use a real board on --port", BAD_INPUT)
    return [QEMU, "-M", board.emulator, "-nodefaults", "-display", "none", "-monitor", "none",
            "-icount", "shift=0",
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on", "-kernel", str(elf), *extra_args]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the parent dies (Linux prctl PR_SET_PDEATHSIG).

    Linux sends it when the *thread* that started QEMU exits, so open a session in the thread that uses it."""
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)


class QemuSession:
    """One emulator run; `url` is the pyserial URL of the board's first UART."""

    def __init__(self, board: Board, elf: Path, max_seconds: float = 600.0, extra_args: tuple[str, ...] = ()) -> None:
        if shutil.which(QEMU) is None:
            raise TinymlError(f"{QEMU} not found; install qemu-system-arm (Debian: qemu-system-arm)", BAD_INPUT)
        if not Path(elf).is_file():
            raise TinymlError(f"firmware image {elf} not found; run `tinyml build` first", BAD_INPUT)
        self.board, self.elf, self.max_seconds = board, Path(elf), max_seconds
        self.extra_args = tuple(extra_args)  # e.g. QEMU logging options (tinyml.device.targets.cycle_estimate)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()
        self._watchdog: threading.Timer | None = None
        self.timed_out = False

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def __enter__(self) -> QemuSession:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _start(self) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            qemu_command(self.board, self.elf, self.port, self.extra_args), stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=self._log, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self._watchdog = threading.Timer(self.max_seconds, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY_MARKER not in self.log():
            self.check()
            if time.monotonic() > deadline:
                raise TinymlError(f"QEMU ({self.board.emulator}) did not open its serial port within "
                                  f"{START_TIMEOUT_S:.0f} s: {self._log_tail()}", DEVICE_FAILURE)
            time.sleep(0.02)

    def _expire(self) -> None:
        self.timed_out = True
        self._kill()

    def log(self) -> str:
        """Everything QEMU has written to stdout/stderr so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _log_tail(self) -> str:
        """QEMU's own messages (e.g. `qemu: fatal: Lockup ...` when the firmware crashes), else its last lines."""
        lines = [ln.strip() for ln in self.log().splitlines() if ln.strip() and READY_MARKER not in ln]
        own = [ln for ln in lines if ln.startswith("qemu") and ": warning:" not in ln]
        text = " | ".join(own[-2:] or lines[-3:]) or "no output"
        return f"the firmware crashed ({text})" if "Lockup" in text else text

    def check(self) -> None:
        """Raise a clear error if the emulator is no longer running."""
        if self.process is None or self.process.poll() is None:
            return
        if self.timed_out:
            raise TinymlError(f"QEMU ({self.board.emulator}) ran past its {self.max_seconds:.0f} s limit and "
                              "was stopped", DEVICE_FAILURE)
        raise TinymlError(f"QEMU ({self.board.emulator}) exited with code {self.process.returncode}: "
                          f"{self._log_tail()}", DEVICE_FAILURE)

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def close(self) -> None:
        """Stop and reap the emulator; safe to call twice."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._kill()
        self._log.close()
