"""Robot Framework keyword libraries for tinyml HIL suites.

`QemuKeywords` gives Renode's keyword names a meaning on QEMU, so a suite written for Renode runs unchanged on
`qemu-system-arm` (imported through the generated `tinyml-qemu.resource`; under `renode-test` Renode's own
keywords are used instead):

- `Setup`, `Teardown`: nothing to start; stop the emulator.
- `Reset Emulation`: stop the emulator and forget the machine.
- `Execute Command`: a small set of Renode monitor commands. `mach create "BOARD"` (a board name, or the name of
  a `.toml` profile beside the suite) and `sysbus LoadELF @FILE` (the image QEMU boots); anything else fails,
  naming the set.
- `Create Terminal Tester    UART    timeout=8`: the board's console UART (QEMU wires only that one); returns
  tester id 0.
- `Start Emulation`: start QEMU (`-icount shift=0`) with the UART on a loopback TCP port, and connect to it.
- `Wait For Line On Uart    TEXT    timeout=    treatAsRegex=False`: read text lines until one contains TEXT (or
  matches it); returns the line.
- `Write Line To Uart    TEXT    waitForEcho=True`: send TEXT and a carriage return; optionally wait for the echo.
- `Test Teardown`: on failure, log the emulator's own output.

`TinymlKeywords(suite_dir)` adds tinyml's keywords over the serial protocol (docs/PROTOCOL.md), on QEMU or on any
UART reachable by URL (a Renode `CreateServerSocketTerminal`, a board's serial port):
`Connect To Device`, `Device Should Run Model`, `Outputs Should Match Host Reference`,
`Latency Should Be Within Budget`, `Memory Should Be Within Budget`.

The text keywords need firmware that prints lines; the protocol firmware speaks binary frames and prints none, so
its suites use the emulator keywords to start the machine and tinyml's keywords to check it (docs/HIL.md).
Every wait is bounded: the terminal tester's timeout, the protocol's boot and invoke timeouts, and a wall-clock
limit on the emulator itself.
"""
from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

import numpy as np
from robot.api import logger
from robot.libraries.BuiltIn import BuiltIn

from tinyml.device.boards import Board, get_board, load_board
from tinyml.device.protocol import DeviceLink, NoReplyError, connect
from tinyml.device.targets.qemu import QemuSession, ticks_to_instructions
from tinyml.device.transport import SerialTransport, Transport
from tinyml.errors import TinymlError
from tinyml.hil.suite import SuiteConfig, vector_path
from tinyml.hil.uart import LineReader

TESTER_TIMEOUT_S = 8.0        # a terminal tester's timeout when the suite gives none
EMULATION_LIMIT_S = 600.0     # wall-clock limit on one QEMU run
BOOT_TIMEOUT_S = 20.0         # the device must answer INFO within this
INVOKE_TIMEOUT_S = 60.0       # one inference (QEMU runs ~100 M instructions/s; a board at its reset clock is slower)
QEMU_LIBRARY = "tinyml.hil.keywords.QemuKeywords"
EXECUTE_COMMANDS = '`mach create "BOARD"` and `sysbus LoadELF @FILE`'


def _as_float(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"{what} must be a number, got {value!r}") from None


