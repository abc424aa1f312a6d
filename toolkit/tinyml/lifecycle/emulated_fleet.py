"""Emulated devices that outlive the command that started them, so a rollout can flash and probe them like boards.

`start_fleet` runs one small supervisor process per emulated device of a fleet (`tinyml fleet emulate start`).
Each device has a folder under the fleet's `state_dir`:

- `flash.elf`: the device's "flash". Flashing (`flash_emulated`) replaces it atomically (write, then rename);
- `supervisor.json`: the supervisor's pid and the device's serial port (a fixed loopback TCP port, chosen free at
  start and kept across restarts, so `socket://127.0.0.1:PORT` reaches the device like a serial port);
- `status.json`: written by the supervisor: the image it runs (inode, mtime, size) and QEMU's pid;
- `boot`: the device's boot counter, one more at every QEMU start;
- `qemu.log`, `supervisor.log`.

A field app image (`tinyml build --app field`) is provisioned at every start, as `FieldDevice` does it: QEMU's
generic loader writes the fleet's device id and the boot counter into its identity block, so the reports of each
emulated device carry its own id (`Device.report_id`) and a new boot counter after every flash.

The supervisor runs `qemu-system-arm -icount shift=0` on the image with the UART on the port (`wait=off`: the
bench firmware sends nothing unsolicited, so nothing is lost before a client connects), polls the image and
restarts QEMU when it changes (a board's reset after programming) or when QEMU exits (a watchdog reset, at most
once per second). Without an image the device is blank: nothing listens. Bounded: QEMU dies with its supervisor
(PR_SET_PDEATHSIG), `stop_fleet` ends each supervisor by its recorded pid (SIGTERM: it stops its QEMU), and a
supervisor exits by itself after `lifetime_s` (default 12 hours).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.device.boards import Board, get_board
from tinyml.device.field_device import identity_loader_args
from tinyml.device.protocol import FORMAT_RESTART, FORMAT_TENSOR, Frame, connect
from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, TinymlError
from tinyml.field.servers import free_port
from tinyml.lifecycle.fleet import Device, Fleet
from tinyml.npyio import write_atomically

QEMU = "qemu-system-arm"
IMAGE = "flash.elf"
POLL_S = 0.05
START_WAIT_S = 15.0
RESTART_PAUSE_S = 1.0
DEFAULT_LIFETIME_S = 12 * 3600.0
_MODULE = "tinyml.lifecycle.emulated_fleet"


@dataclass(frozen=True)
class EmulatedState:
    """What `status` shows for one emulated device."""

    id: str
    board: str
    folder: Path
    supervisor_pid: int | None
    port: int | None
    qemu_pid: int | None
    image: bool

    @property
    def running(self) -> bool:
        return self.supervisor_pid is not None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "board": self.board, "folder": str(self.folder), "supervisor_pid": self.supervisor_pid,
                "port": self.port, "qemu_pid": self.qemu_pid, "image": self.image,
                "url": f"socket://127.0.0.1:{self.port}" if self.port else None}


def device_folder(fleet: Fleet, device: Device) -> Path:
    return fleet.state_dir / device.id


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _image_stamp(image: Path) -> list[int] | None:
    try:
        st = image.stat()
    except OSError:
        return None
    return [st.st_ino, st.st_mtime_ns, st.st_size]


def _alive_supervisor(folder: Path) -> dict[str, Any] | None:
    """supervisor.json when its pid is a live supervisor of this folder (not a reused pid)."""
    info = _read_json(folder / "supervisor.json")
    if info is None:
        return None
    try:
        cmdline = Path(f"/proc/{int(info['pid'])}/cmdline").read_bytes().split(b"\0")
    except (OSError, KeyError, ValueError):
        return None
    return info if _MODULE.encode() in cmdline and str(folder).encode() in cmdline else None


def state(fleet: Fleet, device: Device) -> EmulatedState:
    folder = device_folder(fleet, device)
    info = _alive_supervisor(folder)
    status = _read_json(folder / "status.json") if info else None
    return EmulatedState(device.id, device.board.name, folder, info["pid"] if info else None,
                         info["port"] if info else None, status.get("qemu_pid") if status else None,
                         (folder / IMAGE).is_file())


def emulated_devices(fleet: Fleet) -> list[Device]:
    devices = [d for d in fleet.devices if d.emulated]
    if not devices:
        raise TinymlError(f"{fleet.path}: no emulated devices (emulated = true) in the fleet", BAD_INPUT)
    return devices


def start_fleet(fleet: Fleet, lifetime_s: float = DEFAULT_LIFETIME_S) -> list[EmulatedState]:
    """Starts a supervisor for every emulated device that has none running; returns every device's state."""
    started = []
    for device in emulated_devices(fleet):
        folder = device_folder(fleet, device)
        if _alive_supervisor(folder):
            continue
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "status.json").unlink(missing_ok=True)
        port = free_port()
        log = open(folder / "supervisor.log", "ab")
        with log:
            proc = subprocess.Popen([sys.executable, "-m", _MODULE, str(folder), device.board.name, str(port),
                                     str(lifetime_s), device.id], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True)
        write_atomically(folder / "supervisor.json", json.dumps({"pid": proc.pid, "port": port,
                                                                 "board": device.board.name}).encode())
        started.append((device, folder, proc))
    for device, folder, proc in started:
        deadline = time.monotonic() + START_WAIT_S
        while _read_json(folder / "status.json") is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise TinymlError(f"the emulator supervisor of device '{device.id}' did not start; see "
                                  f"{folder / 'supervisor.log'}", DEVICE_FAILURE)
            time.sleep(POLL_S)
    return [state(fleet, d) for d in emulated_devices(fleet)]


