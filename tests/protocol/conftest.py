"""Fixtures for the protocol tests: the device side (firmware/protocol) compiled for the host with a fake model
(tests/protocol/fake_model), run over loopback TCP like the QEMU UART."""
from __future__ import annotations

import select
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from proto_support import BYTE_TIMEOUT_MS, FAKE_MODEL_DIR, HERE, PROTOCOL_DIR, STRICT_C


@pytest.fixture(scope="session")
def device_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("proto") / "host_uart"
    includes = [f"-I{PROTOCOL_DIR}", f"-I{FAKE_MODEL_DIR}", f"-DTM_PROTO_BYTE_TIMEOUT_MS={BYTE_TIMEOUT_MS}u"]
    objects = []
    for source in (PROTOCOL_DIR / "tm_proto.c", PROTOCOL_DIR / "tm_crc32.c"):
        obj = out.with_name(source.stem + ".o")
        subprocess.run(["gcc", *STRICT_C, "-O2", *includes, "-c", str(source), "-o", str(obj)], check=True)
        objects.append(str(obj))
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", *includes, str(HERE / "host_uart.c"),
                    str(FAKE_MODEL_DIR / "model.c"), *objects, "-o", str(out)], check=True)
    return out


@pytest.fixture
def start_device(device_exe: Path) -> Iterator[Callable[[], str]]:
    """Starts devices on loopback TCP (like the QEMU UART), one client each: returns their socket:// URLs."""
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> str:
        proc = subprocess.Popen([str(device_exe), "--tcp"], stdout=subprocess.PIPE)
        procs.append(proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 5.0)
        assert ready, "device did not print its port"
        return f"socket://127.0.0.1:{int(proc.stdout.readline())}"

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture
def device_url(start_device: Callable[[], str]) -> str:
    return start_device()
