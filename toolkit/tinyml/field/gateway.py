"""`tinyml gateway`: a device's serial link bridged to an MQTT broker, through a spool on disk.

Every report read from the link is first committed to the spool (SQLite, one row per (device, boot, seq), so a
report the device sends twice is spooled once), then published with QoS 1 on `<topic>/<device id hex>`. A row is
marked sent only when its PUBACK has arrived. While the broker is down, reports accumulate in the spool; after a
restart of the gateway, only rows never acknowledged are published again. The one window left: a gateway killed
between a PUBACK and the commit of its mark publishes that report again, and the monitor's store drops the
repeat.
"""
from __future__ import annotations

import queue
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tinyml.device.transport import Transport, open_transport
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.field.mqtt import MqttUrl, client, connect
from tinyml.field.report import Report, ReportReader, encode_report

IN_FLIGHT = 100      # publishes awaiting their PUBACK at most
DRAIN_TIMEOUT_S = 10.0


@dataclass
class GatewaySummary:
    read: int = 0         # reports read from the device
    spooled: int = 0      # new rows in the spool (a repeat of a spooled report is not)
    published: int = 0    # acknowledged by the broker
    pending: int = 0      # left in the spool, unacknowledged, at exit
    malformed: int = 0
    damaged: int = 0

    def to_json(self) -> dict:
        return asdict(self)


class Spool:
    """The on-disk queue: SQLite in WAL mode with synchronous=FULL (every commit is on disk)."""

    def __init__(self, path: Path) -> None:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                             "device TEXT NOT NULL, boot INTEGER NOT NULL, seq INTEGER NOT NULL, frame BLOB NOT NULL,"
                             " sent INTEGER NOT NULL DEFAULT 0, UNIQUE (device, boot, seq))")
            self._db.commit()
        except (sqlite3.Error, OSError) as exc:
            raise TinymlError(f"{path}: cannot open the gateway spool ({exc}); give a writable file", BAD_INPUT) \
                from exc

    def add(self, reports: list[Report]) -> int:
        with self._db:
            before = self._db.total_changes
            self._db.executemany("INSERT OR IGNORE INTO spool (device, boot, seq, frame) VALUES (?, ?, ?, ?)",
                                 [(r.device, r.boot, r.seq, encode_report(r)) for r in reports])
            return self._db.total_changes - before

    def unsent(self, exclude: set[int], limit: int) -> list[tuple[int, str, bytes]]:
        rows = self._db.execute("SELECT id, device, frame FROM spool WHERE sent = 0 ORDER BY id LIMIT ?",
                                (limit + len(exclude),)).fetchall()
        return [(i, d, bytes(f)) for i, d, f in rows if i not in exclude][:limit]

    def mark_sent(self, ids: list[int]) -> None:
        with self._db:
            self._db.executemany("UPDATE spool SET sent = 1 WHERE id = ?", [(i,) for i in ids])

    def pending(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM spool WHERE sent = 0").fetchone()[0])

    def close(self) -> None:
        self._db.close()


class Gateway:
    def __init__(self, port: Transport | str, mqtt_url: str, spool: Path, client_id: str) -> None:
        self.url = MqttUrl.parse(mqtt_url)
        self.spool = Spool(spool)
        self._acked: queue.Queue[int] = queue.Queue()
        self._in_flight: dict[int, int] = {}  # MQTT mid -> spool row id
        self._client = client(client_id, persistent=True)
        self._client.on_publish = lambda c, u, mid, reason, p: self._acked.put(mid)
        connect(self._client, self.url, "gateway")
        self._port = open_transport(port) if isinstance(port, str) else port
        self._reader = ReportReader()
        self.summary = GatewaySummary()

    def step(self) -> None:
        """One read of the link (at most READ_GAP_S of quiet), then spool, acknowledge and publish."""
        data = self._port.read()
        reports = self._reader.feed(data) if data else self._reader.expire()
        if reports:
            self.summary.read += len(reports)
            self.summary.spooled += self.spool.add(reports)
        self._settle()
        self._publish()

    def _settle(self) -> None:
        done = []
        while True:
            try:
                mid = self._acked.get_nowait()
            except queue.Empty:
                break
            if mid in self._in_flight:
                done.append(self._in_flight.pop(mid))
        if done:
            self.spool.mark_sent(done)
            self.summary.published += len(done)

    def _publish(self) -> None:
        room = IN_FLIGHT - len(self._in_flight)
        if room <= 0:
            return
        for row, device, frame in self.spool.unsent(set(self._in_flight.values()), room):
            info = self._client.publish(self.url.device_topic(device), frame, qos=1)
            self._in_flight[info.mid] = row  # paho keeps it queued while disconnected and sends it on reconnect

    def drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Waits (bounded) for the broker to acknowledge what is spooled."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and (self._in_flight or self.spool.pending()):
            self._settle()
            self._publish()
            time.sleep(0.05)
        self._settle()

    def close(self) -> GatewaySummary:
        self.summary.pending = self.spool.pending()
        self.summary.malformed, self.summary.damaged = self._reader.malformed, self._reader.damaged
        self._client.disconnect()
        self._client.loop_stop()
        self._port.close()
        self.spool.close()
        return self.summary


def run_gateway(port: Transport | str, mqtt_url: str, spool: Path, *, client_id: str = "tinyml-gateway",
                max_reports: int | None = None, duration: float | None = None) -> GatewaySummary:
    """Bridges until `duration` has passed or `max_reports` reports were read, then drains (bounded)."""
    gateway = Gateway(port, mqtt_url, spool, client_id)
    end = time.monotonic() + duration if duration is not None else float("inf")
    try:
        while time.monotonic() < end and (max_reports is None or gateway.summary.read < max_reports):
            gateway.step()
        gateway.drain()
    finally:
        summary = gateway.close()
    return summary

