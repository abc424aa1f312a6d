"""`tinyml hil` failures are one line with a named exit code: bad input, a board without QEMU, Renode missing;
and `bench` refuses a device whose cycle counter does not advance instead of reporting 0 ms."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import tflite_models as tm
from tinyml.compiler.codegen import TensorInfo
from tinyml.device.bench import run_on_device
from tinyml.device.protocol import connect
from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, MISMATCH, OK, OVER_BUDGET, TinymlError
from tinyml.hil.run import CaseOutcome, HilReport
from tinyml.paths import FIRMWARE_DIR

HERE = Path(__file__).resolve().parent
PROTOCOL_TESTS = HERE.parent / "protocol"
TINYML = [sys.executable, "-c", "import sys, tinyml.cli; sys.exit(tinyml.cli.main())"]


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*TINYML, *map(str, args)], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hil") / "net.tflite"
    path.write_bytes(tm.random_network(np.random.default_rng(11)).model)
    return path


def _one_line_error(proc: subprocess.CompletedProcess, code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert text in proc.stderr, proc.stderr


@pytest.mark.parametrize("args, text", [
    (["missing.tflite", "--board", "mps2-an386"], "missing.tflite: no such model file"),
    (["MODEL", "--board", "no-such-board"], "unknown board 'no-such-board'"),
    (["MODEL", "--board", "mps2-an386", "--vectors", "0"], "--vectors must be between 1 and 1000, got 0"),
    (["MODEL", "--board", "mps2-an386", "--max-latency-ms", "-1"], "--max-latency-ms must be positive"),
    (["MODEL", "--board", "mps2-an386", "--inputs", "missing.npy"], "missing.npy: no such file"),
])
def test_bad_input_is_one_line(args: list[str], text: str, model: Path, tmp_path: Path) -> None:
    proc = run("hil", *[str(model) if a == "MODEL" else a for a in args], "-o", tmp_path / "s")
    _one_line_error(proc, BAD_INPUT, text)
    assert not (tmp_path / "s").exists()


def test_output_that_is_not_a_suite_is_refused_before_any_work(model: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")
    proc = run("hil", model, "--board", "mps2-an386", "-o", tmp_path / "file")
    _one_line_error(proc, BAD_INPUT, "exists and is not a tinyml HIL suite; choose another -o")
    assert (tmp_path / "file").read_text() == "mine"


def test_a_board_without_qemu_points_to_renode(model: Path, tmp_path: Path) -> None:
    proc = run("hil", model, "--board", "nucleo-f446re", "-o", tmp_path / "s", "--vectors", "1")
    _one_line_error(proc, BAD_INPUT, "board nucleo-f446re has no QEMU machine; run its suite under Renode with "
                                     "--renode (Renode 1.15 or later)")
    assert (tmp_path / "s" / "hil.robot").is_file() and (tmp_path / "s" / "renode" / "nucleo-f446re.resc").is_file()


def test_missing_renode_is_said_in_one_line(model: Path, tmp_path: Path) -> None:
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                           if not (Path(d) / "renode-test").exists())
    proc = run("hil", model, "--board", "nucleo-f446re", "-o", tmp_path / "s", "--vectors", "1", "--renode",
               env={**os.environ, "PATH": path})
    _one_line_error(proc, BAD_INPUT, "renode-test not found: install Renode (1.15 or later, see docs/HIL.md)")
    assert str(tmp_path / "s") in proc.stderr


def test_exit_code_names_what_failed_first() -> None:
    def report(*failed_tags: str) -> HilReport:
        tests = [CaseOutcome("t", True, "", ("device",))]
        tests += [CaseOutcome(f"f{i}", False, "x", (tag,) if tag else ()) for i, tag in enumerate(failed_tags)]
        return HilReport("b", "qemu", Path("."), tuple(tests))
    assert report().exit_code == OK
    assert report("budget").exit_code == OVER_BUDGET
    assert report("budget", "outputs").exit_code == MISMATCH
    assert report("outputs", "device").exit_code == DEVICE_FAILURE
    assert report("").exit_code == DEVICE_FAILURE   # e.g. the machine did not start


# ---- bench and a cycle counter that does not advance ----

@pytest.fixture(scope="module")
def stuck_device_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The protocol tests' host build of the device, with a model whose tick counter never moves."""
    out = tmp_path_factory.mktemp("stuck") / "host_uart"
    includes = [f"-I{FIRMWARE_DIR / 'protocol'}", f"-I{PROTOCOL_TESTS / 'fake_model'}"]
    sources = [PROTOCOL_TESTS / "host_uart.c", HERE / "stuck_counter" / "model.c",
               FIRMWARE_DIR / "protocol" / "tm_proto.c", FIRMWARE_DIR / "protocol" / "tm_crc32.c"]
    subprocess.run([shutil.which("cc") or "cc", "-std=c99", "-O2", *includes, *map(str, sources), "-o", str(out)],
                   check=True)
    return out


def test_bench_fails_when_the_cycle_counter_does_not_advance(stuck_device_exe: Path) -> None:
    proc = subprocess.Popen([str(stuck_device_exe), "--tcp"], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        url = f"socket://127.0.0.1:{int(proc.stdout.readline())}"
        compiled = _FakeCompiled()
        inputs = [np.zeros((2, 700), np.int8), np.zeros((2, 3), np.uint8)]
        with connect(url, boot_timeout_s=5.0) as link, pytest.raises(TinymlError) as caught:
            run_on_device(link, compiled, inputs, progress=False)
    finally:
        proc.kill()
        proc.wait(timeout=5)
    assert caught.value.exit_code == DEVICE_FAILURE
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith(f"host-test at {url}: the cycle counter did not advance during an inference (0 ticks)")
    assert "map a DWT at 0xE0001000" in message


class _FakeCompiled:
    """What run_on_device reads of a CompileResult, for the fake model (tests/protocol/fake_model/model.h)."""

    model_hash = "0123456789abcdef"
    outputs = (TensorInfo("out0", "int8", (1, 700), 0.25, 5), TensorInfo("out1", "uint8", (1, 3), 1.0, 0))
