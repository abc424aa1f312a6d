"""The rollout store: every rollout and every device step as rows, in SQLite (a file, the default) or PostgreSQL
(`postgresql://...`, the same URL as the field monitor's store).

A device step is a state machine (`STEP_STATES`); `move` changes one in a transaction that also appends an event,
and only from the states the caller expects (compare and set), so two drivers can never both move a device and a
step is never counted twice. The driver writes a step's new state before each side effect (flashing) and its result
after it, so after a `kill -9` each row says what may have happened, and `resume` re-probes the devices left in
`flashing` or `verifying`. SQLite runs in WAL mode with synchronous=FULL; PostgreSQL has its own durability.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tinyml import database
from tinyml.database import Connection, connect
from tinyml.errors import BAD_INPUT, TinymlError

# pending -> flashing -> verifying -> healthy | failed; on rollback (healthy | failed | flashing | verifying) ->
# rollback_flashing -> rollback_verifying -> rolled_back | rollback_failed. `skipped`: never updated (the rollout
# was aborted before its stage).
STEP_STATES = ("pending", "flashing", "verifying", "healthy", "failed", "rollback_flashing", "rollback_verifying",
               "rolled_back", "rollback_failed", "skipped")
ROLLOUT_STATES = ("running", "paused", "promoting", "succeeded", "rolling_back", "rolled_back")
# A gate step: one device (or "*", the cohort) in a gate of the plan beside the device steps. The shadow stage:
# pending -> flashing -> verifying -> shadowing -> agreed | failed; on abort -> restoring -> restored |
# restore_failed. The telemetry gate of the canary stage: ("*") watching -> passed | failed.
GATE_STATES = ("pending", "flashing", "verifying", "shadowing", "agreed", "failed", "restoring", "restored",
               "restore_failed", "watching", "passed")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rollouts (id TEXT PRIMARY KEY, model TEXT NOT NULL, version BIGINT NOT NULL, "
    "identity TEXT NOT NULL, fleet TEXT NOT NULL, plan TEXT NOT NULL, rules TEXT NOT NULL, state TEXT NOT NULL, "
    "paused BIGINT NOT NULL, stage BIGINT NOT NULL, driver TEXT, note TEXT, created DOUBLE PRECISION NOT NULL, "
    "updated DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS steps (rollout TEXT NOT NULL, device TEXT NOT NULL, board TEXT NOT NULL, "
    "stage BIGINT NOT NULL, state TEXT NOT NULL, target TEXT NOT NULL, previous TEXT, detail TEXT NOT NULL, "
    "updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (rollout, device))",
    "CREATE TABLE IF NOT EXISTS rollout_events (rollout TEXT NOT NULL, happened DOUBLE PRECISION NOT NULL, "
    "device TEXT, state TEXT NOT NULL, detail TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gates (rollout TEXT NOT NULL, gate TEXT NOT NULL, device TEXT NOT NULL, "
    "state TEXT NOT NULL, detail TEXT NOT NULL, updated DOUBLE PRECISION NOT NULL, "
    "PRIMARY KEY (rollout, gate, device))",
)
_GATE_COLUMNS = ("rollout", "gate", "device", "state", "detail", "updated")
_ROLLOUT_COLUMNS = ("id", "model", "version", "identity", "fleet", "plan", "rules", "state", "paused", "stage",
                    "driver", "note", "created", "updated")
_STEP_COLUMNS = ("rollout", "device", "board", "stage", "state", "target", "previous", "detail", "updated")
_JSON_COLUMNS = ("plan", "rules", "detail")


class RolloutStore(database.Store):
    """A database connection with the rollout schema; use `open_rollout_store`. One thread at a time."""

    def __init__(self, db: Connection) -> None:
        super().__init__(db, _SCHEMA)

    def _event(self, cur: Any, rollout: str, device: str | None, state: str, detail: dict[str, Any]) -> None:
        cur.execute(self._sql("INSERT INTO rollout_events (rollout, happened, device, state, detail) "
                              "VALUES (?, ?, ?, ?, ?)"), (rollout, time.time(), device, state, json.dumps(detail)))

    # ---- writes (one transaction each) ----

    def create(self, rollout: dict[str, Any], steps: list[dict[str, Any]]) -> None:
        """The rollout and all its device steps (pending), at once."""
        now = time.time()
        row = {**rollout, "created": now, "updated": now, "driver": rollout.get("driver"), "note": None}
        with self._transaction() as cur:
            cur.execute(self._sql(f"INSERT INTO rollouts ({', '.join(_ROLLOUT_COLUMNS)}) VALUES "
                                  f"({', '.join('?' * len(_ROLLOUT_COLUMNS))})"),
                        tuple(_encode(c, row[c]) for c in _ROLLOUT_COLUMNS))
            for step in steps:
                values = {**step, "rollout": rollout["id"], "state": "pending", "detail": {}, "updated": now}
                cur.execute(self._sql(f"INSERT INTO steps ({', '.join(_STEP_COLUMNS)}) VALUES "
                                      f"({', '.join('?' * len(_STEP_COLUMNS))})"),
                            tuple(_encode(c, values.get(c)) for c in _STEP_COLUMNS))
            self._event(cur, rollout["id"], None, rollout["state"], {"identity": rollout["identity"]})

    def move(self, rollout: str, device: str, state: str, expect: tuple[str, ...],
             detail: dict[str, Any] | None = None) -> bool:
        """Moves one device step to `state` if it is in one of `expect`; False (nothing written) otherwise."""
        if state not in STEP_STATES:
            raise AssertionError(f"unknown step state {state}")
        marks = ", ".join("?" * len(expect))
        with self._transaction() as cur:
            cur.execute(self._sql(f"UPDATE steps SET state = ?, detail = ?, updated = ? WHERE rollout = ? AND "
                                  f"device = ? AND state IN ({marks})"),
                        (state, json.dumps(detail or {}), time.time(), rollout, device, *expect))
            moved = cur.rowcount == 1
            if moved:
                self._event(cur, rollout, device, state, detail or {})
        return moved

    def move_gate(self, rollout: str, gate: str, device: str, state: str, expect: tuple[str, ...],
                  detail: dict[str, Any] | None = None) -> bool:
        """Moves a gate step (created as `expect[0]` when the rollout has none yet: `expect` must then start with
        its first state) to `state` if it is in one of `expect`; False (nothing written) otherwise."""
        if state not in GATE_STATES:
            raise AssertionError(f"unknown gate state {state}")
        marks = ", ".join("?" * len(expect))
        encoded = json.dumps(detail or {})
        with self._transaction() as cur:
            cur.execute(self._sql("INSERT INTO gates (rollout, gate, device, state, detail, updated) VALUES "
                                  "(?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"),
                        (rollout, gate, device, expect[0], "{}", time.time()))
            cur.execute(self._sql(f"UPDATE gates SET state = ?, detail = ?, updated = ? WHERE rollout = ? AND "
                                  f"gate = ? AND device = ? AND state IN ({marks})"),
                        (state, encoded, time.time(), rollout, gate, device, *expect))
            moved = cur.rowcount == 1
            if moved:
                self._event(cur, rollout, device, f"{gate}:{state}", detail or {})
        return moved

    def update_rollout(self, rollout: str, **fields: Any) -> None:
        """Sets fields of the rollout row (state, stage, paused, driver, note) and logs a state change."""
        unknown = set(fields) - {"state", "stage", "paused", "driver", "note"}
        if unknown or fields.get("state", "running") not in ROLLOUT_STATES:
            raise AssertionError(f"bad rollout update {fields}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._transaction() as cur:
            cur.execute(self._sql(f"UPDATE rollouts SET {sets}, updated = ? WHERE id = ?"),
                        (*fields.values(), time.time(), rollout))
            if "state" in fields:
                self._event(cur, rollout, None, fields["state"], {"note": fields.get("note")})

    def claim(self, rollout: str, driver: str, stale: set[str]) -> bool:
        """Makes `driver` the one process driving the rollout, if nobody or a `stale` (dead) driver holds it."""
        holders = ("", *sorted(stale))
        marks = ", ".join("?" * len(holders))
        with self._transaction() as cur:
            cur.execute(self._sql(f"UPDATE rollouts SET driver = ?, updated = ? WHERE id = ? AND "
                                  f"COALESCE(driver, '') IN ({marks})"), (driver, time.time(), rollout, *holders))
            return cur.rowcount == 1

    # ---- reads ----

    def rollout(self, rollout: str | None = None) -> dict[str, Any]:
        """One rollout (the newest when `rollout` is None); a clear error when there is none."""
        query = ("SELECT * FROM rollouts WHERE id = ?" if rollout else
                 "SELECT * FROM rollouts ORDER BY created DESC LIMIT 1")
        rows = self._rows(query, (rollout,) if rollout else (), _ROLLOUT_COLUMNS)
        if not rows:
            raise TinymlError(f"{self.where}: no rollout {rollout}" if rollout else
                              f"{self.where}: no rollouts yet (start one with `tinyml deploy NAME@VERSION --fleet "
                              "fleet.toml`)", BAD_INPUT)
        return rows[0]

    def rollouts(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM rollouts ORDER BY created DESC", (), _ROLLOUT_COLUMNS)

    def steps(self, rollout: str) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM steps WHERE rollout = ? ORDER BY stage, device", (rollout,), _STEP_COLUMNS)

    def gates(self, rollout: str, gate: str | None = None) -> list[dict[str, Any]]:
        """The rollout's gate steps (of one gate), by gate and device."""
        where = "rollout = ?" + (" AND gate = ?" if gate else "")
        return self._rows(f"SELECT * FROM gates WHERE {where} ORDER BY gate, device", (rollout, gate) if gate else
                          (rollout,), _GATE_COLUMNS)

    def events(self, rollout: str) -> list[dict[str, Any]]:
        return self._rows("SELECT rollout, happened, device, state, detail FROM rollout_events WHERE rollout = ? "
                          "ORDER BY happened", (rollout,), ("rollout", "happened", "device", "state", "detail"))

    def _rows(self, query: str, args: tuple[Any, ...], columns: tuple[str, ...]) -> list[dict[str, Any]]:
        select = query.replace("SELECT *", f"SELECT {', '.join(columns)}")
        with self._transaction() as cur:
            cur.execute(self._sql(select), args)
            return [{c: _decode(c, v) for c, v in zip(columns, row)} for row in cur.fetchall()]



def _encode(column: str, value: Any) -> Any:
    return json.dumps(value) if column in _JSON_COLUMNS else value


def _decode(column: str, value: Any) -> Any:
    if column in _JSON_COLUMNS:
        return json.loads(value)
    return int(value) if column in ("version", "paused", "stage") else value


def default_store() -> Path:
    """`.tinyml/rollouts.db` in the project's data folder (beside the local MLflow store)."""
    from tinyml.lifecycle.tracking import STORE_DIR

    return STORE_DIR / "rollouts.db"


def open_rollout_store(spec: str | Path | None = None) -> RolloutStore:
    """`postgresql://user@host:port/db`, a SQLite file path (created with its folder), or the default file."""
    return RolloutStore(connect(spec or default_store(), "the rollout store", " with --store"))
