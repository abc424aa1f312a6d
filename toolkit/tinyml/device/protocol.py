"""The serial protocol, host side: frames, and `DeviceLink`, which drives a device over a transport.

The same code talks to a board on `/dev/tty*` and to the QEMU UART on `socket://127.0.0.1:PORT`
(`tinyml.device.transport`). The frame
layout, commands and error codes are specified in docs/PROTOCOL.md; firmware/protocol/tm_proto.h is the device
side and must agree with every number here.
"""
from __future__ import annotations

import random
import re
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

from tinyml.device.transport import READ_GAP_S, Transport, open_transport
from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, TinymlError

VERSION = 1
SYNC = b"\xa5\x5a"
HEADER = struct.Struct("<BBHH")  # version, type, seq, payload length (after the sync bytes)
CRC = struct.Struct("<I")  # CRC-32 (zlib) of header + payload
MAX_PAYLOAD_LIMIT = 4096  # the largest payload either side ever sends (TM_PROTO_MAX_PAYLOAD <= this)
BYTE_GAP_S = READ_GAP_S  # a frame that stalls this long is dropped (the device uses TM_PROTO_BYTE_TIMEOUT_MS)

CMD_INFO = 0x01
CMD_TENSOR_INFO = 0x02
CMD_LOAD_INPUT = 0x03
CMD_INVOKE = 0x04
CMD_READ_OUTPUT = 0x05
CMD_READ_STATS = 0x06
# The field app's commands (firmware/field/tm_field.h; docs/PROTOCOL.md "Field commands").
CMD_SAMPLES = 0x07
CMD_REPORT_NOW = 0x08
CMD_FIELD_INFO = 0x09
CMD_SHADOW_MATRIX = 0x0A
FORMAT_SAMPLES, FORMAT_TENSOR, FORMAT_RESTART = 0, 1, 2  # SAMPLES: int16 raw samples, int8 tensor bytes, restart
ACK_BIT = 0x80
NAK = 0xFF
REPORT = 0x40  # unsolicited field report (docs/PROTOCOL.md, "Report frames"); no request or ACK uses it
COMMAND_NAMES = {CMD_INFO: "INFO", CMD_TENSOR_INFO: "TENSOR_INFO", CMD_LOAD_INPUT: "LOAD_INPUT",
                 CMD_INVOKE: "INVOKE", CMD_READ_OUTPUT: "READ_OUTPUT", CMD_READ_STATS: "READ_STATS",
                 CMD_SAMPLES: "SAMPLES", CMD_REPORT_NOW: "REPORT_NOW", CMD_FIELD_INFO: "FIELD_INFO",
                 CMD_SHADOW_MATRIX: "SHADOW_MATRIX"}

# NAK error codes. Link errors mean the frame was damaged on the way: the request is sent again.
ERR_BAD_CRC, ERR_TIMEOUT, ERR_TOO_LONG = 1, 2, 3
LINK_ERRORS = {ERR_BAD_CRC: "bad CRC", ERR_TIMEOUT: "truncated frame", ERR_TOO_LONG: "frame too long"}
REQUEST_ERRORS = {4: "unsupported protocol version", 5: "unknown command", 6: "wrong payload length",
                  7: "no such tensor", 8: "offset or length outside the tensor", 9: "bad argument"}

TENSOR_KIND_INPUT, TENSOR_KIND_OUTPUT = 0, 1
LOAD_HEAD = struct.Struct("<BI")  # index, offset; the data follows
READ_ARGS = struct.Struct("<BIH")  # index, offset, length
TENSOR_INFO = struct.Struct("<BBBIfi")  # kind, index, type, bytes, scale, zero point
INVOKE_RECORD = struct.Struct("<IQIII")  # count, total ticks, last, min, max
STATS_TAIL = struct.Struct("<III")  # peak stack bytes, invokes since boot, link errors since boot
SAMPLES_ACK = struct.Struct("<II")  # inferences since boot, reports sent since boot
# FIELD_INFO after the device id: boot, report every, infer every, features on chip, shadow every, statistics
# bytes, inferences, reports, model ticks, statistics ticks, shadow ticks
FIELD_INFO = struct.Struct("<IIIBIIIIQQQ")


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes
    version: int = VERSION


def encode_frame(frame_type: int, seq: int, payload: bytes, version: int = VERSION) -> bytes:
    """One frame: sync, header, payload, CRC-32 over header + payload."""
    body = HEADER.pack(version, frame_type, seq, len(payload)) + payload
    return SYNC + body + CRC.pack(zlib.crc32(body))


