"""Staged rollout of a registered version to a fleet, with health gates and automatic rollback (`tinyml deploy`,
`tinyml rollout`).

A rollout of NAME@VERSION to a fleet (tinyml.lifecycle.fleet):
1. firmware per board from the registry (the version's `firmware/<board>/` built at registration; built here with
   the version's identity for a board it lacks), kept in `.tinyml/rollouts/firmware/NAME@VERSION/<board>/` (with a
   telemetry gate: the field app, built here, in `.../field-<report_every>/<board>/`);
2. each device's current version, from its own INFO reply (the rollback target);
3. a plan in stages: the canary cohort, then shares of the fleet, then all (`Fleet.stage_plan`), written to the
   rollout store (tinyml.lifecycle.rollout_store) with one `pending` step per device; the version gets the
   `canary` alias;
4. device by device: `flashing` is written, the image flashed (an emulated device's image file, or the board's
   flasher), `verifying` written, the device probed (`probe`): it must report the version's registry id and lineage
   hash over INFO, answer without errors, run `vectors` test inputs with outputs equal to the host build of the
   registered model, and stay within the latency budget (instructions per inference on an emulator, cycles on a
   board, measured on the device); then `healthy` or `failed` with the reasons;
5. the canary stage advances only when all its devices are healthy; every later stage applies the abort rule
   (AWS IoT Jobs' abort criteria: abort when failed / finished devices exceeds `abort_failure_share` once at least
   `abort_min_devices` have finished);
6. success: `production` moves to the version (the one it replaced becomes `previous`), `canary` is removed;
   abort: every device touched is flashed back to the version it reported before, verified by its own INFO reply
   (`rolled_back`), `canary` is removed and `production` never pointed at the bad version.

Crash safety: every step's state is written before and after each side effect, and only one process drives a
rollout (the store's `driver`, claimed again from a dead one). After a `kill -9` at any point, `resume` re-probes the
devices left in `flashing` or `verifying` (a device already running the target is verified, otherwise flashed
again) and finishes the plan; the registry aliases are set idempotently.

With a `[telemetry]` table in the fleet file (or `tinyml deploy --monitor-store URL`) every version is flashed as
the field app (`tinyml build --app field`, built here with the version's identity) and two more gates use the
devices' reports in the monitor's store (tinyml.lifecycle.rollout_telemetry):
- the telemetry gate, once every canary is healthy: each canary's recent statistics against the control group's
  (the devices of later stages still on the canaries' previous version): input drift, label shift, confidence
  and shadow agreement within the thresholds; a canary outside them is `failed`, and the rollout rolls back;
- the shadow stage (`shadow_first = true`, `tinyml deploy --shadow-first`), before the canary stage: each canary is
  flashed with its previous version's field app running the new version as the shadow model (`--shadow`); the
  stage passes when every canary's challenger agreed with production on at least `min_agreement` of at least
  `min_shadow_runs` shadow runs; otherwise the canaries are flashed back to their plain previous version.
Both keep their state as gate steps in the rollout store (the marks that fix which reports count, each shadow
device's state), so `resume` after a kill -9 continues them. `extra_checks` are functions `(device, info) ->
[problems]` added to every probe.
"""
from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.lifecycle import emulated_fleet, registry
from tinyml.lifecycle import rollout_telemetry as telemetry
from tinyml.lifecycle.fleet import Device, Fleet, Rules, Telemetry
from tinyml.lifecycle.rollout_devices import (
    PROBE_BOOT_S,
    ExtraCheck,
    flash_device,
    probe,
    reported_version,
    runs_shadow,
)
from tinyml.lifecycle.rollout_store import RolloutStore
from tinyml.lifecycle.rollout_versions import (
    Say,
    Version,
    field_firmware,
    load_version,
    reference,
    rollout_firmware,
)

FINISHED = ("succeeded", "rolled_back")
ACTIVE = ("flashing", "verifying", "healthy", "failed", "rollback_flashing", "rollback_verifying")
SHADOW_ACTIVE = ("flashing", "verifying", "shadowing", "failed", "restoring")   # a shadow device to restore on abort


