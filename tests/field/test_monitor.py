"""`tinyml monitor` end to end: from a recorded file (with noise, repeats and a malformed frame), from a device on
a TCP port, with alerts as JSON lines, --fail-on-drift, a webhook and the HTML report."""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
from click.testing import CliRunner

from tests.field.conftest import LAYOUT, make_reports
from tinyml import errors
from tinyml.cli import main
from tinyml.device.protocol import REPORT, encode_frame
from tinyml.device.statistics import accumulate, save_statistics
from tinyml.field.report import encode_report
from tinyml.field.simulate import SimulatedDevice, random_inputs, toy_model
from tinyml.field.store import open_store


def reference(tmp_path):
    x = random_inputs(np.random.default_rng(10), 2000)
    path = tmp_path / "model.stats.json"
    save_statistics(accumulate(x, toy_model(x, 4), LAYOUT), path)
    return path


def drifting_frames(devices: int = 2, stationary: int = 3, shifted: int = 2) -> bytes:
    rng = np.random.default_rng(11)
    sims = [SimulatedDevice.numbered(i, LAYOUT) for i in range(devices)]
    frames = []
    for k in range(stationary + shifted):
        for sim in sims:
            x = random_inputs(rng, 100, offset=0.0 if k < stationary else 25.0)
            frames.append(encode_report(sim.report(x, toy_model(x, 4))))
    return b"".join(frames)


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_monitor_a_recorded_file(tmp_path):
    frames = [encode_report(r) for r in make_reports(5, 2)]
    flipped = bytearray(frames[3])
    flipped[40] ^= 0x10
    recorded = (b"\x00noise\xa5" + b"".join(frames) + frames[0] + bytes(flipped)
                + encode_frame(REPORT, 1, b"\x01\x00") + frames[-1][:30])
    (tmp_path / "frames.bin").write_bytes(recorded)
    store = tmp_path / "field.sqlite"
    result = run("monitor", "--file", tmp_path / "frames.bin", "--store", store, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["stored"], summary["duplicates"], summary["malformed"], summary["devices"]) == (10, 1, 1, 5)
    assert summary["damaged"] == 2  # the bit-flipped frame and the truncated one at the end
    again = json.loads(run("monitor", "--file", tmp_path / "frames.bin", "--store", store, "--json").output)
    assert (again["stored"], again["duplicates"]) == (0, 11)
    with open_store(store) as db:
        assert db.count() == 10 and db.counters()["duplicates"] == 12


def test_drift_alerts_exit_code_webhook_and_html_report(tmp_path):
    (tmp_path / "frames.bin").write_bytes(drifting_frames())
    posted: list = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            posted.extend(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = run("monitor", "--file", tmp_path / "frames.bin", "--store", tmp_path / "s.sqlite",
                     "--reference", reference(tmp_path), "--fail-on-drift", "--report", tmp_path / "r.html",
                     "--webhook", f"http://127.0.0.1:{server.server_port}/hook")
    finally:
        server.shutdown()
    assert result.exit_code == errors.DRIFT, result.output
    alerts = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    drift = [a for a in alerts if a["alert"] == "input_drift"]
    assert drift and {a["seq"] for a in drift if a["scope"] == "device" and a["window"] == "report"} == {4, 5}
    assert any(a["scope"] == "fleet" for a in drift) and posted == alerts
    assert result.output.strip().splitlines()[-1].startswith("error: ") and "drift alert" in result.output
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "<script" not in page  # the fleet and 2 devices


def test_stationary_reports_pass_fail_on_drift(tmp_path):
    (tmp_path / "frames.bin").write_bytes(drifting_frames(shifted=0))
    result = run("monitor", "--file", tmp_path / "frames.bin", "--store", tmp_path / "s.sqlite",
                 "--reference", reference(tmp_path), "--fail-on-drift")
    assert result.exit_code == 0 and "0 drift alerts" in result.output, result.output


def test_monitor_a_device_on_a_tcp_port(tmp_path):
    frames = [encode_report(r) for r in make_reports(2, 3)]
    listener = socket.create_server(("127.0.0.1", 0))
    finished = threading.Event()

    def device():
        conn, _ = listener.accept()
        with conn:
            time.sleep(0.5)  # pyserial's socket:// discards what arrives while it opens the port
            for frame in frames:
                conn.sendall(frame[:17])  # split across writes, as a UART delivers it
                conn.sendall(frame[17:])
            finished.wait(30)  # the link stays up until the monitor is done

    threading.Thread(target=device, daemon=True).start()
    port = listener.getsockname()[1]
    result = run("monitor", "--port", f"socket://127.0.0.1:{port}", "--store", tmp_path / "s.sqlite",
                 "--max-reports", "6", "--duration", "20", "--json")
    finished.set()
    listener.close()
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["stored"] == 6


def test_bad_input_is_one_line(tmp_path):
    result = run("monitor", "--file", tmp_path / "missing.bin", "--store", tmp_path / "s.sqlite")
    assert result.exit_code == errors.BAD_INPUT and result.output.startswith("error: ") and \
        "missing.bin: cannot read" in result.output and "Traceback" not in result.output
    (tmp_path / "bad.json").write_text("{")
    result = run("monitor", "--file", tmp_path / "bad.json", "--reference", tmp_path / "bad.json", "--store",
                 tmp_path / "s.sqlite")
    assert result.exit_code == errors.BAD_INPUT and "bad.json: not a tinyml statistics file" in result.output
    result = run("monitor", "--file", tmp_path / "x", "--mqtt", "mqtt://h/t")
    assert result.exit_code == errors.BAD_INPUT and "exactly one of --port, --mqtt, --file" in result.output


def test_reports_of_another_layout_are_stored_but_not_scored(tmp_path):
    from tinyml.device.statistics import layout_for

    other = make_reports(2, 1, layout=layout_for(10, [4], bins=8))
    (tmp_path / "frames.bin").write_bytes(b"".join(encode_report(r) for r in other))
    result = run("monitor", "--file", tmp_path / "frames.bin", "--store", tmp_path / "s.sqlite",
                 "--reference", reference(tmp_path), "--fail-on-drift")
    assert result.exit_code == 0, result.output
    unscored = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [a["alert"] for a in unscored] == ["unscored", "unscored"] and "2 stored" in result.output