class FrameDecoder:
    """Incremental frame parser: bytes in, frames whose CRC checks out, never anything else.

    After a bad CRC or an impossible length, scanning resumes one byte after the false sync, so a real frame
    hidden behind line noise is still found. `expire()` gives up on an incomplete frame (call it when the line
    has been quiet for `BYTE_GAP_S`). Buffered data stays below one maximal frame plus one read. Report frames
    may be longer than `max_payload` (the device sends them from its statistics, not its receive buffer), up to
    MAX_PAYLOAD_LIMIT. `damaged` counts false syncs skipped (bad CRC or impossible length).
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD_LIMIT) -> None:
        self.max_payload = max_payload
        self.damaged = 0
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held back: an incomplete frame, or a lone first sync byte."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while True:
            start = self._buf.find(SYNC)
            if start < 0:  # keep a trailing first sync byte: its partner may come next
                del self._buf[:len(self._buf) - 1 if self._buf.endswith(SYNC[:1]) else len(self._buf)]
                return frames
            del self._buf[:start]
            if len(self._buf) < len(SYNC) + HEADER.size:
                return frames
            version, frame_type, seq, length = HEADER.unpack_from(self._buf, len(SYNC))
            if length > (MAX_PAYLOAD_LIMIT if frame_type == REPORT else self.max_payload):
                self.damaged += 1
                del self._buf[:1]
                continue
            end = len(SYNC) + HEADER.size + length + CRC.size
            if len(self._buf) < end:
                return frames
            body = bytes(self._buf[len(SYNC):end - CRC.size])
            if zlib.crc32(body) != CRC.unpack_from(self._buf, end - CRC.size)[0]:
                self.damaged += 1
                del self._buf[:1]
                continue
            frames.append(Frame(frame_type, seq, body[HEADER.size:], version))
            del self._buf[:end]

    def expire(self) -> list[Frame]:
        """Drops the incomplete frame at the head of the buffer; returns any frames found behind it."""
        if not self._buf:
            return []
        self.damaged += self._buf.startswith(SYNC)  # a truncated frame, not a lone first sync byte
        del self._buf[:1]
        return self.feed(b"")


@dataclass(frozen=True)
class DeviceTensor:
    """A model input or output as the device describes it (the compiler's `TensorInfo` is the host's view)."""

    index: int
    bytes: int
    type: int  # TFLite TensorType code
    scale: float
    zero_point: int


@dataclass(frozen=True)
class DeviceInfo:
    protocol_version: int
    max_payload: int
    arena_bytes: int
    model_hash: str
    board_name: str
    firmware_version: str
    inputs: tuple[DeviceTensor, ...]
    outputs: tuple[DeviceTensor, ...]

    @property
    def registry_id(self) -> str | None:
        """NAME@VERSION of the registered model the firmware was built from (None: built from a file)."""
        return parse_firmware_version(self.firmware_version)["registry_id"]

    @property
    def lineage_hash(self) -> str | None:
        return parse_firmware_version(self.firmware_version)["lineage_hash"]


_IDENTITY = re.compile(r"(?:^|\s)(?P<id>\S+@\d+) lin:(?P<lineage>[0-9a-f]{8})$")


def parse_firmware_version(text: str) -> dict[str, str | None]:
    """INFO's firmware string ("tinyml 0.1.0", or "tinyml 0.1.0 kws@3 lin:ab12cd34" for a firmware built from a
    registered version, see tinyml.device.build.firmware_string) as its parts."""
    match = _IDENTITY.search(text)
    return {"version": text, "registry_id": match["id"] if match else None,
            "lineage_hash": match["lineage"] if match else None}


@dataclass(frozen=True)
class InvokeResult:
    count: int
    total_ticks: int
    last_ticks: int
    min_ticks: int
    max_ticks: int


@dataclass(frozen=True)
class FieldInfo:
    """A field device's identity, configuration and counters since boot (FIELD_INFO)."""

    device_id: bytes
    boot: int
    report_every: int        # inferences per report window
    infer_every: int         # new feature frames per inference (1 for a tensor stream)
    features_on_chip: bool   # True: SAMPLES takes int16 raw samples; False: int8 input tensor bytes
    shadow_every: int        # 0 without a shadow model
    stats_bytes: int         # sizeof the statistics block
    inferences: int
    reports: int
    model_ticks: int         # ticks in tm_model_invoke() since boot
    stats_ticks: int         # ticks accumulating statistics since boot
    shadow_ticks: int        # ticks in the shadow model and its comparison since boot