def _driver() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _stale_drivers(holder: str | None) -> set[str]:
    """The holder when it is a process of this host that no longer runs (killed); else nothing."""
    if not holder:
        return set()
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname():
        return set()
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return {holder}
    except (PermissionError, ValueError):
        return set()
    return set()


def start(store: RolloutStore, fleet: Fleet, ref_text: str, say: Say,
          shares: tuple[float, ...] | None = None) -> str:
    """Plans a rollout of NAME@VERSION to the fleet and writes it to the store; returns its id (drive it with
    `drive`). Fetches (or builds) the firmware first, so a rollout never starts without it."""
    fleet_path = str(fleet.path.resolve())
    active = [r for r in store.rollouts() if r["fleet"] == fleet_path and r["state"] not in FINISHED]
    if active:
        raise TinymlError(f"rollout {active[0]['id']} ({active[0]['identity']}) is still {active[0]['state']} on "
                          f"{fleet.path}; finish it with `tinyml rollout resume {active[0]['id']}` or `tinyml rollout "
                          f"rollback {active[0]['id']}` first", BAD_INPUT)
    for device in fleet.devices:
        if device.emulated:
            emulated_fleet.serial_url(fleet, device)   # a stopped emulator: one line, before anything is planned
    version = load_version(ref_text, {d.board.name for d in fleet.devices}, say)
    rules = fleet.rules if shares is None else replace(fleet.rules, stages=shares)
    for board_name in sorted({d.board.name for d in fleet.devices}):
        rollout_firmware(version, board_name, rules, say)
    plan = fleet.stage_plan(shares)
    before = {d.id: reported_version(fleet, d) for d in fleet.devices}
    rollout_id = f"{version.name}-{version.number}-{uuid.uuid4().hex[:6]}"
    stage_of = {device: i for i, (_, ids) in enumerate(plan) for device in ids}
    store.create({"id": rollout_id, "model": version.name, "version": version.number, "identity": version.identity,
                  "fleet": fleet_path, "plan": [[n, ids] for n, ids in plan],
                  "rules": rules.to_json(),
                  "state": "running", "paused": 0, "stage": 0},
                 [{"device": d.id, "board": d.board.name, "stage": stage_of[d.id], "target": version.identity,
                   "previous": before[d.id]} for d in fleet.devices])
    say(f"rollout {rollout_id}: {version.identity} to {len(fleet.devices)} devices in stages "
        + ", ".join(f"{n} ({len(ids)})" for n, ids in plan))
    return rollout_id


