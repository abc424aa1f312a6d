"""1,000 simulated devices through a real mosquitto into the monitor, with the broker restarted mid-run: every
report stored exactly once, on SQLite and on PostgreSQL; the gateway spools while the broker is down and never
publishes a report twice after its own restart; `tinyml monitor --mqtt` end to end."""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from click.testing import CliRunner

from tests.field.conftest import make_reports
from tinyml.cli import main
from tinyml.field.monitor import MqttSource, run_monitor
from tinyml.field.mqtt import MqttUrl, Subscription
from tinyml.field.report import encode_report
from tinyml.field.simulate import publish
from tinyml.field.store import open_store

pytestmark = pytest.mark.slow
DEVICES, PER_DEVICE = 1000, 2


def _fleet_through_a_restarted_broker(mosquitto, store_spec: str, topic: str) -> None:
    reports = make_reports(DEVICES, PER_DEVICE)
    url = f"{mosquitto.url}/{topic}"
    source = MqttSource(url, f"monitor-{topic}")  # subscribes first: the persistent session exists from now on
    store = open_store(store_spec)
    result: dict = {}
    monitor = threading.Thread(target=lambda: result.update(summary=run_monitor(
        source, store, max_reports=len(reports), duration=90)))
    monitor.start()
    try:
        acked = publish(url, reports, between=lambda i: mosquitto.restart() if i == len(reports) // 2 else None)
        monitor.join(100)
    finally:
        source.close()
    summary = result["summary"]
    assert acked == len(reports)
    assert summary.stored == len(reports), summary
    assert store.count() == len(reports) and len(set(store.keys())) == len(reports)
    assert store.counters()["stored"] == len(reports)
    print(f"\n{len(reports)} reports from {DEVICES} devices, broker restarted mid-run: stored {summary.stored}, "
          f"duplicates dropped {summary.duplicates}, {summary.seconds:.1f} s")
    store.close()


def test_a_fleet_through_mosquitto_into_sqlite(mosquitto, tmp_path):
    _fleet_through_a_restarted_broker(mosquitto, str(tmp_path / "fleet.sqlite"), "fleet-sqlite")


def test_a_fleet_through_mosquitto_into_postgresql(mosquitto, pg_url):
    _fleet_through_a_restarted_broker(mosquitto, pg_url, "fleet-pg")


def test_monitor_cli_from_mqtt_with_a_persistent_session(mosquitto, tmp_path):
    url = f"{mosquitto.url}/cli"
    Subscription(MqttUrl.parse(url), "cli-monitor").close()  # the session exists: the broker queues for it
    reports = make_reports(20, 2)
    assert publish(url, reports, clients=1) == 40
    result = CliRunner().invoke(main, ["monitor", "--mqtt", url, "--client-id", "cli-monitor", "--store",
                                       str(tmp_path / "s.sqlite"), "--max-reports", "40", "--duration", "30",
                                       "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["stored"], summary["devices"]) == (40, 20)


class FakeUart:
    """A device on loopback TCP that sends report frames when told to."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"
        self._conn: socket.socket | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._conn, _ = self._listener.accept()

    def send(self, frames: list[bytes]) -> None:
        deadline = time.monotonic() + 60  # a gateway in a new process takes a while to import and connect
        while self._conn is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self._conn is not None, "the gateway never opened the device's port"
        time.sleep(0.3)  # pyserial's socket:// drops what arrives while it opens
        for frame in frames:
            self._conn.sendall(frame)

    def close(self) -> None:
        if self._conn:
            self._conn.close()
        self._listener.close()


def test_the_gateway_spools_while_the_broker_is_down_and_never_republishes(mosquitto, tmp_path):
    from tinyml.field.gateway import run_gateway

    url = f"{mosquitto.url}/gw"
    source = MqttSource(url, "gw-monitor")
    spool = tmp_path / "spool.sqlite"
    reports = make_reports(5, 6)  # 30 reports from 5 devices
    frames = [encode_report(r) for r in reports]
    try:
        uart = FakeUart()
        first = {}
        gw = threading.Thread(target=lambda: first.update(s=run_gateway(uart.url, url, spool, max_reports=23,
                                                                         duration=30)))
        gw.start()
        uart.send(frames[:10])
        time.sleep(1.0)
        mosquitto.halt()  # the broker goes down: the next reports wait in the spool
        uart.send(frames[10:20] + frames[:3])  # and a device resends three old ones
        time.sleep(1.0)
        mosquitto.start()
        gw.join(60)
        uart.close()
        assert (first["s"].read, first["s"].spooled, first["s"].published, first["s"].pending) == (23, 20, 20, 0), \
            first["s"]  # the three resent reports were spooled once
        uart = FakeUart()  # the gateway restarts: nothing of the spool is published again
        second = {}
        gw = threading.Thread(target=lambda: second.update(s=run_gateway(uart.url, url, spool, max_reports=10,
                                                                          duration=30)))
        gw.start()
        uart.send(frames[20:])
        gw.join(60)
        uart.close()
        assert (second["s"].published, second["s"].pending) == (10, 0), second["s"]  # only the new ones
        store = open_store(tmp_path / "s.sqlite")
        summary = run_monitor(source, store, max_reports=30, duration=30)
        time.sleep(1.0)
        late = run_monitor(source, store, duration=1.0)  # anything published twice would arrive now
    finally:
        source.close()
    # The broker redelivers what the monitor had received but not yet acknowledged when it restarted (at least
    # once); the store drops those repeats. Nothing else arrives twice.
    assert summary.stored == 30 and late.stored == 0, (summary, late)
    assert store.keys() == sorted((r.device, r.boot, r.seq) for r in reports)


def test_gateway_cli_bridges_a_device_to_the_monitor(mosquitto, tmp_path):
    import os
    import subprocess
    import sys

    url = f"{mosquitto.url}/gwcli"
    source = MqttSource(url, "gwcli-monitor")
    reports = make_reports(3, 2)
    uart = FakeUart()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "tinyml.cli", "gateway", "--port", uart.url, "--mqtt", url,
                                 "--spool", str(tmp_path / "spool.sqlite"), "--max-reports", "6", "--duration", "30",
                                 "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=os.environ.copy())
        try:
            uart.send([encode_report(r) for r in reports])
        finally:
            out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert json.loads(out) == {"read": 6, "spooled": 6, "published": 6, "pending": 0, "malformed": 0,
                                        "damaged": 0}
        summary = run_monitor(source, open_store(tmp_path / "s.sqlite"), max_reports=6, duration=20)
    finally:
        uart.close()
        source.close()
    assert summary.stored == 6