@dataclass(frozen=True)
class DeviceStats:
    last_invoke: InvokeResult
    stack_peak_bytes: int
    invokes_total: int  # since boot
    link_errors: int  # damaged frames the device has NAKed since boot


def _device_error(message: str) -> TinymlError:
    return TinymlError(message, DEVICE_FAILURE)


class NoReplyError(TinymlError):
    """A request went unanswered (or only damaged frames came back) through every attempt."""

    def __init__(self, message: str) -> None:
        super().__init__(message, DEVICE_FAILURE)


class _ReplyPayload:
    """Reads fields off a reply payload; a short or overlong payload is a device failure, never an IndexError."""

    def __init__(self, what: str, payload: bytes) -> None:
        self._what, self._data, self._pos = what, payload, 0

    def unpack(self, fmt: struct.Struct) -> tuple[Any, ...]:
        if self._pos + fmt.size > len(self._data):
            raise _device_error(f"device sent a short {self._what} reply ({len(self._data)} bytes)")
        values = fmt.unpack_from(self._data, self._pos)
        self._pos += fmt.size
        return values

    def string(self) -> str:
        (length,) = self.unpack(struct.Struct("<B"))
        raw = self.unpack(struct.Struct(f"<{length}s"))[0]
        return raw.decode("utf-8", errors="replace")

    def done(self) -> None:
        if self._pos != len(self._data):
            raise _device_error(f"device sent a {self._what} reply of unexpected length ({len(self._data)} bytes)")