@dataclass
class Driver:
    """Drives one rollout from the state in the store to its end (or a pause)."""

    store: RolloutStore
    fleet: Fleet
    rollout_id: str
    say: Say
    extra_checks: tuple[ExtraCheck, ...] = ()
    _versions: dict[str, Version] = field(default_factory=dict)

    def version(self, registry_id: str) -> Version:
        if registry_id not in self._versions:
            self._versions[registry_id] = load_version(registry_id, {d.board.name for d in self.fleet.devices},
                                                       self.say)
        return self._versions[registry_id]

    def rules(self) -> Rules:
        return Rules.from_json(self.store.rollout(self.rollout_id)["rules"])

    def run(self) -> dict[str, Any]:
        row = self.store.rollout(self.rollout_id)
        if not self.store.claim(self.rollout_id, _driver(), _stale_drivers(row["driver"])):
            raise TinymlError(f"rollout {self.rollout_id} is being driven by {row['driver']}; pause it with `tinyml "
                              f"rollout pause {self.rollout_id}` or wait", BAD_INPUT)
        try:
            self._run()
        finally:
            self.store.update_rollout(self.rollout_id, driver=None)
        return self.store.rollout(self.rollout_id)

    def _run(self) -> None:
        row = self.store.rollout(self.rollout_id)
        target = self.version(row["identity"].split(" ")[0])
        if row["state"] == "running":
            registry.set_alias(target.name, target.number, "canary")
            if not self._stages(row, target):
                return
            row = self.store.rollout(self.rollout_id)
        if row["state"] == "promoting":
            for step in self.store.steps(self.rollout_id):
                if step["state"] in ("failed", "rollback_flashing", "rollback_verifying"):
                    self._roll_back_device(self.fleet.device(step["device"]), step)
            registry.set_alias(target.name, target.number, "production")
            registry.remove_alias(target.name, "canary")
            self.store.update_rollout(self.rollout_id, state="succeeded", note=f"{target.identity} in production")
            self.say(f"rollout {self.rollout_id}: every device healthy; {target.registry_id} is production")
        elif row["state"] == "rolling_back":
            self._roll_back(target)

    def _stages(self, row: dict[str, Any], target: Version) -> bool:
        """Runs the remaining stages; False when paused. Leaves the rollout `promoting` or `rolling_back`."""
        rules = Rules.from_json(row["rules"])
        for index, (stage_name, ids) in enumerate(row["plan"]):
            if index < row["stage"]:
                continue
            self.say(f"stage {stage_name}: {', '.join(ids)}")
            for device_id in ids:
                if self._paused(stage_name):
                    return False
                if stage_name == "shadow":
                    self._shadow_device(self.fleet.device(device_id), target, rules)
                    continue
                self._update(self.fleet.device(device_id), target, rules)
                if self._abort_reason(stage_name, rules):
                    return True
            if stage_name == "shadow" and self._shadow_verdict(ids, target, rules):
                return True
            if stage_name == "canary" and rules.telemetry is not None:
                self._telemetry_gate(ids, target, rules.telemetry)
                if self._abort_reason(stage_name, rules):
                    return True
            self.store.update_rollout(self.rollout_id, stage=index + 1)
        self.store.update_rollout(self.rollout_id, state="promoting", note="all stages healthy")
        return True

    def _paused(self, stage_name: str) -> bool:
        """True (and the rollout `paused`) when a pause was asked for."""
        if not self.store.rollout(self.rollout_id)["paused"]:
            return False
        self.store.update_rollout(self.rollout_id, state="paused", note=f"paused in stage {stage_name}")
        self.say(f"rollout {self.rollout_id} paused; `tinyml rollout resume {self.rollout_id}` continues")
        return True

    def _abort_reason(self, stage_name: str, rules: Rules) -> str | None:
        """Moves the rollout to `rolling_back` (and says why) when a canary fails or the abort rule says so."""
        steps = self.store.steps(self.rollout_id)
        failed = [s["device"] for s in steps if s["state"] == "failed"]
        finished = sum(s["state"] in ("healthy", "failed") for s in steps)
        reason = None
        if stage_name == "canary" and failed:
            reason = f"canary {failed[0]} is unhealthy: {'; '.join(_problems(steps, failed[0]))}"
        elif rules.should_abort(len(failed), finished):
            reason = (f"{len(failed)} of {finished} updated devices failed (abort share {rules.abort_failure_share}, "
                      f"after at least {rules.abort_min_devices}) in stage {stage_name}: {failed[0]}: "
                      f"{'; '.join(_problems(steps, failed[0]))}")
        if reason:
            self.store.update_rollout(self.rollout_id, state="rolling_back", note=reason)
            self.say(f"abort: {reason}")
        return reason

    def _budget(self, device: Device, target: Version, rules: Rules) -> int | None:
        """The fleet file's budget for the board, else the model's own (its bench report) times the tolerance."""
        explicit = rules.budget_for(device.board.name)
        if explicit is not None:
            return explicit
        own = target.budgets.get(device.board.name)
        return round(own * rules.latency_tolerance) if own else None

    def _update(self, device: Device, target: Version, rules: Rules) -> None:
        """pending -> flashing -> verifying -> healthy | failed, resuming from whatever state the store holds."""
        step = self._step(device.id)
        if step["state"] == "flashing" and reported_version(self.fleet, device, PROBE_BOOT_S) == target.registry_id:
            self.store.move(self.rollout_id, device.id, "verifying", ("flashing",), {"resumed": "already flashed"})
        elif step["state"] in ("pending", "flashing"):
            self.store.move(self.rollout_id, device.id, "flashing", ("pending", "flashing"))
            self.say(f"  {device.id}: flashing {target.identity}")
            try:
                flash_device(self.fleet, device, rollout_firmware(target, device.board.name, rules, self.say))
            except TinymlError as exc:
                self.store.move(self.rollout_id, device.id, "failed", ("flashing",), {"problems": [exc.message]})
                self.say(f"  {device.id}: failed: {exc.message}")
                return
            self.store.move(self.rollout_id, device.id, "verifying", ("flashing",))
        if self._step(device.id)["state"] == "verifying":
            health = probe(self.fleet, device, target, rules.vectors, self._budget(device, target, rules),
                           self.extra_checks)
            state = "healthy" if health.healthy else "failed"
            self.store.move(self.rollout_id, device.id, state, ("verifying",), health.detail)
            self.say(f"  {device.id}: {state}" + ("" if health.healthy else
                                                   f": {'; '.join(health.detail['problems'])}"))

    def _step(self, device_id: str) -> dict[str, Any]:
        return next(s for s in self.store.steps(self.rollout_id) if s["device"] == device_id)

    def _gate(self, gate: str, device_id: str) -> dict[str, Any] | None:
        return next((g for g in self.store.gates(self.rollout_id, gate) if g["device"] == device_id), None)

    # ---- the field telemetry gates ----

    def _model_hash(self, version: Version, rules: Rules) -> str:
        if not version.model_hash:
            reference(version, rules.vectors)
        return version.model_hash

    def _shadow_device(self, device: Device, target: Version, rules: Rules) -> None:
        """pending -> flashing -> verifying -> shadowing: the device runs its previous version's field app with
        the target as the shadow model, verified as its previous version (identity, outputs, latency)."""
        gate = self._gate("shadow", device.id)
        state = gate["state"] if gate else "pending"
        previous = self._step(device.id)["previous"]
        if state == "pending" and previous is None:
            self.store.move_gate(self.rollout_id, "shadow", device.id, "failed", ("pending",), {"problems": [
                "it reported no registered version before the rollout: no production model to run the shadow beside"]})
            return
        if state in ("pending", "flashing"):
            production = self.version(previous)
            self.store.move_gate(self.rollout_id, "shadow", device.id, "flashing", ("pending", "flashing"),
                                 {"production": previous})
            self.say(f"  {device.id}: flashing {previous} with {target.registry_id} as its shadow model")
            try:
                flash_device(self.fleet, device, field_firmware(production, device.board.name,
                                                                rules.telemetry.report_every, self.say, target))
            except TinymlError as exc:
                self.store.move_gate(self.rollout_id, "shadow", device.id, "failed", ("flashing",),
                                     {"production": previous, "problems": [exc.message]})
                return
            self.store.move_gate(self.rollout_id, "shadow", device.id, "verifying", ("flashing",),
                                 {"production": previous})
            state = "verifying"
        if state == "verifying":
            production = self.version(previous)
            health = probe(self.fleet, device, production, rules.vectors, self._budget(device, production, rules))
            with telemetry.open_monitor(rules.telemetry.store) as monitor:
                since = telemetry.mark(monitor, device)
            self.store.move_gate(self.rollout_id, "shadow", device.id, "shadowing" if health.healthy else "failed",
                                 ("verifying",), {**health.detail, "production": previous, "mark": since})
            self.say(f"  {device.id}: " + ("runs the shadow model" if health.healthy else
                                            f"failed: {'; '.join(health.detail['problems'])}"))

    def _shadow_verdict(self, ids: list[str], target: Version, rules: Rules) -> bool:
        """Reads the shadow devices' agreement from their reports: `agreed` or `failed` each; True (and the rollout
        `rolling_back`) when any failed."""
        rules_t = rules.telemetry
        watching = {g["device"]: g for g in self.store.gates(self.rollout_id, "shadow") if g["state"] == "shadowing"}
        if watching:
            hashes = {d: self._model_hash(self.version(g["detail"]["production"]), rules) for d, g in watching.items()}
            with telemetry.open_monitor(rules_t.store) as monitor:
                stats = telemetry.gather(self.fleet, monitor, {d: (g["detail"]["mark"], hashes[d])
                                                               for d, g in watching.items()},
                                         rules_t.min_shadow_runs, telemetry.enough_shadow_runs(rules_t.min_shadow_runs),
                                         rules_t, self.rollout_id, self.say)
            for device_id, gate in watching.items():
                problems, figures = telemetry.shadow_verdict(stats[device_id], rules_t)
                state = "failed" if problems else "agreed"
                self.store.move_gate(self.rollout_id, "shadow", device_id, state, ("shadowing",),
                                     {**gate["detail"], **figures, "problems": problems})
                self.say(f"  {device_id}: shadow {state}: {figures['shadow_agree']} of {figures['shadow_runs']} "
                         "agree" + (f"; {'; '.join(problems)}" if problems else ""))
        failed = [g for g in self.store.gates(self.rollout_id, "shadow") if g["device"] in ids and
                  g["state"] == "failed"]
        if not failed:
            return False
        reason = f"shadow stage: {failed[0]['device']}: {'; '.join(failed[0]['detail'].get('problems', []))}"
        self.store.update_rollout(self.rollout_id, state="rolling_back", note=reason)
        self.say(f"abort: {reason}")
        return True

    def _telemetry_gate(self, ids: list[str], target: Version, rules_t: Telemetry) -> None:
        """Once every canary is healthy: each canary's recent reports against the control group's; a canary outside
        the thresholds becomes `failed` (the abort rule then rolls the rollout back)."""
        steps = {s["device"]: s for s in self.store.steps(self.rollout_id)}
        gate = self._gate("telemetry", "*")
        if any(steps[i]["state"] != "healthy" for i in ids) or gate and gate["state"] in ("passed", "failed"):
            return
        previous = {steps[i]["previous"] for i in ids} - {None}
        control = [d.id for d in self.fleet.devices if steps[d.id]["state"] == "pending"
                   and steps[d.id]["previous"] in previous]
        if not control:
            note = "no control group: no device of a later stage runs the canaries' previous version"
            self.store.move_gate(self.rollout_id, "telemetry", "*", "passed", ("watching",), {"skipped": note})
            self.say(f"  telemetry gate skipped: {note}")
            return
        rules = self.rules()
        if gate is None:
            with telemetry.open_monitor(rules_t.store) as monitor:
                marks = {d: telemetry.mark(monitor, self.fleet.device(d)) for d in [*ids, *control]}
            self.store.move_gate(self.rollout_id, "telemetry", "*", "watching", ("watching",),
                                 {"marks": marks, "control": control})
        else:
            marks = gate["detail"]["marks"]
        hashes = {d: self._model_hash(target, rules) for d in ids} | {
            d: self._model_hash(self.version(steps[d]["previous"]), rules) for d in control}
        with telemetry.open_monitor(rules_t.store) as monitor:
            stats = telemetry.gather(self.fleet, monitor, {d: (marks[d], hashes[d]) for d in [*ids, *control]},
                                     rules_t.min_inferences, telemetry.enough_inferences(rules_t.min_inferences),
                                     rules_t, self.rollout_id, self.say)
        reference_stats = telemetry.merge([stats[d] for d in control])
        verdicts: dict[str, Any] = {}
        for device_id in ids:
            if reference_stats is None:
                problems, figures = [f"the control group ({', '.join(control)}) sent no reports within "
                                     f"{rules_t.wait_s:g} s"], {}
            else:
                problems, figures = telemetry.compare(stats[device_id], reference_stats, rules_t)
            verdicts[device_id] = {**figures, "problems": problems}
            if problems:
                self.store.move(self.rollout_id, device_id, "failed", ("healthy",),
                                {**steps[device_id]["detail"], "problems": problems, "telemetry": figures})
            self.say(f"  {device_id}: telemetry " + (f"outside the thresholds: {'; '.join(problems)}" if problems
                                                     else f"within the thresholds {figures}"))
        state = "failed" if any(v["problems"] for v in verdicts.values()) else "passed"
        self.store.move_gate(self.rollout_id, "telemetry", "*", state, ("watching",),
                             {"marks": marks, "control": control, "canaries": verdicts})

    def _roll_back(self, target: Version) -> None:
        """Every device touched goes back to the version it reported before, verified by its INFO reply."""
        steps = {s["device"]: s for s in self.store.steps(self.rollout_id)}
        for gate in self.store.gates(self.rollout_id, "shadow"):
            if "production" in gate["detail"] and (gate["state"] in SHADOW_ACTIVE or gate["state"] == "agreed"
                                                   and steps[gate["device"]]["state"] == "pending"):
                self._restore_shadowed(self.fleet.device(gate["device"]), gate)
        for step in self.store.steps(self.rollout_id):
            device = self.fleet.device(step["device"])
            if step["state"] == "pending":
                self.store.move(self.rollout_id, device.id, "skipped", ("pending",))
            elif step["state"] in ACTIVE:
                self._roll_back_device(device, step)
        registry.remove_alias(target.name, "canary")
        steps = self.store.steps(self.rollout_id)
        shadowed = self.store.gates(self.rollout_id, "shadow")
        back = sum(s["state"] == "rolled_back" for s in steps) + sum(g["state"] == "restored" for g in shadowed)
        stuck = [s["device"] for s in steps if s["state"] == "rollback_failed"] + [
            g["device"] for g in shadowed if g["state"] == "restore_failed"]
        note = self.store.rollout(self.rollout_id)["note"]
        self.store.update_rollout(self.rollout_id, state="rolled_back",
                                  note=f"{note}; {back} device(s) rolled back"
                                  + (f", {len(stuck)} could not be: {', '.join(stuck)}" if stuck else ""))
        self.say(f"rollout {self.rollout_id} rolled back: {back} device(s) back on their previous version"
                 + (f"; not rolled back: {', '.join(stuck)}" if stuck else ""))

    def _restore_shadowed(self, device: Device, gate: dict[str, Any]) -> None:
        """A shadow-stage device back on its plain previous version: its INFO reply names the version and its
        FIELD_INFO shows no shadow model."""
        production = gate["detail"]["production"]
        if gate["state"] != "restoring":
            self.store.move_gate(self.rollout_id, "shadow", device.id, "restoring", (*SHADOW_ACTIVE, "agreed"),
                                 gate["detail"])
            self.say(f"  {device.id}: back to plain {production}")
            try:
                flash_device(self.fleet, device, rollout_firmware(self.version(production), device.board.name,
                                                                  self.rules(), self.say))
            except TinymlError as exc:
                self.store.move_gate(self.rollout_id, "shadow", device.id, "restore_failed", ("restoring",),
                                     {**gate["detail"], "restore": exc.message})
                return
        reported, shadow = reported_version(self.fleet, device, PROBE_BOOT_S), runs_shadow(self.fleet, device)
        state = "restored" if reported == production and shadow is False else "restore_failed"
        self.store.move_gate(self.rollout_id, "shadow", device.id, state, ("restoring",),
                             {**gate["detail"], "reported": reported, "runs_shadow": shadow})
        self.say(f"  {device.id}: {state} (reports {reported}, shadow model: {shadow})")

    def _roll_back_device(self, device: Device, step: dict[str, Any]) -> None:
        """Flashes the device back to the version it reported before the rollout and checks its INFO reply; the
        step keeps the reasons it failed (if it did) beside the rollback's result."""
        previous, failure = step["previous"], {k: v for k, v in step["detail"].items() if k != "reported"}
        if previous is None:
            self.store.move(self.rollout_id, device.id, "rollback_failed", ACTIVE,
                            {**failure, "rollback": "it reported no registered version before the rollout; nothing "
                                                    "to roll back to (deploy a version to it)"})
            return
        if step["state"] != "rollback_verifying":
            self.store.move(self.rollout_id, device.id, "rollback_flashing", ACTIVE, {**failure, "to": previous})
            self.say(f"  {device.id}: rolling back to {previous}")
            try:
                flash_device(self.fleet, device, rollout_firmware(self.version(previous), device.board.name,
                                                                  self.rules(), self.say))
            except TinymlError as exc:
                self.store.move(self.rollout_id, device.id, "rollback_failed", ("rollback_flashing",),
                                {**failure, "to": previous, "rollback": exc.message})
                return
            self.store.move(self.rollout_id, device.id, "rollback_verifying", ("rollback_flashing",),
                            {**failure, "to": previous})
        reported = reported_version(self.fleet, device, PROBE_BOOT_S)
        state = "rolled_back" if reported == previous else "rollback_failed"
        self.store.move(self.rollout_id, device.id, state, ("rollback_verifying",),
                        {**failure, "to": previous, "reported": reported})
        self.say(f"  {device.id}: {state} (reports {reported})")


