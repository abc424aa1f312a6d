"""The field telemetry gates of a rollout on three emulated devices running the field app (QEMU supervisors that
persist between commands), with the monitor's report store a SQLite file: a first install (no control group: the
gate is skipped), a canary whose class distribution diverges from the control group's (rolled back), a shadow stage
whose challenger agrees (promoted, then canary -> 50% -> all with the telemetry gate passing), and a shadow stage
whose challenger disagrees, with `tinyml deploy` killed (SIGKILL) while the canary runs the shadow model, then
`tinyml rollout resume` (aborted: the canary back on its plain previous version).

The versions are one FULLY_CONNECTED layer, 16 -> 8: tiny@1; tiny@2 = tiny@1's weights moved by at most 3 (its
argmax agrees with tiny@1's on about 97 % of random inputs); tiny@3 = tiny@1 with a bias that makes class 7 win
nearly always (what a model with wrong outputs sends: another class distribution, no agreement). Every version
passes the probe (identity, outputs equal to its own host build): only the telemetry can tell tiny@3 is wrong.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests import tflite_models as tm
from tests.lifecycle import test_rollout
from tinyml.errors import DEVICE_FAILURE
from tinyml.lifecycle import registry, rollout, rollout_devices, rollout_versions
from tinyml.lifecycle import rollout_telemetry as telemetry
from tinyml.lifecycle.rollout_store import RolloutStore, open_rollout_store

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

FLEET = """
[rollout]
stages = [0.5]
vectors = 2

[telemetry]
store = "field.sqlite"
report_every = 50
min_inferences = 100
min_shadow_runs = 100
wait_s = 5