def stop_fleet(fleet: Fleet) -> list[EmulatedState]:
    """Stops every emulated device's supervisor (and with it its QEMU); the images stay (a board keeps its flash)."""
    for device in emulated_devices(fleet):
        folder = device_folder(fleet, device)
        info = _alive_supervisor(folder)
        if info is None:
            continue
        pid = int(info["pid"])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + START_WAIT_S
        while _alive_supervisor(folder) and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(POLL_S)
        if _alive_supervisor(folder):
            os.kill(pid, signal.SIGKILL)   # its QEMU follows (PR_SET_PDEATHSIG)
            _reap(pid)
        (folder / "supervisor.json").unlink(missing_ok=True)
    return [state(fleet, d) for d in emulated_devices(fleet)]


def _reap(pid: int) -> None:
    """Collects a supervisor this process started (a zombie would still show in /proc)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def serial_url(fleet: Fleet, device: Device) -> str:
    """The device's serial port as a pyserial URL; a clear error when its supervisor is not running."""
    info = _alive_supervisor(device_folder(fleet, device))
    if info is None:
        raise TinymlError(f"emulated device '{device.id}' is not running; start the fleet's emulators with "
                          f"`tinyml fleet emulate --fleet {fleet.path} start`", DEVICE_FAILURE)
    return f"socket://127.0.0.1:{info['port']}"


def flash_emulated(fleet: Fleet, device: Device, elf: Path) -> None:
    """Replaces the device's image atomically and waits until its supervisor has restarted QEMU on it."""
    folder = device_folder(fleet, device)
    serial_url(fleet, device)
    image = folder / IMAGE
    write_atomically(image, Path(elf).read_bytes())
    stamp = _image_stamp(image)
    deadline = time.monotonic() + START_WAIT_S
    while True:
        status = _read_json(folder / "status.json") or {}
        if status.get("image") == stamp and status.get("qemu_pid"):
            return
        if time.monotonic() > deadline or not _alive_supervisor(folder):
            raise TinymlError(f"emulated device '{device.id}' did not restart on its new image within "
                              f"{START_WAIT_S:.0f} s; see {folder / 'qemu.log'}", DEVICE_FAILURE)
        time.sleep(POLL_S)


