"""`tinyml hil` on QEMU: the generated suite passes on every emulated board, a suite whose expected output is
wrong fails naming the vector, and Renode's UART keywords work on QEMU with a firmware that prints lines."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import robot

from tests import tflite_models as tm
from tests.firmware.fwtools import build_selftest
from tinyml.device.boards import all_boards, get_board
from tinyml.errors import MISMATCH
from tinyml.hil.run import ARTIFACTS, run_suite
from tinyml.hil.suite import vector_path, write_suite

EMULATED = [b.name for b in all_boards() if b.emulator is not None]
TINYML = [sys.executable, "-c", "import sys, tinyml.cli; sys.exit(tinyml.cli.main())"]
pytestmark = [pytest.mark.qemu, pytest.mark.slow]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random network (conv, pooling, FC, ...): it fits every emulated board, microbit's 16 KB included."""
    path = tmp_path_factory.mktemp("hil") / "net.tflite"
    path.write_bytes(tm.random_network(np.random.default_rng(11)).model)
    return path


@pytest.mark.parametrize("name", EMULATED)
def test_suite_passes_on_every_emulated_board(name: str, model: Path, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    write_suite(model, get_board(name), suite, vectors=2)
    report = run_suite(suite)
    assert [(t.name, t.passed) for t in report.tests] == [
        ("Device Runs The Model", True), ("Outputs Match Host Reference", True), ("Latency Within Budget", True),
        ("Memory Within Budget", True)], [t.message for t in report.failed]
    assert report.exit_code == 0
    assert all((suite / name).is_file() for name in ARTIFACTS)
    assert (suite / "renode" / f"{name}.repl").is_file() and (suite / "renode" / f"{name}.resc").is_file()
    assert not list(suite.glob(".robot-*")), "the temporary results directory was left behind"


def test_wrong_expected_output_fails_naming_the_vector(model: Path, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    write_suite(model, get_board("mps2-an385"), suite, vectors=3)
    path = vector_path(suite, 1, "expected", 0)
    expected = np.load(path)
    expected.reshape(-1)[2] += 1
    np.save(path, expected)
    report = run_suite(suite)
    failed = {t.name: t.message for t in report.failed}
    assert list(failed) == ["Outputs Match Host Reference"]
    assert failed["Outputs Match Host Reference"].startswith(
        "outputs differ from the host reference for vector(s) 1 of 3; vector 1: output 0 differs at 1 of")
    assert report.exit_code == MISMATCH
    log = (suite / "log.html").read_text()
    assert "vector 1 differs from the host reference" in log and "v001_expected0.npy" in log
    assert "vector 0 differs" not in log and "vector 2 differs" not in log


def test_cli_end_to_end_with_json(model: Path, tmp_path: Path) -> None:
    proc = subprocess.run([*TINYML, "hil", str(model), "--board", "mps2-an386", "-o", str(tmp_path / "s"),
                           "--vectors", "2", "--max-latency-ms", "1000", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["board"], report["target"], report["passed"], report["failed"]) == ("mps2-an386", "qemu", 4, 0)
    assert "Latency Should Be Within Budget" in (tmp_path / "s" / "hil.robot").read_text()


def test_cli_latency_over_budget_exits_3(model: Path, tmp_path: Path) -> None:
    proc = subprocess.run([*TINYML, "hil", str(model), "--board", "mps2-an386", "-o", str(tmp_path / "s"),
                           "--vectors", "1", "--max-latency-ms", "0.001"], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Latency Within Budget: latency estimate" in proc.stderr


SELFTEST_SUITE = """\
*** Settings ***
Library           tinyml.hil.keywords.QemuKeywords
Suite Teardown    Teardown

*** Test Cases ***
Greets Then Times A Loop
    Execute Command           mach create "mps2-an385"
    Execute Command           sysbus LoadELF @{elf}
    Create Terminal Tester    sysbus.uart0    timeout=10
    Start Emulation
    Wait For Line On Uart     hello mps2-an385
    Write Line To Uart        m    waitForEcho=False
    ${{line}}=                Wait For Line On Uart    ^ticks \\\\d+$    treatAsRegex=True
    Should Be Equal           ${{line}}    ticks 50000

A Missing Line Fails Within Its Timeout
    Reset Emulation
    Execute Command           mach create "mps2-an385"
    Execute Command           sysbus LoadELF @{elf}
    Create Terminal Tester    sysbus.uart0
    Start Emulation
    Wait For Line On Uart     hello
    Run Keyword And Expect Error    *no line containing 'never printed' within 0.5 s*
    ...                       Wait For Line On Uart    never printed    timeout=0.5

Unsupported Commands Fail Clearly
    Run Keyword And Expect Error    *supports `mach create "BOARD"` and `sysbus LoadELF @FILE`*
    ...                       Execute Command    machine LoadPlatformDescription @x.repl
    Run Keyword And Expect Error    *unknown board 'no-such-board'*    Execute Command    mach create "no-such-board"
"""


def test_renode_uart_keywords_on_qemu_with_a_printing_firmware(tmp_path: Path) -> None:
    """The HAL self-test prints "hello <board>", and times 2,000,000 instructions (50,000 ticks) on 'm'."""
    elf = build_selftest(get_board("mps2-an385"), tmp_path / "selftest")
    (tmp_path / "uart.robot").write_text(SELFTEST_SUITE.format(elf=elf))
    rc = robot.run(str(tmp_path / "uart.robot"), outputdir=str(tmp_path / "out"), console="none")
    tests = ElementTree.parse(tmp_path / "out" / "output.xml").getroot().iter("test")
    statuses = {t.get("name"): (t.find("status").get("status"), t.find("status").text) for t in tests}
    assert rc == 0, statuses