def _problems(steps: list[dict[str, Any]], device_id: str) -> list[str]:
    return next(s["detail"].get("problems", []) for s in steps if s["device"] == device_id)


# ---- commands ----

def pause(store: RolloutStore, rollout_id: str | None) -> dict[str, Any]:
    """Asks the rollout's driver to stop after the device it is updating (or stops a rollout nobody drives)."""
    row = store.rollout(rollout_id)
    if row["state"] not in ("running", "paused"):
        raise TinymlError(f"rollout {row['id']} is {row['state']}; only a running rollout can be paused", BAD_INPUT)
    store.update_rollout(row["id"], paused=1)
    if not row["driver"] or _stale_drivers(row["driver"]):
        store.update_rollout(row["id"], state="paused", note="paused")
    return store.rollout(row["id"])


def resume(store: RolloutStore, rollout_id: str | None, say: Say,
           extra_checks: tuple[ExtraCheck, ...] = ()) -> dict[str, Any]:
    """Continues a paused or interrupted rollout (after a kill -9 too) to its end."""
    row = store.rollout(rollout_id)
    if row["state"] in FINISHED:
        raise TinymlError(f"rollout {row['id']} has finished ({row['state']}); nothing to resume", BAD_INPUT)
    fleet = _fleet_of(row)
    if row["paused"] or row["state"] == "paused":
        store.update_rollout(row["id"], paused=0, state="running")
    return Driver(store, fleet, row["id"], say, extra_checks).run()


