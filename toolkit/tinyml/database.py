"""One way to open the project's stores (field reports, rollouts): a SQLite file by default, PostgreSQL by URL.

SQLite runs in WAL mode with synchronous=FULL so a committed transaction survives a `kill -9`; PostgreSQL has its
own durability. `Transaction` commits on success and rolls back on any exception, so a store written only inside
transactions never holds half a change. Errors are one line naming the file or the server (never its password).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from tinyml.errors import BAD_INPUT, TinymlError

PSYCOPG_PIN = "psycopg[binary]==3.3.9"


@dataclass(frozen=True)
class Connection:
    conn: Any    # a DB-API connection
    param: str   # the driver's placeholder: "?" (sqlite3) or "%s" (psycopg)
    blob: str    # the column type for bytes: BLOB or BYTEA
    where: str   # the file, or the URL without its password, for messages

    def sql(self, statement: str) -> str:
        """`statement` written with `?` placeholders, in this driver's style."""
        return statement.replace("?", self.param)


class Transaction:
    """`with Transaction(conn) as cur:` one transaction: commit on success, rollback on any exception."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def __enter__(self) -> Any:
        self._cur = self._conn.cursor()
        return self._cur

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            (self._conn.commit if exc_type is None else self._conn.rollback)()
        finally:
            self._cur.close()


class Store:
    """What the project's stores share: one connection (`_conn`, its placeholder style `_sql`, `where` for
    messages), their schema created in one transaction, transactions, and closing (also by leaving a `with`
    block). One thread at a time."""

    def __init__(self, db: Connection, schema: Iterable[str]) -> None:
        self._conn, self._sql, self.where = db.conn, db.sql, db.where
        with self._transaction() as cur:
            for statement in schema:
                cur.execute(statement.format(blob=db.blob))

    def _transaction(self) -> Transaction:
        return Transaction(self._conn)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_postgres(spec: str | Path) -> bool:
    return str(spec).startswith(("postgresql://", "postgres://"))


def connect(spec: str | Path, what: str, hint: str = "") -> Connection:
    """`postgresql://user@host:port/db` or a SQLite file path (created with its folder). `what` names the store in
    errors ("the rollout store"); `hint` is appended to them (e.g. which option takes the URL)."""
    if _is_postgres(spec):
        return _postgres(str(spec), what)
    path = Path(spec)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30.0, isolation_level="DEFERRED", check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return Connection(conn, "?", "BLOB", str(path))
    except (sqlite3.Error, OSError) as exc:
        raise TinymlError(f"{path}: cannot open {what} ({exc}); give a writable file path or a postgresql:// URL"
                          f"{hint}", BAD_INPUT) from exc


def _postgres(url: str, what: str) -> Connection:
    try:
        import psycopg
    except ImportError as exc:
        raise TinymlError(f"{what} on PostgreSQL needs psycopg 3: pip install '{PSYCOPG_PIN}' (see "
                          "requirements.txt)", BAD_INPUT) from exc
    parts = urlsplit(url)
    shown = f"postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"  # never the password
    try:
        return Connection(psycopg.connect(url, connect_timeout=10), "%s", "BYTEA", shown)
    except psycopg.Error as exc:
        raise TinymlError(f"cannot use {what} at {shown}: {str(exc).strip().splitlines()[0]}", BAD_INPUT) from exc