def sensor_inputs(fleet: Fleet, tensor_bytes: int, n: int, seed: int) -> np.ndarray:
    """`n` int8 input tensors of `tensor_bytes` for the emulated sensors: rows of the fleet's `[emulator] sensor`
    file from a place `seed` chooses, or uniform random bytes. Every emulated device sees the same inputs for the
    same seed, so a difference between their reports comes from their firmware alone."""
    rng = np.random.default_rng(seed)
    if fleet.sensor is None:
        return rng.integers(-128, 128, size=(n, tensor_bytes), dtype=np.int8)
    try:
        rows = np.load(fleet.sensor, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise TinymlError(f"{fleet.path}: emulator.sensor {fleet.sensor}: cannot read it ({exc})", BAD_INPUT) from exc
    rows = rows.reshape(len(rows), -1) if rows.ndim else rows
    if rows.dtype != np.int8 or rows.ndim != 2 or rows.shape[1] != tensor_bytes or not len(rows):
        raise TinymlError(f"{fleet.path}: emulator.sensor {fleet.sensor}: needs int8 input tensors of "
                          f"{tensor_bytes} bytes, one per row; it holds {rows.dtype} {rows.shape}", BAD_INPUT)
    return rows[(int(rng.integers(len(rows))) + np.arange(n)) % len(rows)]


def feed_sensor(fleet: Fleet, device: Device, inferences: int, seed: int) -> list[Frame]:
    """Streams `inferences` sensor inputs (`sensor_inputs`) into an emulated field device, asks for the current
    window's report and returns every REPORT frame it sent meanwhile (oldest first)."""
    with connect(serial_url(fleet, device), timeout_s=2.0, retries=1, boot_timeout_s=START_WAIT_S,
                 baudrate=device.board.uart.baud) as link:
        info = link.info()
        link.send_samples(FORMAT_RESTART, b"")
        raw = sensor_inputs(fleet, info.inputs[0].bytes, inferences, seed).tobytes()
        step = info.max_payload - 1
        for offset in range(0, len(raw), step):
            link.send_samples(FORMAT_TENSOR, raw[offset:offset + step])
        link.report_now()
        return link.reports()


# ---- the supervisor process ----

def _die_with_supervisor() -> None:
    """In QEMU before exec: SIGKILL when the supervisor dies, however it dies (Linux PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)


def _qemu_command(board: Board, image: Path, port: int, device_id: str, boot: int) -> list[str]:
    """QEMU on the image; a field app image gets its identity block provisioned (`device_id`, `boot`)."""
    try:
        identity = list(identity_loader_args(image, device_id.encode(), boot))
    except TinymlError:   # not a field app image: it has no identity block
        identity = []
    return [QEMU, "-M", str(board.emulator), "-nodefaults", "-display", "none", "-monitor", "none",
            "-icount", "shift=0", "-serial", f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on",
            "-kernel", str(image), *identity]


def _next_boot(folder: Path) -> int:
    """One more than the boot counter kept in the device's folder (1 for a new device)."""
    try:
        boot = int((folder / "boot").read_text()) + 1
    except (OSError, ValueError):
        boot = 1
    write_atomically(folder / "boot", str(boot).encode())
    return boot


def _stop(qemu: subprocess.Popen | None) -> None:
    if qemu is not None and qemu.poll() is None:
        qemu.terminate()
        try:
            qemu.wait(timeout=3)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.wait()


def supervise(folder: Path, board: Board, port: int, lifetime_s: float, device_id: str) -> None:
    """Keeps QEMU running on the folder's current image until SIGTERM or `lifetime_s` (see the module doc)."""
    image = folder / IMAGE
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    qemu: subprocess.Popen | None = None
    running: list[int] | None = None
    last_start = 0.0
    end = time.monotonic() + lifetime_s
    write_atomically(folder / "status.json", json.dumps({"image": None, "qemu_pid": None}).encode())
    try:
        while not stopping and time.monotonic() < end:
            stamp = _image_stamp(image)
            died = qemu is not None and qemu.poll() is not None
            if stamp != running or (died and time.monotonic() - last_start > RESTART_PAUSE_S):
                _stop(qemu)
                qemu = None
                if stamp is not None:
                    with open(folder / "qemu.log", "ab") as log:
                        qemu = subprocess.Popen(_qemu_command(board, image, port, device_id, _next_boot(folder)),
                                                stdin=subprocess.DEVNULL,
                                                stdout=log, stderr=log, preexec_fn=_die_with_supervisor)
                    last_start = time.monotonic()
                running = stamp
                write_atomically(folder / "status.json", json.dumps(
                    {"image": stamp, "qemu_pid": qemu.pid if qemu else None}).encode())
            time.sleep(POLL_S)
    finally:
        _stop(qemu)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {_MODULE}", description=supervise.__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("board")
    parser.add_argument("port", type=int)
    parser.add_argument("lifetime_s", type=float)
    parser.add_argument("device_id")
    args = parser.parse_args(argv)
    supervise(args.folder.resolve(), get_board(args.board), args.port, args.lifetime_s, args.device_id)


if __name__ == "__main__":
    main()
