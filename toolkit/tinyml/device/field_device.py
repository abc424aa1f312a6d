"""A field device in the emulator: the field firmware (`tinyml build --app field`) in QEMU with its own identity.

    from tinyml.device.field_device import FieldDevice

    with FieldDevice("build/kws-field", "mps2-an386", device_id=b"dev-0001", boot=1) as dev:
        dev.feed(int16_samples)          # a model with features.json: raw samples, features computed on the chip
        dev.feed(int8_inputs)            # any model: its input tensors' bytes, shaped (N, ...) or flat
        dev.report_now()                 # the current window's report, now
        frames = dev.reports()           # REPORT frames (tinyml.device.protocol.Frame), oldest first
        info = dev.info()                # FieldDeviceInfo: the protocol's DeviceInfo and the app's FieldInfo

    with FieldDevice("build/kws-field-file", "mps2-an386", b"dev-0002", sensor_file=Path("clips.raw")) as dev:
        dev.wait_inferences(100, timeout_s=60)   # a `--sensor file` build reads its recorded sensor on its own

This is the contract the drift evaluation and `tinyml field run`-style commands build on; decoding the frames
belongs to the field wing (`tinyml.field.report.decode_payload(frame.payload)`), above this one.

Identity: before the CPU starts, QEMU's generic loader writes the device id and boot counter into the firmware's
identity block (`tm_field_identity`, a RAM section the start-up code leaves alone; firmware/field/tm_field_device.h),
so several emulated devices have distinct ids and a restarted one (a new `FieldDevice` with `boot + 1`) reports a
new boot counter. On a real board the chip's unique id is used (`tm_hal_device_id`) and the block counts resets.
"""
from __future__ import annotations

import json
import struct
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml.device.boards import Board, get_board
from tinyml.device.field_app import IDENTITY_SYMBOL, NM
from tinyml.device.protocol import (
    FORMAT_RESTART,
    FORMAT_SAMPLES,
    FORMAT_TENSOR,
    DeviceInfo,
    DeviceLink,
    FieldInfo,
    Frame,
    connect,
)
from tinyml.device.targets.qemu import QemuSession
from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, TinymlError

PROVISIONED = 0x31505446  # TM_FIELD_PROVISIONED (firmware/field/tm_field_device.h)
ID_MAX = 32               # TM_FIELD_ID_MAX
IDENTITY = struct.Struct("<III32s")  # magic, boot, id length, id: tm_field_identity_block
LOADER_CHUNK = 8          # the generic loader writes at most 8 bytes per `data=`


@dataclass(frozen=True)
class FieldDeviceInfo:
    device: DeviceInfo   # board, firmware, model hash, tensors (INFO)
    field: FieldInfo     # device id, boot counter, report window, counters since boot (FIELD_INFO)


def identity_loader_args(elf: Path, device_id: bytes, boot: int) -> tuple[str, ...]:
    """QEMU arguments that provision the identity block of `elf` with `device_id` and `boot` before it runs."""
    if not 1 <= len(device_id) <= ID_MAX:
        raise TinymlError(f"a device id has 1 to {ID_MAX} bytes, got {len(device_id)}", BAD_INPUT)
    if not 0 <= boot < 2**32:
        raise TinymlError(f"a boot counter is a u32, got {boot}", BAD_INPUT)
    address = identity_address(elf)
    block = IDENTITY.pack(PROVISIONED, boot, len(device_id), device_id)
    args: list[str] = []
    for offset in range(0, len(block), LOADER_CHUNK):
        chunk = block[offset:offset + LOADER_CHUNK]
        value = int.from_bytes(chunk, "little")
        args += ["-device", f"loader,addr={address + offset:#x},data={value:#x},data-len={len(chunk)}"]
    return tuple(args)


def sensor_file_args(path: Path) -> tuple[str, ...]:
    """QEMU arguments that give a `--sensor file` build (firmware/hal/common/sensor_file.c) its recorded sensor:
    semihosting on, the file as the last word of the guest's command line."""
    path = Path(path).resolve()
    if not path.is_file():
        raise TinymlError(f"sensor file {path} not found", BAD_INPUT)
    if any(c in str(path) for c in " ,"):
        raise TinymlError(f"sensor file {path}: the emulator's command line cannot carry a path with spaces or "
                          "commas; move the file", BAD_INPUT)
    return ("-semihosting-config", f"enable=on,target=native,arg=tinyml,arg={path}")


