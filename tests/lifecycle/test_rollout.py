"""Staged rollout to a fleet of three emulated devices (QEMU supervisors that persist between commands): canary ->
50% -> all; a version whose on-device outputs are wrong is rolled back automatically; pause and resume (on a real
PostgreSQL store); `kill -9` of a deploy at several points, then `tinyml rollout resume`.

One module fixture registers three versions of a tiny int8 model (tiny@1 and tiny@2 good, tiny@3 bad) and starts
the fleet once; the tests run in order and each leaves every device healthy on a known version.

tiny@3 is a version whose firmware is wrong: it was registered without firmware, and the rollout's firmware folder
for it holds a build of another model carrying tiny@3's identity (what a miscompiled or corrupted image would be).
The device then reports the right version over INFO, so only the comparison of its outputs with the host build of
the registered model can catch it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests import tflite_models as tm
from tinyml.cli import main
from tinyml.device.boards import get_board
from tinyml.device.build import build_firmware
from tinyml.errors import DEVICE_FAILURE
from tinyml.field.servers import Postgres
from tinyml.lifecycle import emulated_fleet, registry, rollout, rollout_devices, rollout_versions
from tinyml.lifecycle.fleet import Fleet, load_fleet
from tinyml.lifecycle.rollout_store import RolloutStore, open_rollout_store

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

BOARDS = ("mps2-an386", "mps2-an385")
FLEET = """
[rollout]
stages = [0.5]
vectors = 3

[cohorts]
canary = ["em-1"]

[[devices]]
id = "em-1"
board = "mps2-an386"
emulated = true

[[devices]]
id = "em-2"
board = "mps2-an385"
emulated = true

[[devices]]
id = "em-3"
board = "mps2-an386"
emulated = true
"""
KILL_WAIT_S = 120.0


def tiny_model(seed: int) -> bytes:
    """One FULLY_CONNECTED layer, 16 -> 8: a firmware that builds and answers in moments."""
    rng = np.random.default_rng(seed)
    b = tm.GraphBuilder()
    x = b.input((1, 16), tm.QParams.per_tensor(0.05, 0))
    weights = rng.integers(-127, 128, size=(8, 16), dtype=np.int8)
    bias = rng.integers(-100, 100, size=8, dtype=np.int32)
    b.output(tm.fully_connected(b, x, weights, [0.01], bias, tm.QParams.per_tensor(0.1, 3)))
    return b.to_bytes()


class Project:
    """The project folder (current directory of the module): `cli(...)` runs tinyml in this process."""

    def __init__(self, root: Path, fleet: Fleet) -> None:
        self.root, self.fleet = root, fleet

    def cli(self, *args: object, code: int = 0) -> str:
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == code, (result.exit_code, result.stdout[-3000:], result.stderr[-3000:],
                                          result.exception)
        assert "Traceback" not in result.stderr
        return result.stdout

    def reports(self) -> dict[str, str | None]:
        """What each device itself reports over INFO."""
        return {d.id: rollout_devices.reported_version(self.fleet, d) for d in self.fleet.devices}


def _plant_miscompiled_firmware(ref: str, model: Path) -> None:
    """Puts a build of `model` carrying `ref`'s identity where the rollout keeps `ref`'s firmware for each board,
    as a miscompiled or corrupted image would be (the registered version itself has no firmware)."""
    identity = registry.show(ref)["identity"]
    for board in BOARDS:
        build_firmware(model, get_board(board), rollout_versions.firmware_root() / ref / board, identity=identity)


@contextmanager
def local_project(root: Path) -> Iterator[None]:
    """`root` as the current folder, recording to its own local store (no MLFLOW_TRACKING_URI, tracking on)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("TINYML_NO_TRACK", raising=False)
        yield


@contextmanager
def running_fleet(root: Path, text: str) -> Iterator[Fleet]:
    """`root/fleet.toml` written from `text`, its emulated devices running until the block ends."""
    (root / "fleet.toml").write_text(text)
    fleet = load_fleet(root / "fleet.toml")
    try:
        emulated_fleet.start_fleet(fleet, lifetime_s=900)
        yield fleet
    finally:
        emulated_fleet.stop_fleet(fleet)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("rollout")
    with local_project(root):
        for number, seed in ((1, 1), (2, 2), (3, 3), (0, 4)):
            (root / f"m{number}").mkdir()
            (root / f"m{number}" / "model.tflite").write_bytes(tiny_model(seed))
        for number in (1, 2, 3):
            boards = [get_board(b) for b in BOARDS] if number < 3 else []
            registry.register(root / f"m{number}", "tiny", boards, [], None)
        _plant_miscompiled_firmware("tiny@3", root / "m0" / "model.tflite")
        with running_fleet(root, FLEET) as fleet:
            yield Project(root, fleet)

