"""DeviceLink against the real device code over loopback TCP (the way it talks to the QEMU UART)."""
from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from proto_support import FAKE_INVOKE_TICKS, IN0_BYTES, IN1_BYTES, expected_outputs

from tinyml.device.protocol import CMD_READ_OUTPUT, READ_ARGS, DeviceLink, DeviceTensor, connect
from tinyml.errors import TinymlError


@pytest.fixture
def link(device_url: str) -> Iterator[DeviceLink]:
    with connect(device_url, timeout_s=0.5, retries=2, boot_timeout_s=5.0) as link:
        yield link


def test_info_describes_board_firmware_and_model(link: DeviceLink) -> None:
    info = link.info()
    assert (info.protocol_version, info.max_payload, info.arena_bytes) == (1, 256, 1406)
    assert (info.model_hash, info.board_name, info.firmware_version) == ("0123456789abcdef", "host-test", "test-1.0")
    assert info.inputs == (DeviceTensor(0, IN0_BYTES, 9, 0.5, -3), DeviceTensor(1, IN1_BYTES, 3, 1.0, 0))
    assert info.outputs == (DeviceTensor(0, IN0_BYTES, 9, 0.25, 5), DeviceTensor(1, IN1_BYTES, 3, 1.0, 0))


def test_inputs_in_outputs_out_and_ticks_across_the_counter_wrap(link: DeviceLink) -> None:
    in0, in1 = os.urandom(IN0_BYTES), os.urandom(IN1_BYTES)
    link.load_input(0, in0)
    link.load_input(1, in1)
    first = link.invoke(1)  # the fake tick counter starts at 0xF0000000: this invoke wraps it
    assert (first.count, first.total_ticks, first.last_ticks) == (1, FAKE_INVOKE_TICKS, FAKE_INVOKE_TICKS)
    assert (link.read_output(0), link.read_output(1)) == expected_outputs(in0, in1)
    ten = link.invoke(10)
    assert ten.total_ticks == 10 * FAKE_INVOKE_TICKS > 2**32  # summed in 64 bits
    assert ten.min_ticks == ten.max_ticks == FAKE_INVOKE_TICKS
    stats = link.stats()
    assert (stats.last_invoke, stats.stack_peak_bytes, stats.invokes_total, stats.link_errors) == (ten, 4242, 11, 0)


def test_wrong_sizes_and_indices_are_bad_input(link: DeviceLink) -> None:
    for call in (lambda: link.load_input(0, b"short"), lambda: link.load_input(2, b""),
                 lambda: link.read_output(-1), lambda: link.invoke(0)):
        with pytest.raises(TinymlError) as err:
            call()
        assert err.value.exit_code == 2


def test_a_request_the_device_rejects_is_a_device_failure(link: DeviceLink) -> None:
    with pytest.raises(TinymlError, match="offset or length outside the tensor") as err:
        link.request(CMD_READ_OUTPUT, READ_ARGS.pack(0, IN0_BYTES - 1, 2))
    assert err.value.exit_code == 4


def test_a_silent_device_times_out_clearly() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    start = time.monotonic()
    try:
        with DeviceLink(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout_s=0.2, retries=2) as link:
            with pytest.raises(TinymlError, match="did not answer INFO after 3 attempt") as err:
                link.info()
        assert err.value.exit_code == 4
        assert time.monotonic() - start < 2.0
    finally:
        thread.join(timeout=5)
        for sock in (server, *accepted):
            sock.close()


def test_nothing_listening_is_a_clear_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        port = placeholder.getsockname()[1]
    with pytest.raises(TinymlError, match="did not come up within 0.5 s") as err:
        connect(f"socket://127.0.0.1:{port}", boot_timeout_s=0.5)
    assert err.value.exit_code == 4


def test_a_device_that_goes_away_is_a_clear_error() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=lambda: server.accept()[0].close(), daemon=True)
    thread.start()
    try:
        with DeviceLink(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout_s=1.0, retries=0) as link:
            with pytest.raises(TinymlError, match="lost the connection") as err:
                link.info()
        assert err.value.exit_code == 4
    finally:
        thread.join(timeout=5)
        server.close()


class CountingTransport:
    """A transport of our own around the real one: the link must use nothing but the Transport interface."""

    def __init__(self, url: str) -> None:
        from tinyml.device.transport import SerialTransport

        self._inner = SerialTransport(url)
        self.url = f"counting+{url}"
        self.sent = self.received = 0

    def read(self) -> bytes:
        data = self._inner.read()
        self.received += len(data)
        return data

    def write(self, data: bytes) -> None:
        self.sent += len(data)
        self._inner.write(data)

    def close(self) -> None:
        self._inner.close()


def test_a_link_runs_over_any_transport(device_url: str) -> None:
    transport = CountingTransport(device_url)
    with DeviceLink(transport, timeout_s=0.5, retries=2) as link:
        assert link.url == f"counting+{device_url}"
        in0, in1 = os.urandom(IN0_BYTES), os.urandom(IN1_BYTES)
        link.load_input(0, in0)
        link.load_input(1, in1)
        link.invoke(1)
        assert (link.read_output(0), link.read_output(1)) == expected_outputs(in0, in1)
    assert transport.sent > IN0_BYTES + IN1_BYTES and transport.received > IN0_BYTES + IN1_BYTES