def identity_address(elf: Path) -> int:
    """The identity block's RAM address in a field app image (its symbol)."""
    if not Path(elf).is_file():
        raise TinymlError(f"firmware image {elf} not found; build it with `tinyml build --app field`", BAD_INPUT)
    out = subprocess.run([NM, str(elf)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == IDENTITY_SYMBOL:
            return int(parts[0], 16)
    raise TinymlError(f"{elf} has no {IDENTITY_SYMBOL}: build it with `tinyml build --app field`", BAD_INPUT)


class FieldDevice:
    """The field firmware running in QEMU as one device (a context manager; see the module's docstring).

    `firmware`: a build directory of `tinyml build --app field` (or its firmware.elf); `board`: a board name or
    profile with an emulator; `device_id`: 1 to 32 bytes (text is UTF-8 encoded); `boot`: the boot counter its
    reports carry. `max_seconds` bounds the emulator's wall time; `timeout_s` each reply. `sensor_file`: the raw
    int16 samples a `--sensor file` build reads as its sensor (see `sensor_file_args`).
    """

    def __init__(self, firmware: Path | str, board: Board | str, device_id: bytes | str, boot: int = 1, *,
                 max_seconds: float = 600.0, timeout_s: float = 2.0, sensor_file: Path | None = None) -> None:
        firmware = Path(firmware)
        self.elf = firmware / "firmware.elf" if firmware.is_dir() else firmware
        build_json = self.elf.parent / "build.json"
        if build_json.is_file() and json.loads(build_json.read_text()).get("app") != "field":
            raise TinymlError(f"{self.elf.parent} is not a field app build; build it with `--app field`", BAD_INPUT)
        self.board = get_board(board) if isinstance(board, str) else board
        self.device_id = device_id.encode() if isinstance(device_id, str) else bytes(device_id)
        self.boot = boot
        self._loader = identity_loader_args(self.elf, self.device_id, boot)
        if sensor_file is not None:
            self._loader += sensor_file_args(Path(sensor_file))
        self._max_seconds, self._timeout_s = max_seconds, timeout_s
        self._running = ExitStack()
        self._link: DeviceLink | None = None
        self._inferences = 0
        self._features_on_chip = False

    def __enter__(self) -> FieldDevice:
        with ExitStack() as stack:  # on any failure, whatever was started is stopped again
            qemu = stack.enter_context(QemuSession(self.board, self.elf, self._max_seconds, extra_args=self._loader))
            self._link = stack.enter_context(connect(qemu.url, timeout_s=self._timeout_s))
            self._features_on_chip = self._link.field_info().features_on_chip
            self._running = stack.pop_all()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the link and stops the emulator; safe to call twice."""
        self._running.close()
        self._link = None

    @property
    def link(self) -> DeviceLink:
        if self._link is None:
            raise TinymlError("the field device is not running; use it in a `with` block", BAD_INPUT)
        return self._link

    def feed(self, samples: np.ndarray) -> int:
        """Streams `samples` into the device and returns its inferences since boot.

        int16: raw sensor samples (the model must compute its features on the chip); int8: input tensor bytes,
        any shape (flattened; the stream continues across calls, every whole tensor is one inference). Reports
        the device sends meanwhile wait in `reports()`."""
        data = np.ascontiguousarray(samples)
        if data.dtype == np.int16:
            if not self._features_on_chip:
                raise TinymlError(f"{self.elf.parent}: the model computes no features on the chip (no "
                                  "features.json); feed its int8 input tensors", BAD_INPUT)
            fmt, raw = FORMAT_SAMPLES, data.astype("<i2").tobytes()
            step = (self.link.info().max_payload - 1) // 2 * 2
        elif data.dtype == np.int8:
            fmt, raw = FORMAT_TENSOR, data.tobytes()
            step = self.link.info().max_payload - 1
        else:
            raise TinymlError(f"a field device takes int16 samples or int8 tensor bytes, got {data.dtype}",
                              BAD_INPUT)
        for offset in range(0, len(raw), step):
            self._inferences = self.link.send_samples(fmt, raw[offset:offset + step])[0]
        return self._inferences

    def restart_stream(self) -> None:
        """Drops a partly streamed input tensor and restarts the feature extractor (window statistics stay)."""
        self.link.send_samples(FORMAT_RESTART, b"")

    def report_now(self) -> int:
        """The device sends the current window's report now and starts a new window; returns its sequence."""
        return self.link.report_now()

    def reports(self) -> list[Frame]:
        """The REPORT frames received so far, oldest first (drains the queue); decode with tinyml.field.report."""
        return self.link.reports()

    def shadow_matrix(self) -> list[list[int]]:
        """With a shadow model: the confusion matrix since boot, [production class][challenger class]."""
        return self.link.shadow_matrix()

    def info(self) -> FieldDeviceInfo:
        return FieldDeviceInfo(self.link.info(), self.link.field_info())

    def wait_inferences(self, count: int, timeout_s: float, poll_s: float = 0.1) -> int:
        """Waits until the device has made `count` inferences since boot (a `--sensor file` build reads its sensor
        on its own); returns the count, or raises naming how far it got when `timeout_s` of wall time pass."""
        deadline = time.monotonic() + timeout_s
        while (done := self.link.field_info().inferences) < count:
            if time.monotonic() > deadline:
                raise TinymlError(f"{self.elf.parent}: {done} of {count} inferences after {timeout_s:.0f} s; is the "
                                  "sensor file shorter than the stream, or the build without --sensor file?",
                                  DEVICE_FAILURE)
            time.sleep(poll_s)
        return done
