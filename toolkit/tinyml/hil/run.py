"""Run a HIL suite: on QEMU with Robot Framework in this process, or under Renode's `renode-test`.

Robot's `output.xml`, `log.html` and `report.html` are written to a temporary directory beside the suite, then
moved into it: they are the run's artifacts. The report's exit code says what failed first, in this order: the
device (did not boot or answer: DEVICE_FAILURE), its outputs (MISMATCH), its budgets (OVER_BUDGET).
"""
from __future__ import annotations

import io
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyml.device.boards import load_board
from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, MISMATCH, OK, OVER_BUDGET, TinymlError
from tinyml.hil.renode import minimum_renode, renode_test
from tinyml.hil.suite import SUITE_FILE, SuiteConfig

ARTIFACTS = ("output.xml", "log.html", "report.html")
EXIT_BY_TAG = (("device", DEVICE_FAILURE), ("outputs", MISMATCH), ("budget", OVER_BUDGET))
RENODE_TIMEOUT_S = 1800.0
# renode-test aggregates its results under these names
RENODE_ARTIFACTS = {"robot_output.xml": "output.xml", "log.html": "log.html", "report.html": "report.html"}


@dataclass(frozen=True)
class CaseOutcome:
    name: str
    passed: bool
    message: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class HilReport:
    board: str
    target: str              # "qemu" or "renode"
    suite_dir: Path
    tests: tuple[CaseOutcome, ...]

    @property
    def failed(self) -> list[CaseOutcome]:
        return [t for t in self.tests if not t.passed]

    @property
    def exit_code(self) -> int:
        failed = self.failed
        if not failed:
            return OK
        for tag, code in EXIT_BY_TAG:
            if any(tag in t.tags for t in failed):
                return code
        return DEVICE_FAILURE

    def to_json(self) -> dict[str, Any]:
        return {"board": self.board, "target": self.target, "suite_dir": str(self.suite_dir),
                "passed": len(self.tests) - len(self.failed), "failed": len(self.failed),
                "tests": [{"name": t.name, "passed": t.passed, "message": t.message, "tags": list(t.tags)}
                          for t in self.tests],
                "artifacts": [str(self.suite_dir / name) for name in ARTIFACTS]}


def run_suite(suite_dir: Path, target: str = "qemu") -> HilReport:
    """Run the suite in `suite_dir` (written by `tinyml.hil.suite.write_suite`) on "qemu" or "renode"."""
    suite_dir = Path(suite_dir)
    config = SuiteConfig.load(suite_dir)
    board = load_board(suite_dir / f"{config.board}.toml")
    with tempfile.TemporaryDirectory(prefix=".robot-", dir=suite_dir) as tmp:
        if target == "renode":
            _run_renode(suite_dir, Path(tmp), config)
            renamed = RENODE_ARTIFACTS
        elif board.emulator is None:
            raise TinymlError(f"board {board.name} has no QEMU machine; run its suite under Renode with --renode "
                              f"(Renode {minimum_renode(board)}); the suite is in {suite_dir}", BAD_INPUT)
        else:
            _run_robot(suite_dir, Path(tmp))
            renamed = {name: name for name in ARTIFACTS}
        for source, name in renamed.items():
            if (Path(tmp) / source).is_file():
                os.replace(Path(tmp) / source, suite_dir / name)
    return HilReport(config.board, target, suite_dir, _outcomes(suite_dir / "output.xml"))


def _run_robot(suite_dir: Path, out: Path) -> None:
    try:
        import robot
    except ImportError:
        raise TinymlError("Robot Framework is not installed: pip install robotframework", BAD_INPUT) from None
    console = io.StringIO()
    robot.run(str(suite_dir / SUITE_FILE), outputdir=str(out), console="none", stdout=console, stderr=console)
    if not (out / "output.xml").is_file():
        raise TinymlError(f"Robot Framework did not run the suite: {console.getvalue().strip()[-300:]}",
                          DEVICE_FAILURE)


def _run_renode(suite_dir: Path, out: Path, config: SuiteConfig) -> None:
    runner = renode_test()
    if runner is None:
        raise TinymlError(f"renode-test not found: install Renode (1.15 or later, see docs/HIL.md) to run this "
                          f"suite under Renode; the suite and its Renode files are in {suite_dir}", BAD_INPUT)
    command = [runner, "--results-dir", str(out), "--variable", "HIL_TARGET:renode",
               "--variable", f"UART_URL:socket://127.0.0.1:{config.renode_uart_port}", str(suite_dir / SUITE_FILE)]
    try:
        subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=RENODE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise TinymlError(f"renode-test did not finish within {RENODE_TIMEOUT_S:.0f} s", DEVICE_FAILURE) from None
    if not (out / "robot_output.xml").is_file():
        raise TinymlError(f"renode-test wrote no results into {out}", DEVICE_FAILURE)


def _outcomes(output_xml: Path) -> tuple[CaseOutcome, ...]:
    from robot.api import ExecutionResult

    result = ExecutionResult(str(output_xml))
    return tuple(CaseOutcome(t.name, t.passed, t.message, tuple(str(tag) for tag in t.tags))
                 for t in result.suite.all_tests)
