"""The firmware harness (board HAL + serial protocol + generated model) in QEMU: every emulated board runs a
generated model byte-identical to the TFLite reference, with the same instruction count on every run."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests import tflite_models as tm
from tinyml.device.boards import all_boards, get_board
from tinyml.device.build import build_firmware
from tinyml.device.protocol import ERR_TIMEOUT, NAK, SYNC, FrameDecoder, connect
from tinyml.device.targets.qemu import QemuSession

EMULATED = [b.name for b in all_boards() if b.emulator is not None]
pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tm.Case]:
    case = tm.random_network(np.random.default_rng(3))
    path = tmp_path_factory.mktemp("model") / "network.tflite"
    path.write_bytes(case.model)
    return path, case


def _run(board_name: str, elf: Path, inputs: list[np.ndarray]) -> tuple[list[bytes], int, int]:
    with QemuSession(get_board(board_name), elf, max_seconds=120) as qemu:
        with connect(qemu.url, timeout_s=2.0, boot_timeout_s=20.0) as link:
            info = link.info()
            assert info.board_name == board_name
            for index, value in enumerate(inputs):
                link.load_input(index, value.tobytes())
            result = link.invoke(1)
            outputs = [link.read_output(i) for i in range(len(info.outputs))]
            return outputs, result.last_ticks, link.stats().stack_peak_bytes


@pytest.mark.parametrize("name", EMULATED)
def test_generated_model_matches_reference(name: str, network: tuple[Path, tm.Case], tmp_path: Path) -> None:
    path, case = network
    build = build_firmware(path, get_board(name), tmp_path / "build")
    assert build.fits, build.violations
    expected = [o.tobytes() for o in tm.run_reference(case.model, case.inputs)]
    first = _run(name, build.elf, case.inputs)
    second = _run(name, build.elf, case.inputs)
    assert first[0] == expected, case.params
    assert first == second                     # outputs, ticks and stack: deterministic
    assert 0 < first[1] and 0 < first[2] < build.stack_bytes


def test_device_times_out_a_truncated_frame(network: tuple[Path, tm.Case], tmp_path: Path) -> None:
    """getc_timeout runs on the emulated clock: half a frame gets a NAK (truncated) instead of a hang."""
    import serial

    build = build_firmware(network[0], get_board("mps2-an385"), tmp_path / "build")
    with QemuSession(get_board("mps2-an385"), build.elf, max_seconds=60) as qemu:
        with serial.serial_for_url(qemu.url, timeout=0.2) as link:
            link.write(SYNC + b"\x01\x01")
            decoder, frames, deadline = FrameDecoder(), [], time.monotonic() + 10
            while not frames and time.monotonic() < deadline:
                frames = decoder.feed(link.read(64))
    assert frames and frames[0].type == NAK and frames[0].payload[0] == ERR_TIMEOUT