[cohorts]
canary = ["em-1"]
""" + "".join(f'\n[[devices]]\nid = "em-{i}"\nboard = "mps2-an386"\nemulated = true\n' for i in (1, 2, 3))


def fc_model(weights: np.ndarray, bias: np.ndarray) -> bytes:
    b = tm.GraphBuilder()
    x = b.input((1, 16), tm.QParams.per_tensor(0.05, 0))
    b.output(tm.fully_connected(b, x, weights, [0.01], bias, tm.QParams.per_tensor(1.0, 0)))
    return b.to_bytes()


def versions() -> dict[int, bytes]:
    rng = np.random.default_rng(1)
    weights = rng.integers(-127, 128, size=(8, 16), dtype=np.int8)
    bias = rng.integers(-100, 100, size=8, dtype=np.int32)
    near = np.clip(weights.astype(int) + rng.integers(-3, 4, size=weights.shape), -127, 127).astype(np.int8)
    wrong = bias.copy()
    wrong[7] += 80000
    return {1: fc_model(weights, bias), 2: fc_model(near, bias), 3: fc_model(weights, wrong)}


class Project(test_rollout.Project):
    def reports(self) -> dict[str, tuple[str | None, bool | None]]:  # type: ignore[override]
        """What each device itself reports: its version (INFO), whether it runs a shadow model (FIELD_INFO)."""
        return {d.id: (rollout_devices.reported_version(self.fleet, d), rollout_devices.runs_shadow(self.fleet, d))
                for d in self.fleet.devices}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("rollout-telemetry")
    with test_rollout.local_project(root):
        for number, model in versions().items():
            (root / f"m{number}").mkdir()
            (root / f"m{number}" / "model.tflite").write_bytes(model)
            registry.register(root / f"m{number}", "tiny", [], [], None)
        with test_rollout.running_fleet(root, FLEET) as fleet:
            yield Project(root, fleet)

def _summary(rollout_id: str | None = None) -> dict:
    with open_rollout_store(None) as db:
        return rollout.summary(db, rollout_id)


def _gate(summary: dict, gate: str, device: str) -> dict:
    return next(g for g in summary["gates"] if (g["gate"], g["device"]) == (gate, device))


def test_first_install_has_no_control_group(project: Project) -> None:
    project.cli("deploy", "tiny@1", "--fleet", "fleet.toml")
    summary = _summary()
    assert summary["state"] == "succeeded"
    gate = _gate(summary, "telemetry", "*")
    assert gate["state"] == "passed" and "no control group" in gate["detail"]["skipped"]
    assert project.reports() == {d: ("tiny@1", False) for d in ("em-1", "em-2", "em-3")}


def test_canary_with_diverging_telemetry_is_rolled_back(project: Project) -> None:
    out = project.cli("deploy", "tiny@3", "--fleet", "fleet.toml", code=DEVICE_FAILURE)
    assert "rolled_back" in out
    summary = _summary()
    assert summary["state"] == "rolled_back" and "canary em-1 is unhealthy" in summary["note"]
    assert "class distribution differs from the control group's" in summary["note"]
    steps = {s["device"]: s["state"] for s in summary["devices"]}
    assert steps == {"em-1": "rolled_back", "em-2": "skipped", "em-3": "skipped"}
    gate = _gate(summary, "telemetry", "*")
    assert gate["state"] == "failed" and gate["detail"]["control"] == ["em-2", "em-3"]
    verdict = gate["detail"]["canaries"]["em-1"]
    assert verdict["inferences"] >= 100 and verdict["control_inferences"] >= 200 and verdict["label_tvd"][0] >= 0.2
    # the canary's reports are in the monitor's store under its own id, from tiny@3's firmware
    tiny3 = rollout_versions.load_version("tiny@3", {"mps2-an386"}, print)
    rollout_versions.reference(tiny3, 1)
    with telemetry.open_monitor(str(project.root / "field.sqlite")) as monitor:
        stats = telemetry.recent(monitor, project.fleet.device("em-1"), [0, 0], tiny3.model_hash)
    assert stats is not None and stats.inferences >= 100
    assert project.reports() == {d: ("tiny@1", False) for d in ("em-1", "em-2", "em-3")}
    assert registry.show("tiny@production")["version"] == 1


def test_agreeing_shadow_is_promoted(project: Project) -> None:
    project.cli("deploy", "tiny@2", "--fleet", "fleet.toml", "--shadow-first")
    summary = _summary()
    assert summary["state"] == "succeeded", summary["note"]
    assert [name for name, _ in summary["plan"]] == ["shadow", "canary", "50%", "all"]
    shadow = _gate(summary, "shadow", "em-1")
    assert shadow["state"] == "agreed" and shadow["detail"]["production"] == "tiny@1"
    assert shadow["detail"]["shadow_runs"] >= 100 and shadow["detail"]["agreement"] >= 0.9
    assert _gate(summary, "telemetry", "*")["state"] == "passed"
    assert project.reports() == {d: ("tiny@2", False) for d in ("em-1", "em-2", "em-3")}
    assert registry.show("tiny@production")["version"] == 2


def test_disagreeing_shadow_aborts_after_kill_9_and_resume(project: Project) -> None:
    """`tinyml deploy --shadow-first` killed once the canary runs the shadow model; `resume` judges the agreement,
    aborts, and flashes the canary back to its plain previous version."""
    def shadowing(db: RolloutStore, row: dict) -> bool:
        return row["identity"].startswith("tiny@3 ") and row["state"] == "running" and any(
            g["state"] == "shadowing" for g in db.gates(row["id"], "shadow"))

    killed = test_rollout.deploy_killed_when(project.root, ("tiny@3", "--fleet", "fleet.toml", "--shadow-first"),
                                             shadowing, "the shadow stage")
    project.cli("rollout", "resume", killed["id"], code=DEVICE_FAILURE)
    summary = _summary(killed["id"])
    assert summary["state"] == "rolled_back" and summary["note"].startswith("shadow stage: em-1: the challenger")
    assert summary["note"].endswith("; 1 device(s) rolled back")
    shadow = _gate(summary, "shadow", "em-1")
    assert shadow["state"] == "restored" and shadow["detail"]["agreement"] < 0.5
    assert shadow["detail"]["reported"] == "tiny@2" and shadow["detail"]["runs_shadow"] is False
    assert {s["state"] for s in summary["devices"]} == {"skipped"}   # no device ever ran tiny@3 itself
    assert project.reports() == {d: ("tiny@2", False) for d in ("em-1", "em-2", "em-3")}
    assert registry.show("tiny@production")["version"] == 2