class QemuKeywords:
    """Renode's machine and UART keywords, acting on qemu-system-arm (see the module doc)."""

    ROBOT_LIBRARY_SCOPE = "GLOBAL"

    def __init__(self) -> None:
        self._board: Board | None = None
        self._elf: Path | None = None
        self._uart: str | None = None
        self._timeout_s = TESTER_TIMEOUT_S
        self._session: QemuSession | None = None
        self._transport: Transport | None = None
        self._lines: LineReader | None = None

    # ---- suite and test fixtures (Renode's names) ----

    def setup(self) -> None:
        """Nothing to start before the first machine (Renode starts its server here)."""

    def teardown(self) -> None:
        """Stop the emulator."""
        self._stop()

    def reset_emulation(self) -> None:
        """Stop the emulator and forget the machine, its image and its tester."""
        self._stop()
        self._board = self._elf = self._uart = None

    def test_teardown(self) -> None:
        """On failure, log what QEMU itself printed (its own errors, e.g. a lockup)."""
        if self._session is not None and BuiltIn().get_variable_value("${TEST STATUS}") == "FAIL":
            logger.info(f"QEMU output: {self._session.log().strip() or '(none)'}")

    # ---- machine ----

    def execute_command(self, command: str) -> str:
        """Runs one of the Renode monitor commands QEMU can honour: `mach create "BOARD"` and
        `sysbus LoadELF @FILE`. Returns the (empty) monitor output."""
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise AssertionError(f"Execute Command: cannot parse {command!r} ({exc})") from None
        if words[:2] == ["mach", "create"] and len(words) == 3:
            self._board = self._find_board(words[2])
        elif words[:2] == ["sysbus", "LoadELF"] and len(words) == 3:
            elf = Path(words[2].removeprefix("@"))
            if not elf.is_file():
                raise AssertionError(f"sysbus LoadELF: no such file {elf}")
            self._elf = elf
        else:
            raise AssertionError(f"Execute Command on QEMU supports {EXECUTE_COMMANDS}; got {command!r}")
        return ""

    def create_terminal_tester(self, uart: str, timeout: Any = TESTER_TIMEOUT_S, machine: str | None = None) -> int:
        """Attach a tester to the console UART (the only one QEMU wires); returns its id, 0. `machine` is accepted
        for Renode's signature; QEMU runs one machine."""
        self._uart, self._timeout_s = uart, _as_float(timeout, "timeout")
        return 0

    def start_emulation(self) -> None:
        """Start QEMU with the loaded image; its console UART is then connected."""
        if self._board is None or self._elf is None:
            raise AssertionError(f"Start Emulation needs a machine and an image first: {EXECUTE_COMMANDS}")
        self._stop()
        try:
            self._session = QemuSession(self._board, self._elf, max_seconds=EMULATION_LIMIT_S).__enter__()
            self._transport = SerialTransport(self._session.url)
        except TinymlError as exc:
            self._stop()
            raise AssertionError(exc.message) from None
        self._lines = LineReader(self._transport)

    # ---- UART text ----

    def wait_for_line_on_uart(self, content: str, timeout: Any = None, testerId: Any = None,
                              treatAsRegex: bool = False) -> str:
        """The first line on the UART containing `content` (or matching it with `treatAsRegex=True`), within
        `timeout` seconds (default: the tester's). Lines before it are consumed, as by Renode's tester."""
        wait_s = self._timeout_s if timeout is None else _as_float(timeout, "timeout")
        try:
            return self._reader().wait_for_line(content, wait_s, bool(treatAsRegex))
        except AssertionError as exc:
            self._session_check()
            raise AssertionError(f"{self._uart}: {exc}") from None

    def write_line_to_uart(self, content: str = "", testerId: Any = None, waitForEcho: bool = True) -> None:
        """Send `content` and a carriage return; with `waitForEcho` wait for a line containing it."""
        self._reader().write_line(content)
        if waitForEcho:
            self.wait_for_line_on_uart(content)

    # ---- for TinymlKeywords ----

    def transport(self) -> Transport:
        """The open console UART (after Start Emulation)."""
        return self._reader().transport

    def check_emulator(self) -> None:
        self._session_check()

    # ---- internals ----

    def _reader(self) -> LineReader:
        if self._lines is None:
            raise AssertionError("the emulation is not running: Start Emulation first")
        return self._lines

    def _session_check(self) -> None:
        if self._session is not None:
            try:
                self._session.check()
            except TinymlError as exc:
                raise AssertionError(exc.message) from None

    @staticmethod
    def _find_board(name: str) -> Board:
        """A board name, or the name of a `<name>.toml` profile beside the suite (as `tinyml hil` writes)."""
        source = BuiltIn().get_variable_value("${SUITE SOURCE}")
        if source:
            local = Path(source).parent / f"{name}.toml"
            if local.is_file():
                return load_board(local)
        try:
            return get_board(name)
        except TinymlError as exc:
            raise AssertionError(f"mach create: {exc.message}") from None

    def _stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._session is not None:
            self._session.close()
        self._session = self._transport = self._lines = None