class DeviceLink:
    """A connection to a device running the tinyml protocol. Every request waits for its reply (stop-and-wait).

    A request whose reply does not arrive within `timeout_s` (INVOKE: `invoke_timeout_s`), or that the device
    reports as damaged, is sent again with the same sequence number, up to `retries` more times; the device
    answers a resent INVOKE from its record instead of running the model again. Every failure is a
    `TinymlError` with exit code 4.
    """

    def __init__(self, port: Transport | str, timeout_s: float = 1.0, retries: int = 3, *,
                 invoke_timeout_s: float = 60.0, baudrate: int = 115200) -> None:
        self._port = open_transport(port, baudrate) if isinstance(port, str) else port
        self.url = self._port.url
        self.timeout_s = timeout_s
        self.retries = retries
        self.invoke_timeout_s = invoke_timeout_s
        self._decoder = FrameDecoder()
        self._backlog: list[Frame] = []  # frames decoded but not yet looked at
        self._reports: list[Frame] = []  # unsolicited REPORT frames that arrived while awaiting replies
        self._seq = random.randrange(0x10000)  # a fresh link never collides with the device's last INVOKE
        self._info: DeviceInfo | None = None

    def __enter__(self) -> DeviceLink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._port.close()

    # ---- commands ----

    def info(self) -> DeviceInfo:
        """Board, firmware and model description (asked once per link, then cached)."""
        if self._info is None:
            reply = _ReplyPayload("INFO", self.request(CMD_INFO, b""))
            version, max_payload, arena, n_in, n_out = reply.unpack(struct.Struct("<BHIBB"))
            model_hash, board, firmware = reply.string(), reply.string(), reply.string()
            reply.done()
            if not 0 < max_payload <= MAX_PAYLOAD_LIMIT:
                raise _device_error(f"device reports an impossible maximum payload of {max_payload} bytes")
            self._decoder.max_payload = max_payload
            self._info = DeviceInfo(version, max_payload, arena, model_hash, board, firmware,
                                    tuple(self._tensor_info(TENSOR_KIND_INPUT, i) for i in range(n_in)),
                                    tuple(self._tensor_info(TENSOR_KIND_OUTPUT, i) for i in range(n_out)))
        return self._info

    def load_input(self, index: int, data: bytes) -> None:
        """Writes a whole input tensor, in chunks that fit the device's receive buffer."""
        info = self.info()
        tensor = _pick(info.inputs, index, "input")
        if len(data) != tensor.bytes:
            raise TinymlError(f"input {index} needs {tensor.bytes} bytes, got {len(data)}", BAD_INPUT)
        chunk = info.max_payload - LOAD_HEAD.size
        for offset in range(0, len(data), chunk):
            reply = self.request(CMD_LOAD_INPUT, LOAD_HEAD.pack(index, offset) + data[offset:offset + chunk])
            _ReplyPayload("LOAD_INPUT", reply).done()

    def invoke(self, n: int = 1) -> InvokeResult:
        """Runs the model n times back to back; ticks are measured around each tm_model_invoke() alone."""
        if not 1 <= n < 2**32:
            raise TinymlError(f"invoke count must be between 1 and 2^32 - 1, got {n}", BAD_INPUT)
        reply = self.request(CMD_INVOKE, struct.pack("<I", n), timeout_s=self.invoke_timeout_s)
        result = _invoke_result(_ReplyPayload("INVOKE", reply))
        if result.count != n:
            raise _device_error(f"device ran {result.count} invokes, {n} were asked for")
        return result

    def read_output(self, index: int) -> bytes:
        """Reads a whole output tensor, chunk by chunk."""
        info = self.info()
        tensor = _pick(info.outputs, index, "output")
        out = bytearray()
        while len(out) < tensor.bytes:
            length = min(info.max_payload, tensor.bytes - len(out))
            reply = self.request(CMD_READ_OUTPUT, READ_ARGS.pack(index, len(out), length))
            if len(reply) != length:
                raise _device_error(f"device sent {len(reply)} bytes of output {index}, {length} were asked for")
            out += reply
        return bytes(out)

    def stats(self) -> DeviceStats:
        """The last INVOKE's ticks, peak stack use, and counters since boot."""
        reply = _ReplyPayload("READ_STATS", self.request(CMD_READ_STATS, b""))
        last = _invoke_result(reply, check_done=False)
        stack, invokes, link_errors = reply.unpack(STATS_TAIL)
        reply.done()
        return DeviceStats(last, stack, invokes, link_errors)

    def send_samples(self, fmt: int, data: bytes) -> tuple[int, int]:
        """Field app: one SAMPLES frame (FORMAT_*, at most max_payload - 1 bytes of data); returns (inferences,
        reports) since boot. A resend runs nothing twice: the device answers it from its counters."""
        if len(data) > self.info().max_payload - 1:
            raise TinymlError(f"SAMPLES carries at most {self.info().max_payload - 1} bytes, got {len(data)}",
                              BAD_INPUT)
        reply = _ReplyPayload("SAMPLES", self.request(CMD_SAMPLES, bytes([fmt]) + data,
                                                      timeout_s=self.invoke_timeout_s))
        counts = reply.unpack(SAMPLES_ACK)
        reply.done()
        return counts

    def report_now(self) -> int:
        """Field app: the device sends its current window's report (queued in `reports()`); returns its sequence
        number."""
        reply = _ReplyPayload("REPORT_NOW", self.request(CMD_REPORT_NOW, b""))
        (seq,) = reply.unpack(struct.Struct("<I"))
        reply.done()
        return seq

    def field_info(self) -> FieldInfo:
        """Field app: device id, boot counter, configuration and counters since boot."""
        reply = _ReplyPayload("FIELD_INFO", self.request(CMD_FIELD_INFO, b""))
        device_id = reply.unpack(struct.Struct("<B"))[0]
        raw_id = reply.unpack(struct.Struct(f"<{device_id}s"))[0]
        values = reply.unpack(FIELD_INFO)
        reply.done()
        return FieldInfo(raw_id, *values[:3], bool(values[3]), *values[4:])

    def shadow_matrix(self) -> list[list[int]]:
        """Field app with a shadow model: the confusion matrix since boot, [production class][challenger class]."""
        cells: list[int] = []
        classes = 1
        while not cells or len(cells) < classes * classes:
            reply = _ReplyPayload("SHADOW_MATRIX", self.request(CMD_SHADOW_MATRIX, struct.pack("<H", len(cells))))
            classes, first, n = reply.unpack(struct.Struct("<HHH"))
            if first != len(cells) or n == 0 and len(cells) < classes * classes:
                raise _device_error(f"device sent confusion cells from {first} ({n} of them), {len(cells)} was asked")
            cells += reply.unpack(struct.Struct(f"<{n}I"))
            reply.done()
        return [cells[r * classes:(r + 1) * classes] for r in range(classes)]

    def reports(self) -> list[Frame]:
        """The REPORT frames received so far (decode them with tinyml.field.report), oldest first; drains the queue."""
        drained, self._reports = self._reports, []
        return drained

    # ---- requests ----

    def request(self, command: int, payload: bytes, timeout_s: float | None = None) -> bytes:
        """Sends one request and returns the payload of its ACK, resending on silence or a damaged frame."""
        name = COMMAND_NAMES.get(command, f"command 0x{command:02x}")
        self._seq = (self._seq + 1) & 0xFFFF
        frame = encode_frame(command, self._seq, payload)
        wait_s = self.timeout_s if timeout_s is None else timeout_s
        problem = ""
        for _ in range(self.retries + 1):
            self._port.write(frame)
            reply = self._await_reply(command, name, wait_s)
            if isinstance(reply, bytes):
                return reply
            problem = reply
        raise NoReplyError(f"device at {self.url} did not answer {name} after {self.retries + 1} attempt(s) "
                           f"(last: {problem})")

    def _await_reply(self, command: int, name: str, wait_s: float) -> bytes | str:
        """The ACK payload for the current request, or why to resend it. Stale replies are skipped."""
        deadline = time.monotonic() + wait_s
        while True:
            frame = self._next_frame(deadline)
            if frame is None:
                return f"no reply within {wait_s:g} s"
            if frame.version != VERSION:
                raise _device_error(f"device speaks protocol version {frame.version}, this host speaks {VERSION}")
            if frame.type == REPORT:
                self._reports.append(frame)
            elif frame.type == NAK and len(frame.payload) == 2:
                error = frame.payload[0]
                if error in LINK_ERRORS:
                    return f"device reported a damaged frame: {LINK_ERRORS[error]}"
                if frame.seq == self._seq:
                    reason = REQUEST_ERRORS.get(error, f"error {error}")
                    raise _device_error(f"device rejected {name}: {reason}")
            elif frame.seq == self._seq and frame.type == command | ACK_BIT:
                return frame.payload

    def _next_frame(self, deadline: float) -> Frame | None:
        while not self._backlog:
            if time.monotonic() >= deadline:
                return None
            data = self._port.read()
            self._backlog = self._decoder.feed(data) if data else self._decoder.expire()
        return self._backlog.pop(0)

    def _tensor_info(self, kind: int, index: int) -> DeviceTensor:
        reply = _ReplyPayload("TENSOR_INFO", self.request(CMD_TENSOR_INFO, bytes([kind, index])))
        got_kind, got_index, tensor_type, size, scale, zero_point = reply.unpack(TENSOR_INFO)
        reply.done()
        if (got_kind, got_index) != (kind, index):
            raise _device_error(f"device described tensor {got_kind}/{got_index}, {kind}/{index} was asked for")
        return DeviceTensor(index, size, tensor_type, scale, zero_point)


