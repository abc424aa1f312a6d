"""The store, on SQLite and on a real PostgreSQL: idempotent on (device, boot, seq), out-of-order accepted,
rejections counted, and a process killed mid-write leaves whole batches only."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.field.conftest import make_reports
from tinyml.errors import TinymlError
from tinyml.field.store import open_store


@pytest.fixture(params=["sqlite", "postgresql"])
def store_spec(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "field.sqlite")
    return request.getfixturevalue("pg_url")


def test_ingestion_is_idempotent_and_accepts_out_of_order(store_spec):
    reports = make_reports(4, 3)
    with open_store(store_spec) as store:
        first = store.ingest(list(reversed(reports[:8])))  # out of order
        again = store.ingest(reports)  # 8 repeats, 4 new
        assert (first.stored, first.duplicates, again.stored, again.duplicates) == (8, 0, 4, 8)
        store.count_rejected(malformed=2, damaged=3)
        assert store.counters() == {"stored": 12, "duplicates": 8, "malformed": 2, "damaged": 3}
        assert store.keys() == sorted((r.device, r.boot, r.seq) for r in reports)
        stored = {(r.device, r.seq): r for r in store.reports()}
        assert all(stored[(r.device, r.seq)].stats.to_json() == r.stats.to_json() for r in reports)
    with open_store(store_spec) as store:  # reopening keeps everything
        assert store.count() == 12 and store.counters()["duplicates"] == 8


def test_a_duplicate_inside_one_batch_is_counted(store_spec):
    reports = make_reports(2, 1)
    with open_store(store_spec) as store:
        result = store.ingest(reports + reports[:1])
        assert (result.stored, result.duplicates) == (2, 1)


WRITER = """
import sys
from tests.field.conftest import make_reports
from tinyml.field.store import open_store
store = open_store(sys.argv[1])
batch = 0
while True:
    reports = make_reports(25, 1, seed=batch)
    for r in reports:
        object.__setattr__(r, "boot", batch)
    store.ingest(reports)
    batch += 1
    print(batch, flush=True)
"""


def test_a_writer_killed_mid_write_leaves_whole_batches(store_spec):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, store_spec], stdout=subprocess.PIPE, text=True,
                            cwd=os.getcwd(), env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and int(proc.stdout.readline() or 0) < 5:
            pass
        time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
    with open_store(store_spec) as store:
        keys = store.keys()
        assert len(keys) >= 5 * 25 and len(keys) % 25 == 0, len(keys)  # no half batch
        assert store.counters()["stored"] == len(keys)
        assert sum(1 for _ in store.reports()) == len(keys)  # every stored payload decodes


def test_an_unusable_store_is_one_line():
    with pytest.raises(TinymlError, match="cannot open the report store"):
        open_store("/proc/no/such/dir/field.sqlite")
    with pytest.raises(TinymlError, match=r"report store at postgresql://127.0.0.1:1/x"):
        open_store("postgresql://u:secret@127.0.0.1:1/x")
