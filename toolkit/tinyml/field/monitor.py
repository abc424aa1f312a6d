"""`tinyml monitor`: reports from a serial port, an MQTT broker or a recorded file, into the store, scored.

A source hands out batches of decoded reports with the counts of what it rejected; the monitor commits each batch
in one transaction, then acknowledges it to the source (MQTT: PUBACK), then scores the new reports. Every wait is
bounded by `duration`; `max_reports` stops after that many new reports have been stored.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from tinyml.device.transport import Transport, open_transport
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.field.drift import DriftTracker
from tinyml.field.report import MalformedReport, Report, ReportReader, decode_report_frame
from tinyml.field.store import Store

BATCH = 500
FLEET_EVERY_S = 1.0  # the fleet (every device's latest report) is scored at most this often, and at the end
WEBHOOK_TIMEOUT_S = 5.0


@dataclass
class Batch:
    reports: list[Report]
    malformed: int = 0
    damaged: int = 0
    acks: list[int] = field(default_factory=list)


class Source(Protocol):
    def batch(self, deadline: float) -> Batch | None:
        """The next batch (possibly empty after waiting until `deadline` at most); None once exhausted."""

    def done(self, batch: Batch) -> None:
        """The batch is committed."""

    def close(self) -> None: ...


class _ReaderSource:
    """Shared by byte-stream sources: reports from a ReportReader, with the deltas of its rejection counters."""

    def __init__(self) -> None:
        self.reader = ReportReader()
        self._counted = (0, 0)

    def _batch(self, reports: list[Report]) -> Batch:
        malformed, damaged = self.reader.malformed, self.reader.damaged
        batch = Batch(reports, malformed - self._counted[0], damaged - self._counted[1])
        self._counted = (malformed, damaged)
        return batch

    def done(self, batch: Batch) -> None:
        return None


class FileSource(_ReaderSource):
    """A file of recorded frames: the bytes as they came over the wire, concatenated (noise allowed)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        try:
            self._file = Path(path).open("rb")
        except OSError as exc:
            raise TinymlError(f"{path}: cannot read the recorded frames ({exc.strerror})", BAD_INPUT) from exc
        self._pending: list[Report] = []
        self._eof = False

    def batch(self, deadline: float) -> Batch | None:
        while len(self._pending) < BATCH and not self._eof:
            chunk = self._file.read(1 << 16)
            if chunk:
                self._pending += self.reader.feed(chunk)
            else:
                self._eof = True
                while self.reader.decoder.buffered:  # an incomplete frame at the end: skip it, rescan
                    self._pending += self.reader.expire()
        if not self._pending and self._eof:
            return None
        taken, self._pending = self._pending[:BATCH], self._pending[BATCH:]
        return self._batch(taken)

    def close(self) -> None:
        self._file.close()


class PortSource(_ReaderSource):
    """A serial port or emulator URL that a device sends reports on (through `tinyml.device.transport`)."""

    def __init__(self, port: Transport | str) -> None:
        super().__init__()
        self._port = open_transport(port) if isinstance(port, str) else port

    def batch(self, deadline: float) -> Batch | None:
        reports: list[Report] = []
        while not reports and time.monotonic() < deadline:
            data = self._port.read()
            reports = self.reader.feed(data) if data else self.reader.expire()
        return self._batch(reports)

    def close(self) -> None:
        self._port.close()


class MqttSource:
    """Reports from `<topic>/#` on a broker, one frame per message; acknowledged after the commit."""

    def __init__(self, url: str, client_id: str) -> None:
        from tinyml.field.mqtt import MqttUrl, Subscription  # paho only when MQTT is used

        self._sub = Subscription(MqttUrl.parse(url), client_id)

    def batch(self, deadline: float) -> Batch | None:
        batch = Batch([])
        for mid, payload in self._sub.get(deadline, BATCH):
            batch.acks.append(mid)
            try:
                batch.reports.append(decode_report_frame(payload))
            except MalformedReport:
                batch.malformed += 1
        return batch

    def done(self, batch: Batch) -> None:
        for mid in batch.acks:
            self._sub.ack(mid)

    def close(self) -> None:
        self._sub.close()


@dataclass
class Summary:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    malformed: int = 0
    damaged: int = 0
    alerts: int = 0
    unscored: int = 0
    devices: set[str] = field(default_factory=set)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "devices": len(self.devices), "seconds": round(self.seconds, 3)}


def run_monitor(source: Source, store: Store, tracker: DriftTracker | None = None, *,
                max_reports: int | None = None, duration: float | None = None,
                on_alert: Callable[[dict], None] = lambda alert: None) -> Summary:
    """Ingest until the source is exhausted, `max_reports` new reports are stored, or `duration` has passed."""
    start = time.monotonic()
    end = start + duration if duration is not None else float("inf")
    summary = Summary()
    fleet_due, fleet_new = start + FLEET_EVERY_S, False

    def alert(found: list[dict]) -> None:
        for a in found:
            summary.alerts += 1
            on_alert(a)

    while time.monotonic() < end and (max_reports is None or summary.stored < max_reports):
        batch = source.batch(min(end, time.monotonic() + 1.0))
        if batch is None:
            break
        result = store.ingest(batch.reports)
        store.count_rejected(batch.malformed, batch.damaged)
        source.done(batch)
        summary.received += len(batch.reports)
        summary.stored += result.stored
        summary.duplicates += result.duplicates
        summary.malformed += batch.malformed
        summary.damaged += batch.damaged
        summary.devices.update(r.device for r in batch.reports)
        if tracker is not None and batch.reports:
            alert(_score(tracker, batch.reports, summary))
            fleet_new = True
        if tracker is not None and fleet_new and time.monotonic() >= fleet_due:
            alert(tracker.fleet())
            fleet_due, fleet_new = time.monotonic() + FLEET_EVERY_S, False
    if tracker is not None and fleet_new:
        alert(tracker.fleet())
    summary.seconds = time.monotonic() - start
    return summary


def _score(tracker: DriftTracker, reports: list[Report], summary: Summary) -> list[dict]:
    found: list[dict] = []
    for report in reports:
        if report.stats.layout != tracker.reference.layout:
            summary.unscored += 1
            found.append({"alert": "unscored", "scope": "device", "device": report.device, "boot": report.boot,
                          "seq": report.seq, "reason": "statistics layout differs from the reference's"})
            continue
        found += tracker.update(report)
    return found


def post_webhook(url: str, alerts: list[dict]) -> str | None:
    """POSTs the alerts as a JSON list; returns why it failed (None when it worked). Bounded by a timeout."""
    request = urllib.request.Request(url, data=json.dumps(alerts).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
            response.read()
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"webhook {url} failed: {exc}"
