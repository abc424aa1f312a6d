"""The rollout commands: `deploy` (a staged rollout with canaries and automatic rollback), `rollout` (status, pause,
resume, rollback over the rollout store) and `fleet` (the fleet's emulated devices; what every device reports)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tinyml.errors import DEVICE_FAILURE, TinymlError

fleet_option = click.option("--fleet", "fleet_path", type=click.Path(path_type=Path), required=True,
                            help="The fleet file (devices, cohorts, stages, health rules; see docs/LIFECYCLE.md).")
store_option = click.option("--store", default=None,
                            help="Rollout store: a SQLite file (default .tinyml/rollouts.db) or postgresql:// URL.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _say(message: str) -> None:
    click.echo(message, err=True)


def _table(summary: dict[str, Any]) -> str:
    lines = [f"rollout {summary['id']}: {summary['identity']} {summary['state']}"
             + (f" ({summary['note']})" if summary.get("note") else ""),
             f"{'device':12} {'board':14} {'stage':6} {'state':18} {'was':10} {'reports':10} {'per inference':>14}  "
             "problems"]
    plan = [name for name, _ in summary["plan"]]
    for s in summary["devices"]:
        d = s["detail"]
        count = f"{d['per_inference']} {d['counter'][:5]}" if "per_inference" in d else "-"
        lines.append(f"{s['device']:12} {s['board']:14} {plan[s['stage']]:6} {s['state']:18} "
                     f"{s['previous'] or '-':10} {d.get('reported') or '-':10} {count:>14}  "
                     f"{'; '.join(d.get('problems', [])) or '-'}")
    for g in summary.get("gates", []):
        d = g["detail"]
        figures = ", ".join(f"{k} {d[k]}" for k in ("production", "shadow_agree", "shadow_runs", "agreement", "skipped")
                            if d.get(k) is not None)
        problems = d.get("problems") or [p for v in d.get("canaries", {}).values() for p in v["problems"]]
        lines.append(f"gate {g['gate']:8} {g['device']:12} {g['state']:16} {figures or '-'}  "
                     f"{'; '.join(problems) or '-'}")
    return "\n".join(lines)


def _finish(summary: dict[str, Any], as_json: bool) -> None:
    click.echo(json.dumps(summary, indent=2) if as_json else _table(summary))
    if summary["state"] == "rolled_back":
        raise TinymlError(f"rollout {summary['id']} of {summary['identity']} was rolled back: {summary['note']}",
                          DEVICE_FAILURE)


def _shares(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        shares = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a list of shares such as 0.5 or 0.25,0.5") from None
    if any(not 0 < s <= 1 for s in shares) or list(shares) != sorted(shares):
        raise click.BadParameter(f"'{text}': shares must grow and lie in (0, 1]")
    return shares


@click.command("deploy")
@click.argument("ref")
@fleet_option
@store_option
@click.option("--stages", help="Shares of the fleet after the canary cohort, e.g. 0.5 or 0.25,0.5 "
                                "(default: the fleet file's rollout.stages; the last stage is always all).")
@click.option("--monitor-store", help="The monitor's report store (a SQLite file, sqlite:///PATH or postgresql://): "
                                      "turns on the field telemetry gate (default: the fleet file's telemetry.store).")
@click.option("--shadow-first", is_flag=True, help="A shadow stage first: the canaries run the new version as the "
                                                    "shadow model beside production; promoted on agreement.")
@json_option
def deploy(ref: str, fleet_path: Path, store: str | None, stages: str | None, monitor_store: str | None,
           shadow_first: bool, as_json: bool) -> None:
    """Roll NAME@VERSION out to a fleet in stages: canaries first, health-checked, rolled back on failure."""
    from dataclasses import replace

    from tinyml.lifecycle import rollout
    from tinyml.lifecycle.fleet import Telemetry, load_fleet
    from tinyml.lifecycle.rollout_store import open_rollout_store

    fleet = load_fleet(fleet_path)
    rules = fleet.rules
    if monitor_store:
        where = monitor_store if "://" in monitor_store else str(Path(monitor_store).resolve())
        rules = replace(rules, telemetry=replace(rules.telemetry or Telemetry(), store=where))
    if shadow_first:
        if rules.telemetry is None:
            raise click.BadParameter("needs the field telemetry: give --monitor-store or a [telemetry] table in "
                                     f"{fleet_path}", param_hint="--shadow-first")
        rules = replace(rules, shadow_first=True)
    fleet = replace(fleet, rules=rules)
    with open_rollout_store(store) as db:
        done = rollout.deploy(db, fleet, ref, _say, _shares(stages))
        _finish(rollout.summary(db, done["id"]), as_json)


@click.group("rollout")
def rollout_group() -> None:
    """Rollouts in the rollout store: status, pause, resume, rollback."""


@rollout_group.command("status")
@click.argument("rollout_id", required=False)
@store_option
@click.option("--all", "show_all", is_flag=True, help="List every rollout instead.")
@json_option
def status(rollout_id: str | None, store: str | None, show_all: bool, as_json: bool) -> None:
    """A rollout (default: the newest) and the state of each device."""
    from tinyml.lifecycle import rollout
    from tinyml.lifecycle.rollout_store import open_rollout_store

    with open_rollout_store(store) as db:
        if show_all:
            rows = db.rollouts()
            click.echo(json.dumps(rows, indent=2) if as_json else "\n".join(
                f"{r['id']:16} {r['identity']:24} {r['state']:12} {r['note'] or ''}" for r in rows))
            return
        summary = rollout.summary(db, rollout_id)
    click.echo(json.dumps(summary, indent=2) if as_json else _table(summary))


@rollout_group.command("pause")
@click.argument("rollout_id", required=False)
@store_option
def pause(rollout_id: str | None, store: str | None) -> None:
    """Stop a rollout after the device being updated now (`resume` continues it)."""
    from tinyml.lifecycle import rollout
    from tinyml.lifecycle.rollout_store import open_rollout_store

    with open_rollout_store(store) as db:
        row = rollout.pause(db, rollout_id)
    click.echo(f"rollout {row['id']}: pause requested ({row['state']})")


def _act_on(action_name: str, rollout_id: str | None, store: str | None) -> dict[str, Any]:
    """Run `tinyml.lifecycle.rollout.<action_name>` (resume or roll_back) on a rollout (default: the newest), telling
    each step on stderr; its summary afterwards."""
    from tinyml.lifecycle import rollout
    from tinyml.lifecycle.rollout_store import open_rollout_store

    with open_rollout_store(store) as db:
        done = getattr(rollout, action_name)(db, rollout_id, _say)
        return rollout.summary(db, done["id"])


@rollout_group.command("resume")
@click.argument("rollout_id", required=False)
@store_option
@json_option
def resume(rollout_id: str | None, store: str | None, as_json: bool) -> None:
    """Continue a paused or interrupted rollout (also after kill -9) to its end."""
    _finish(_act_on("resume", rollout_id, store), as_json)


@rollout_group.command("rollback")
@click.argument("rollout_id", required=False)
@store_option
@json_option
def rollback(rollout_id: str | None, store: str | None, as_json: bool) -> None:
    """Abort a rollout by hand: every device it touched goes back to its previous version."""
    summary = _act_on("roll_back", rollout_id, store)
    click.echo(json.dumps(summary, indent=2) if as_json else _table(summary))


@click.group("fleet")
def fleet_group() -> None:
    """The devices of a fleet file: emulated devices, and what each device reports."""


@fleet_group.command("emulate")
@click.argument("action", type=click.Choice(["start", "stop", "status"]))
@fleet_option
@click.option("--lifetime", type=float, default=12 * 3600.0, show_default=True,
              help="Seconds after which each emulator supervisor stops by itself.")
@json_option
def emulate(action: str, fleet_path: Path, lifetime: float, as_json: bool) -> None:
    """Start, stop or show the QEMU devices of the fleet (each with its own serial port and flash image)."""
    from tinyml.lifecycle import emulated_fleet
    from tinyml.lifecycle.fleet import load_fleet

    fleet = load_fleet(fleet_path)
    if action == "start":
        states = emulated_fleet.start_fleet(fleet, lifetime)
    elif action == "stop":
        states = emulated_fleet.stop_fleet(fleet)
    else:
        states = [emulated_fleet.state(fleet, d) for d in emulated_fleet.emulated_devices(fleet)]
    data = [s.to_json() for s in states]
    click.echo(json.dumps(data, indent=2) if as_json else "\n".join(
        f"{s.id:12} {s.board:14} {'running' if s.running else 'stopped':8} "
        f"{s.to_json()['url'] or '-':28} {'image' if s.image else 'blank'}" for s in states))


@fleet_group.command("probe")
@fleet_option
@json_option
def probe(fleet_path: Path, as_json: bool) -> None:
    """What every device of the fleet reports it runs (INFO), not what was planned."""
    from tinyml.lifecycle.fleet import load_fleet
    from tinyml.lifecycle.rollout_devices import reported_version

    fleet = load_fleet(fleet_path)
    data = [{"id": d.id, "board": d.board.name, "reports": reported_version(fleet, d)} for d in fleet.devices]
    click.echo(json.dumps(data, indent=2) if as_json else "\n".join(
        f"{d['id']:12} {d['board']:14} {d['reports'] or '-'}" for d in data))


COMMANDS = (deploy, rollout_group, fleet_group)