class TinymlKeywords:
    """tinyml's keywords: run the suite's test vectors over the serial protocol and check outputs and budgets."""

    ROBOT_LIBRARY_SCOPE = "GLOBAL"

    def __init__(self, suite_dir: str) -> None:
        self._dir = Path(suite_dir)
        self._config = SuiteConfig.load(self._dir)
        self._board = load_board(self._dir / f"{self._config.board}.toml")
        self._link: DeviceLink | None = None
        self._qemu = False
        self._ticks: list[int] = []

    def connect_to_device(self, url: str = "qemu") -> None:
        """Open the serial protocol: `qemu` for the UART that Start Emulation connected, else a pyserial URL
        (e.g. `socket://127.0.0.1:3456`, the TCP server of the Renode script)."""
        self._link, self._ticks = None, []
        self._qemu = url == "qemu"
        try:
            if self._qemu:
                self._link = self._link_on(self._qemu_library().transport())
            else:
                self._link = connect(url, boot_timeout_s=BOOT_TIMEOUT_S, invoke_timeout_s=INVOKE_TIMEOUT_S,
                                     baudrate=self._board.uart.baud)
        except TinymlError as exc:
            raise AssertionError(exc.message) from None

    def device_should_run_model(self) -> None:
        """The device reports this suite's model hash and board."""
        info = self._call(lambda link: link.info())
        logger.info(f"device: board {info.board_name}, firmware {info.firmware_version}, model {info.model_hash}, "
                    f"arena {info.arena_bytes} B")
        if info.model_hash != self._config.model_hash:
            raise AssertionError(f"the device runs model {info.model_hash}, the suite tests {self._config.model_hash}")
        if info.board_name != self._board.name:
            raise AssertionError(f"the device is a {info.board_name}, the suite is for {self._board.name}")

    def outputs_should_match_host_reference(self) -> None:
        """Run every vector (LOAD_INPUT, INVOKE, READ_OUTPUT) and compare each output byte for byte with the host
        build's (vectors/vNNN_expectedK.npy). Fails naming every vector that differs."""
        self.device_should_run_model()
        bad: dict[int, str] = {}
        self._ticks = []
        for i in range(self._config.vectors):
            problems = self._run_vector(i)
            if problems:
                bad[i] = "; ".join(problems)
                logger.error(f"vector {i} differs from the host reference: {bad[i]}")
            else:
                logger.info(f"vector {i}: outputs equal the host reference ({self._ticks[-1]} ticks)")
        if bad:
            first = min(bad)
            raise AssertionError(f"outputs differ from the host reference for vector(s) "
                                 f"{', '.join(map(str, bad))} of {self._config.vectors}; vector {first}: {bad[first]}")

    def latency_should_be_within_budget(self, max_ms: Any = "none") -> None:
        """The cycle counter advanced during the inferences run (a counter stuck at 0, e.g. an unmapped DWT, fails),
        and the latency estimate, count / clock_hz, is at most `max_ms` ("none": no limit)."""
        if not self._ticks:
            self._run_vector(0)
        ticks = max(self._ticks)
        if ticks == 0:
            raise AssertionError(f"{self._board.name}: the device's cycle counter did not advance during an "
                                 "inference (0 ticks); on Renode map a DWT at 0xE0001000 (the platform in renode/ "
                                 "does), on a board check the counter set-up")
        count = ticks_to_instructions(self._board, ticks) if self._qemu else ticks
        unit = "instructions" if self._qemu else "cycles"
        ms = count / self._board.clock_hz * 1e3
        logger.info(f"{count:,} {unit} per inference (slowest vector): {ms:.3f} ms at {self._board.clock_hz} Hz")
        if str(max_ms).lower() != "none":
            limit = _as_float(max_ms, "max_ms")
            if ms > limit:
                raise AssertionError(f"latency estimate {ms:.3f} ms exceeds the budget of {limit:g} ms "
                                     f"({count:,} {unit} at {self._board.clock_hz} Hz)")

    def memory_should_be_within_budget(self) -> None:
        """Flash and RAM from build.json within the board's budgets, and the device's peak stack within the
        stack reserve (`stack_bytes`)."""
        build = json.loads((self._dir / "build.json").read_text())
        logger.info(f"flash {build['flash_bytes']}/{build['flash_budget']} B, RAM {build['ram_bytes']}/"
                    f"{build['ram_budget']} B (arena {build['arena_bytes']} B)")
        problems = list(build.get("violations", []))
        if build["flash_bytes"] > build["flash_budget"] and not problems:
            problems.append(f"flash {build['flash_bytes']} B > {build['flash_budget']} B")
        if build["ram_bytes"] > build["ram_budget"] and not problems:
            problems.append(f"RAM {build['ram_bytes']} B > {build['ram_budget']} B")
        if not self._ticks:
            self._run_vector(0)   # so the stack meter has seen an inference
        stack = self._call(lambda link: link.stats()).stack_peak_bytes
        logger.info(f"peak stack {stack} B of {self._board.stack_bytes} B")
        if stack > self._board.stack_bytes:
            problems.append(f"peak stack {stack} B > the {self._board.stack_bytes} B reserve")
        if problems:
            raise AssertionError("over budget: " + "; ".join(problems))

    # ---- internals ----

    def _run_vector(self, i: int) -> list[str]:
        """Run vector i; returns what differs from the expected outputs (empty: equal)."""
        inputs = [np.load(vector_path(self._dir, i, "input", k)) for k in range(self._config.inputs)]
        expected = [np.load(vector_path(self._dir, i, "expected", k)) for k in range(self._config.outputs)]

        def run(link: DeviceLink) -> tuple[int, list[bytes]]:
            for k, x in enumerate(inputs):
                link.load_input(k, np.ascontiguousarray(x).tobytes())
            ticks = link.invoke(1).last_ticks
            return ticks, [link.read_output(k) for k in range(len(expected))]

        ticks, outputs = self._call(run)
        self._ticks.append(ticks)
        problems = []
        for k, (raw, want) in enumerate(zip(outputs, expected, strict=True)):
            got = np.frombuffer(raw, dtype=want.dtype).reshape(want.shape)
            differ = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
            if differ.size:
                first = int(differ[0])
                problems.append(f"output {k} differs at {differ.size} of {want.size} values (first at flat index "
                                f"{first}: device {got.reshape(-1)[first]}, expected {want.reshape(-1)[first]}; "
                                f"{vector_path(Path(), i, 'expected', k)})")
        return problems

    def _call(self, action: Any) -> Any:
        """Run `action(link)`; a device failure becomes a keyword failure naming the emulator's state."""
        if self._link is None:
            raise AssertionError("not connected to the device: Connect To Device first")
        try:
            return action(self._link)
        except TinymlError as exc:
            if self._qemu:
                self._qemu_library().check_emulator()
            raise AssertionError(exc.message) from None

    @staticmethod
    def _qemu_library() -> QemuKeywords:
        try:
            return BuiltIn().get_library_instance(QEMU_LIBRARY)
        except RuntimeError:
            raise AssertionError("`Connect To Device  qemu` needs the QEMU keywords (tinyml-qemu.resource); under "
                                 "Renode pass --variable UART_URL:socket://127.0.0.1:PORT") from None

    @staticmethod
    def _link_on(transport: Transport) -> DeviceLink:
        """A protocol link over the emulator's UART, once the firmware answers INFO (bounded by BOOT_TIMEOUT_S)."""
        link = DeviceLink(transport, timeout_s=1.0, retries=0, invoke_timeout_s=INVOKE_TIMEOUT_S)
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while True:
            try:
                link.info()
                break
            except NoReplyError:
                if time.monotonic() >= deadline:
                    raise
        link.retries = 3
        return link
