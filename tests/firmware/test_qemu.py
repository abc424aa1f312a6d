"""Every emulated board boots in QEMU, talks over its UART (pyserial on the TCP socket) and counts instructions
exactly and deterministically; the emulator is always reaped and its failures are clear errors."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import serial

from tests.firmware.fwtools import build_selftest
from tinyml.device.boards import all_boards, get_board
from tinyml.device.targets.qemu import QemuSession, ticks_to_instructions
from tinyml.errors import TinymlError

EMULATED = [b.name for b in all_boards() if b.emulator is not None]
LOOP_INSTRUCTIONS = 2_000_000  # selftest.c: 1,000,000 iterations of subs + bne
pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def selftest_elfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("selftest")
    return {name: build_selftest(get_board(name), root / name) for name in EMULATED}


def _measure(link: serial.Serial, delay_s: float) -> int:
    """Idle `delay_s` (the device polls its UART meanwhile), then have it time the 2,000,000-instruction loop."""
    time.sleep(delay_s)
    link.write(b"m")
    line = link.readline().decode()
    assert line.startswith("ticks "), line
    return int(line.split()[1])


@pytest.mark.parametrize("name", EMULATED)
def test_boots_talks_and_counts_instructions(name: str, selftest_elfs: dict[str, Path]) -> None:
    board = get_board(name)
    with QemuSession(board, selftest_elfs[name], max_seconds=60) as qemu:
        with serial.serial_for_url(qemu.url, timeout=10) as link:
            assert link.readline() == f"hello {name}\n".encode()
            link.write(b"AZ")
            assert link.read(2) == b"B["                                   # both directions work
            ticks = [_measure(link, delay) for delay in (0.0, 0.15, 0.05)]
            link.write(b"s")
            stack = int(link.readline().split()[1])
    # Same code, same count, whatever the host's timing (the sub-tick phase is reset at each read).
    assert len(set(ticks)) == 1, ticks
    per_tick = 1e9 / board.boot_clock_hz
    # The loop plus the counter read itself (a few dozen instructions), to within one tick.
    assert 0 <= ticks_to_instructions(board, ticks[0]) - LOOP_INSTRUCTIONS <= 100 + per_tick
    assert 0 < stack < 512


def test_two_runs_give_the_same_count(selftest_elfs: dict[str, Path]) -> None:
    board = get_board("netduinoplus2")   # 5.95 instructions per tick: the most phase-sensitive board
    counts = []
    for delay in (0.02, 0.3):
        with QemuSession(board, selftest_elfs[board.name], max_seconds=60) as qemu:
            with serial.serial_for_url(qemu.url, timeout=10) as link:
                link.readline()
                counts.append(_measure(link, delay))
    assert counts[0] == counts[1]


def test_emulator_is_reaped_on_error(selftest_elfs: dict[str, Path]) -> None:
    with pytest.raises(KeyboardInterrupt):
        with QemuSession(get_board("mps2-an385"), selftest_elfs["mps2-an385"], max_seconds=60) as qemu:
            pid = qemu.process.pid
            raise KeyboardInterrupt
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_emulator_failure_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.elf"
    junk.write_bytes(b"\x7fELF not really")
    with QemuSession(get_board("mps2-an385"), junk, max_seconds=30) as qemu:
        serial.serial_for_url(qemu.url, timeout=2).close()   # QEMU loads the image once a client connects
        qemu.process.wait(timeout=10)
        with pytest.raises(TinymlError) as err:
            qemu.check()
    assert err.value.exit_code == 4
    # QEMU runs the junk as a raw image; the guest locks up and QEMU aborts.
    assert "QEMU (mps2-an385) exited" in err.value.message
    assert "the firmware crashed (qemu: fatal: Lockup" in err.value.message


def test_wall_clock_limit_stops_a_run(selftest_elfs: dict[str, Path]) -> None:
    with QemuSession(get_board("mps2-an385"), selftest_elfs["mps2-an385"], max_seconds=1) as qemu:
        with serial.serial_for_url(qemu.url, timeout=5) as link:
            link.readline()
            time.sleep(1.5)
            with pytest.raises(TinymlError, match="ran past its 1 s limit") as err:
                qemu.check()
    assert err.value.exit_code == 4


def test_real_board_has_no_emulator(selftest_elfs: dict[str, Path]) -> None:
    with pytest.raises(TinymlError, match="nucleo-f446re has no emulator"):
        with QemuSession(get_board("nucleo-f446re"), selftest_elfs["mps2-an385"]):
            pass