def deploy_killed_when(root: Path, args: tuple[str, ...], reached: Callable[[RolloutStore, dict], bool],
                       what: str) -> dict:
    """`tinyml deploy ARGS` in a process of its own, killed with SIGKILL as soon as `reached(store, newest rollout)`;
    returns the killed rollout's summary (still `running`, the dead driver's claim left in the store)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "TINYML_NO_TRACK")}
    proc = subprocess.Popen([sys.executable, "-m", "tinyml.cli", "deploy", *args], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = False
    try:
        deadline = time.monotonic() + KILL_WAIT_S
        with open_rollout_store(None) as db:
            while not seen and proc.poll() is None and time.monotonic() < deadline:
                rows = db.rollouts()
                seen = bool(rows) and reached(db, rows[0])
                time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert seen, f"the deploy ended before {what}: {proc.stderr.read().decode()[-2000:]}"
    assert proc.returncode == -signal.SIGKILL
    with open_rollout_store(None) as db:
        killed = rollout.summary(db, None)
    assert killed["state"] == "running" and killed["driver"] is not None
    return killed


def _events(store_spec: str | None, rollout_id: str) -> list[dict]:
    with open_rollout_store(store_spec) as db:
        return db.events(rollout_id)


def _assert_finished_once(summary: dict, state: str, device_state: str) -> None:
    """Every device has one step, in `device_state`, reached exactly once; no step is left mid-way."""
    assert summary["state"] == state and summary["driver"] is None
    assert sorted(s["device"] for s in summary["devices"]) == ["em-1", "em-2", "em-3"]
    assert {s["state"] for s in summary["devices"]} == {device_state}


def test_canary_then_all(project: Project) -> None:
    assert project.reports() == {"em-1": None, "em-2": None, "em-3": None}   # blank devices
    project.cli("deploy", "tiny@1", "--fleet", "fleet.toml")
    with open_rollout_store(None) as db:
        summary = rollout.summary(db, None)
        events = db.events(summary["id"])
    _assert_finished_once(summary, "succeeded", "healthy")
    assert [name for name, _ in summary["plan"]] == ["canary", "50%", "all"]
    order = [(e["device"], e["state"]) for e in events if e["device"]]
    assert order.index(("em-1", "healthy")) < order.index(("em-2", "flashing")) < order.index(("em-3", "flashing"))
    for step in summary["devices"]:
        assert step["detail"]["reported"] == "tiny@1" and step["detail"]["outputs_wrong"] == 0
        assert step["detail"]["counter"] == "instructions" and step["detail"]["per_inference"] > 0
    assert project.reports() == {"em-1": "tiny@1", "em-2": "tiny@1", "em-3": "tiny@1"}
    assert registry.show("tiny@production")["version"] == 1


def test_latency_over_budget_is_unhealthy(project: Project) -> None:
    version = rollout_versions.load_version("tiny@1", set(BOARDS), print)
    device = project.fleet.device("em-1")
    within = rollout_devices.probe(project.fleet, device, version, vectors=2, budget=100_000)
    over = rollout_devices.probe(project.fleet, device, version, vectors=2, budget=10)
    assert within.healthy, within.detail
    assert not over.healthy and "over the budget of 10" in over.detail["problems"][0]


@pytest.mark.parametrize(("target", "point"), [("tiny@2", ("em-1", "flashing")),
                                               ("tiny@1", ("em-2", "verifying")),
                                               ("tiny@2", ("em-3", "flashing"))])
def test_kill_9_mid_deploy_then_resume(project: Project, target: str, point: tuple[str, str]) -> None:
    """A real SIGKILL of `tinyml deploy` once `point` (device, state) is in the store; resume finishes the plan."""
    def reached(db: RolloutStore, row: dict) -> bool:
        return row["identity"].startswith(f"{target} ") and any((s["device"], s["state"]) == point
                                                                for s in db.steps(row["id"]))

    killed = deploy_killed_when(project.root, (target, "--fleet", "fleet.toml"), reached, f"{point}")
    project.cli("rollout", "resume", killed["id"])
    with open_rollout_store(None) as db:
        summary = rollout.summary(db, killed["id"])
    _assert_finished_once(summary, "succeeded", "healthy")
    healthy = [e["device"] for e in _events(None, killed["id"]) if e["state"] == "healthy"]
    assert sorted(healthy) == ["em-1", "em-2", "em-3"]     # each device counted healthy exactly once
    assert set(project.reports().values()) == {target}
    assert registry.show("tiny@production")["version"] == int(target.split("@")[1])


def test_bad_version_rolled_back(project: Project) -> None:
    before = project.reports()
    previous = registry.show("tiny@production")["version"]
    assert len(set(before.values())) == 1 and None not in before.values()
    out = project.cli("deploy", "tiny@3", "--fleet", "fleet.toml", code=DEVICE_FAILURE)
    assert "rolled_back" in out
    with open_rollout_store(None) as db:
        summary = rollout.summary(db, None)
    assert summary["state"] == "rolled_back" and "canary em-1 is unhealthy" in summary["note"]
    steps = {s["device"]: s for s in summary["devices"]}
    assert steps["em-1"]["state"] == "rolled_back"                 # the canary was updated, then rolled back
    assert steps["em-2"]["state"] == steps["em-3"]["state"] == "skipped"   # the others were never touched
    failure = next(e for e in _events(None, summary["id"]) if e["device"] == "em-1" and e["state"] == "failed")
    assert failure["detail"]["reported"] == "tiny@3"               # it claims the right version ...
    problems = failure["detail"]["problems"]                        # ... but runs another model, wrongly
    assert any(p.startswith("runs model ") for p in problems), problems
    assert any("outputs differ from the host build on 3 of 3 test vectors" in p for p in problems), problems
    assert project.reports() == before                              # as the devices themselves report
    assert registry.show("tiny@production")["version"] == previous
    assert "canary" not in registry.show("tiny@3")["aliases"] and "production" not in registry.show("tiny@3")["aliases"]


def _deploy_paused_after_canary(project: Project, store: str | None, target: str) -> dict:
    """`deploy` (in this process) while another connection to the store asks for a pause as soon as the canary is
    healthy, as `tinyml rollout pause` from another shell would."""
    with open_rollout_store(store) as db, open_rollout_store(store) as other:
        def say(message: str) -> None:
            if message.endswith(": healthy"):
                rollout.pause(other, None)

        return rollout.deploy(db, project.fleet, target, say)


def test_pause_then_rollback_by_hand(project: Project) -> None:
    """Paused after its canary, a rollout is rolled back by hand: the canary returns to its previous version, the
    devices never touched are skipped, production does not move."""
    before, production = project.reports(), registry.show("tiny@production")["version"]
    paused = _deploy_paused_after_canary(project, None, f"tiny@{3 - production}")
    assert paused["state"] == "paused" and paused["driver"] is None
    out = project.cli("rollout", "rollback", paused["id"])
    assert "rolled_back" in out
    with open_rollout_store(None) as db:
        steps = {s["device"]: s["state"] for s in rollout.summary(db, paused["id"])["devices"]}
    assert steps == {"em-1": "rolled_back", "em-2": "skipped", "em-3": "skipped"}
    assert project.reports() == before
    assert registry.show("tiny@production")["version"] == production


@pytest.fixture
def pg_url() -> Iterator[str]:
    server = Postgres().start()
    try:
        yield server.url
    finally:
        server.stop()


def test_pause_and_resume_on_postgresql(project: Project, pg_url: str) -> None:
    """The same store on a real PostgreSQL: paused after the canary (the others still pending), `rollout status`
    says so, `rollout resume` finishes the plan."""
    target = f"tiny@{3 - registry.show('tiny@production')['version']}"   # the other good version
    paused = _deploy_paused_after_canary(project, pg_url, target)
    with open_rollout_store(pg_url) as db:
        summary = rollout.summary(db, paused["id"])
    assert summary["state"] == "paused" and summary["counts"] == {"healthy": 1, "pending": 2}, summary["counts"]
    assert "paused" in project.cli("rollout", "status", "--store", pg_url)
    project.cli("rollout", "resume", "--store", pg_url)
    with open_rollout_store(pg_url) as db:
        _assert_finished_once(rollout.summary(db, None), "succeeded", "healthy")
    assert set(project.reports().values()) == {target}