def _pick(tensors: tuple[DeviceTensor, ...], index: int, what: str) -> DeviceTensor:
    if not 0 <= index < len(tensors):
        raise TinymlError(f"the model has {len(tensors)} {what}(s), there is no {what} {index}", BAD_INPUT)
    return tensors[index]


def _invoke_result(reply: _ReplyPayload, check_done: bool = True) -> InvokeResult:
    result = InvokeResult(*reply.unpack(INVOKE_RECORD))
    if check_done:
        reply.done()
    return result


def connect(url: str, *, timeout_s: float = 1.0, retries: int = 3, boot_timeout_s: float = 10.0,
            invoke_timeout_s: float = 60.0, baudrate: int = 115200) -> DeviceLink:
    """Waits for a device to come up and answer INFO, then returns the open link (its `info()` is cached).

    The device sends nothing unsolicited, so this opens the port (retrying while it cannot be opened yet, e.g.
    an emulator that is still starting) and sends INFO every `timeout_s` until an answer arrives or
    `boot_timeout_s` has passed.
    """
    deadline = time.monotonic() + boot_timeout_s
    while True:
        try:
            link = DeviceLink(url, timeout_s, retries=0, invoke_timeout_s=invoke_timeout_s, baudrate=baudrate)
            break
        except TinymlError as exc:
            if time.monotonic() >= deadline:
                raise _device_error(f"device at {url} did not come up within {boot_timeout_s:g} s: "
                                    f"{exc.message}") from exc
            time.sleep(0.1)
    try:
        while True:
            try:
                link.info()
                break
            except NoReplyError as exc:
                if time.monotonic() >= deadline:
                    raise _device_error(f"device at {url} did not come up within {boot_timeout_s:g} s: "
                                        f"{exc.message}") from exc
    except BaseException:
        link.close()
        raise
    link.retries = retries
    return link