def roll_back(store: RolloutStore, rollout_id: str | None, say: Say) -> dict[str, Any]:
    """Aborts a running or paused rollout by hand: every device touched goes back to its previous version."""
    row = store.rollout(rollout_id)
    if row["state"] in FINISHED:
        raise TinymlError(f"rollout {row['id']} has finished ({row['state']}); to go back, deploy the previous "
                          f"version: tinyml deploy {row['model']}@previous --fleet {row['fleet']}", BAD_INPUT)
    if row["driver"] and not _stale_drivers(row["driver"]):
        raise TinymlError(f"rollout {row['id']} is being driven by {row['driver']}; pause it first (`tinyml rollout "
                          f"pause {row['id']}`), then roll it back", BAD_INPUT)
    fleet = _fleet_of(row)
    store.update_rollout(row["id"], paused=0, state="rolling_back", note="rolled back by hand")
    return Driver(store, fleet, row["id"], say).run()


def _fleet_of(row: dict[str, Any]) -> Fleet:
    from tinyml.lifecycle.fleet import load_fleet

    return load_fleet(Path(row["fleet"]))


def deploy(store: RolloutStore, fleet: Fleet, ref_text: str, say: Say, shares: tuple[float, ...] | None = None,
           extra_checks: tuple[ExtraCheck, ...] = ()) -> dict[str, Any]:
    """`tinyml deploy`: plan, then drive the rollout to its end (or a pause)."""
    rollout_id = start(store, fleet, ref_text, say, shares)
    return Driver(store, fleet, rollout_id, say, extra_checks).run()


def summary(store: RolloutStore, rollout_id: str | None) -> dict[str, Any]:
    """A rollout and its device steps (what `tinyml rollout status` prints)."""
    row = store.rollout(rollout_id)
    steps = store.steps(row["id"])
    counts: dict[str, int] = {}
    for s in steps:
        counts[s["state"]] = counts.get(s["state"], 0) + 1
    return {**row, "counts": counts, "devices": steps, "gates": store.gates(row["id"]), "store": store.where,
            "at": time.time()}
