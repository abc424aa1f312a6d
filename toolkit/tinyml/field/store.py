"""The report store: SQLite (a file, the default) or PostgreSQL (`postgresql://...`, psycopg 3).

One row per report, keyed by (device, boot, seq): ingestion is idempotent, a duplicate (a resend, a replayed
frame, a broker redelivery) is dropped and counted, a report arriving out of order is simply stored. Each batch
is one transaction, counters included, so a process killed mid-write leaves either the whole batch or none of it
(SQLite in WAL mode with synchronous=FULL; PostgreSQL's own durability). The raw payload is kept: any report can
be decoded again by a later tinyml.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyml import database
from tinyml.database import Connection, connect
from tinyml.field.report import Report, decode_payload, encode_payload

COUNTERS = ("stored", "duplicates", "malformed", "damaged")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS reports (device TEXT NOT NULL, boot BIGINT NOT NULL, seq BIGINT NOT NULL, "
    "received_at DOUBLE PRECISION NOT NULL, firmware TEXT NOT NULL, model_hash TEXT NOT NULL, "
    "window_length BIGINT NOT NULL, inferences BIGINT NOT NULL, payload {blob} NOT NULL, "
    "PRIMARY KEY (device, boot, seq))",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
)


@dataclass(frozen=True)
class Ingested:
    stored: int
    duplicates: int


class Store(database.Store):
    """A database connection with the report schema; use `open_store`. One thread at a time."""

    def __init__(self, db: Connection) -> None:
        super().__init__(db, _SCHEMA)
        with self._transaction() as cur:
            for name in COUNTERS:
                cur.execute(self._sql("INSERT INTO counters (name, value) VALUES (?, 0) ON CONFLICT DO NOTHING"),
                            (name,))

    def ingest(self, reports: list[Report]) -> Ingested:
        """Stores a batch in one transaction; reports already stored (same device, boot, seq) are counted."""
        now = time.time()
        insert = self._sql("INSERT INTO reports (device, boot, seq, received_at, firmware, model_hash, "
                           "window_length, inferences, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT DO NOTHING")
        if not reports:
            return Ingested(0, 0)
        with self._transaction() as cur:
            cur.executemany(insert, [(r.device, r.boot, r.seq, now, r.firmware, r.model_hash, r.window,
                                      r.stats.inferences, encode_payload(r)) for r in reports])
            stored = max(cur.rowcount, 0)  # both drivers sum the rows that each statement inserted
            self._add(cur, stored=stored, duplicates=len(reports) - stored)
        return Ingested(stored, len(reports) - stored)

    def count_rejected(self, malformed: int = 0, damaged: int = 0) -> None:
        if malformed or damaged:
            with self._transaction() as cur:
                self._add(cur, malformed=malformed, damaged=damaged)

    def _add(self, cur: Any, **amounts: int) -> None:
        for name, amount in amounts.items():
            if amount:
                cur.execute(self._sql("UPDATE counters SET value = value + ? WHERE name = ?"), (amount, name))

    def counters(self) -> dict[str, int]:
        with self._transaction() as cur:
            cur.execute("SELECT name, value FROM counters")
            return {name: int(value) for name, value in cur.fetchall()}

    def count(self) -> int:
        with self._transaction() as cur:
            cur.execute("SELECT COUNT(*) FROM reports")
            return int(cur.fetchone()[0])

    def keys(self) -> list[tuple[str, int, int]]:
        with self._transaction() as cur:
            cur.execute("SELECT device, boot, seq FROM reports ORDER BY device, boot, seq")
            return [(d, int(b), int(s)) for d, b, s in cur.fetchall()]

    def reports(self, device: str | None = None) -> Iterator[Report]:
        """Stored reports in (device, boot, seq) order, decoded again from their payload."""
        query = "SELECT payload FROM reports" + (" WHERE device = ?" if device else "") + \
            " ORDER BY device, boot, seq"
        with self._transaction() as cur:
            cur.execute(self._sql(query), (device,) if device else ())
            rows = cur.fetchall()
        for (payload,) in rows:
            yield decode_payload(bytes(payload))



def open_store(spec: str | Path) -> Store:
    """`postgresql://user@host:port/db` or a SQLite file path (created with its folder)."""
    return Store(connect(spec, "the report store"))
