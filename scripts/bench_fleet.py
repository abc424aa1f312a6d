"""Fleet benchmark: reports per second from simulated devices through a real mosquitto into the monitor's store.

Usage: python scripts/bench_fleet.py [--devices 1000] [--reports 5] [--write-docs]

Starts mosquitto and PostgreSQL on loopback (tinyml.field.servers), then for each store (SQLite file,
PostgreSQL): the monitor subscribes (QoS 1, persistent session, acknowledging each batch after its commit),
DEVICES simulated devices publish REPORTS reports each (10 channels x 16 bins, one output of 4 classes: a
1,016-byte frame), and the clock runs from the first publish to the last commit. Also the store alone: batches
of 500 reports ingested directly; and SQLite with drift scoring (a DriftTracker: every report, its device's
sliding window and the fleet after each batch). Checks every report was stored exactly once. `--write-docs`
writes the table into docs/FIELD.md between `<!-- fleet:begin -->` and `<!-- fleet:end -->`.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from doc_sections import replace_section

from tinyml.device.statistics import accumulate, layout_for
from tinyml.field.drift import DriftTracker
from tinyml.field.monitor import MqttSource, run_monitor
from tinyml.field.servers import Mosquitto, Postgres
from tinyml.field.simulate import fleet_reports, publish, random_inputs, toy_model
from tinyml.field.store import open_store

REPO_DIR = Path(__file__).resolve().parents[1]


def through_broker(broker: Mosquitto, spec: str, reports: list, topic: str,
                   tracker: DriftTracker | None = None) -> tuple[float, int, int]:
    url = f"{broker.url}/{topic}"
    source = MqttSource(url, f"bench-{topic}")
    store = open_store(spec)
    result: dict = {}
    start = time.monotonic()
    monitor = threading.Thread(target=lambda: result.update(s=run_monitor(source, store, tracker,
                                                                          max_reports=len(reports), duration=600)))
    monitor.start()
    publish(url, reports, timeout_s=600)
    monitor.join(620)
    seconds = time.monotonic() - start
    source.close()
    stored, unique = store.count(), len(set(store.keys()))
    store.close()
    return seconds, stored, unique


def store_alone(spec: str, reports: list) -> float:
    store = open_store(spec)
    start = time.monotonic()
    for i in range(0, len(reports), 500):
        store.ingest(reports[i:i + 500])
    seconds = time.monotonic() - start
    store.close()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--reports", type=int, default=5, help="reports per device")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    layout = layout_for(10, [4])
    reports = fleet_reports(args.devices, args.reports, layout)
    x = random_inputs(np.random.default_rng(1), 2000)
    reference = accumulate(x, toy_model(x, 4), layout)
    broker, database = Mosquitto().start(), Postgres().start()
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            import psycopg

            for name in ("broker_db", "alone_db"):
                with psycopg.connect(database.url, autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {name}")
            base = database.url.rsplit("/", 1)[0]
            stores = {"SQLite": (f"{tmp}/broker.sqlite", f"{tmp}/alone.sqlite", None),
                      "PostgreSQL": (f"{base}/broker_db", f"{base}/alone_db", None),
                      "SQLite, drift scored": (f"{tmp}/scored.sqlite", f"{tmp}/alone2.sqlite",
                                               DriftTracker(reference))}
            for n, (name, (spec_broker, spec_alone, tracker)) in enumerate(stores.items()):
                seconds, stored, unique = through_broker(broker, spec_broker, reports, f"t{n}", tracker)
                if stored != len(reports) or unique != len(reports):
                    print(f"error: {name}: {stored} stored ({unique} unique) of {len(reports)}", file=sys.stderr)
                    return 1
                alone = store_alone(spec_alone, reports)
                rows.append((name, len(reports), seconds, len(reports) / seconds, len(reports) / alone))
                print(f"{name}: {len(reports)} reports through mosquitto in {seconds:.2f} s = "
                      f"{len(reports) / seconds:,.0f} reports/s; store alone {len(reports) / alone:,.0f} reports/s")
    finally:
        broker.stop()
        database.stop()
    table = ["| store | reports (devices x reports) | through mosquitto, s | reports/s end to end | "
             "reports/s store alone |", "|---|---|---|---|---|"]
    table += [f"| {n} | {count:,} ({args.devices:,} x {args.reports}) | {s:.2f} | {rate:,.0f} | {alone:,.0f} |"
              for n, count, s, rate, alone in rows]
    table.append(f"\nMeasured on {platform.machine()} with {os.cpu_count()} cores shared with other work, "
                 f"Python {platform.python_version()}, mosquitto and PostgreSQL on loopback "
                 f"(`python scripts/bench_fleet.py --devices {args.devices} --reports {args.reports}`).")
    text = "\n".join(table)
    print(text)
    if args.write_docs:
        replace_section(REPO_DIR / "docs" / "FIELD.md", "fleet", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
