"""The registry: versions with their package, lineage and card on a real `mlflow server`; aliases in place of
stages; firmware built from a version reports its identity to `tinyml bench`; bad input is one line; a kill -9
during `register` leaves no version or a complete one."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlflow import MlflowClient

from tests.lifecycle.conftest import Project

BOARD = "mps2-an386"


def test_register_build_bench_alias_card(on_server: Project, mlflow_server: str, int8_model: Path) -> None:
    first = json.loads(on_server("registry", "register", int8_model, "--name", "net", "--board", BOARD,
                                 "--alias", "candidate", "--json").stdout)
    lineage = first["lineage"]
    assert first["name"] == "net" and first["aliases"] == ["candidate"]
    assert lineage["data"]["ref"] == "kws@0123456789abcdef" and lineage["data"]["split_scheme"] == "group"
    assert lineage["parents"][0]["relation"] == "quantized_from"
    assert lineage["model"]["sha256"] == hashlib.sha256(int8_model.read_bytes()).hexdigest()
    identity = lineage["firmware"][BOARD]["identity"]
    assert identity == first["identity"] and identity.startswith(f"net@{first['version']} lin:")

    # the version is on the server, with its identity; its firmware rebuilds to the registered image
    version = MlflowClient(tracking_uri=mlflow_server).get_model_version_by_alias("net", "candidate")
    assert version.tags["tinyml.identity"] == identity
    out = on_server.root / "fw"
    on_server("build", "net@candidate", "--board", BOARD, "-o", out)
    assert hashlib.sha256((out / "firmware.bin").read_bytes()).hexdigest() == lineage["firmware"][BOARD]["sha256"]

    # the device says what it is
    bench = json.loads(on_server("bench", int8_model, "--board", BOARD, "--build-dir", out, "--runs", "2",
                                 "--json").stdout)
    assert bench["firmware"]["registry_id"] == f"net@{first['version']}"
    assert bench["firmware"]["version"] == f"tinyml 0.1.0 {identity}"
    (on_server.root / "bench.json").write_text(json.dumps(bench))

    second = json.loads(on_server("registry", "register", int8_model.parent, "--name", "net", "--bench",
                                  on_server.root / "bench.json", "--json").stdout)
    assert second["version"] == first["version"] + 1
    on_server("registry", "alias", "net", first["version"], "production")
    moved = on_server("registry", "alias", "net", second["version"], "production").stdout
    assert f"net@previous -> {first['version']}" in moved
    listed = {m["name"]: m for m in json.loads(on_server("registry", "ls", "--json").stdout)}["net"]
    assert listed["aliases"] == {"candidate": str(first["version"]), "production": str(second["version"]),
                                 "previous": str(first["version"])}
    shown = on_server("registry", "show", "net@production").stdout
    assert "data:     kws@0123456789abcdef, group split" in shown and "quantized from" in shown

    card = on_server("registry", "card", f"net@{second['version']}").stdout
    assert "88.50% [" in card and "of 200" in card and "espeak-ng" in card
    assert f"| {BOARD} |" in card  # latency, energy and memory from the registered bench report
    card_json = json.loads(on_server("registry", "card", f"net@{second['version']}", "--json").stdout)
    low, high = card_json["metrics"]["int8"]["interval95"]
    assert low < 0.885 < high and card_json["devices"][BOARD]["latency_ms"] == bench["latency_ms_estimate"]


def test_bad_input_is_one_line(project: Project, int8_model: Path) -> None:
    cases = [(("registry", "register", project.root / "missing.tflite", "--name", "x"), "no such model"),
             (("registry", "register", project.root, "--name", "x"), "no int8 .tflite"),
             (("registry", "register", int8_model, "--name", "bad name"), "model name 'bad name'"),
             (("registry", "register", int8_model, "--name", "a-very-long-model-name-indeed"), "32 bytes"),
             (("registry", "register", int8_model, "--name", "x", "--bench", int8_model), "not a bench report"),
             (("registry", "alias", "net", "1", "production"), "no registered version net@1"),
             (("registry", "register", int8_model, "--name", "x", "--alias", "1st"), "alias '1st'"),
             (("registry", "show", "net"), "not NAME@VERSION or NAME@ALIAS"),
             (("registry", "show", "net@4"), "no registered version net@4"),
             (("build", "net@production", "--board", BOARD, "-o", project.root / "b"), "no registered version"),
             (("build", int8_model, "--registry-id", "net", "--board", BOARD, "-o", project.root / "b"),
              "not NAME@VERSION")]
    for args, text in cases:
        result = project(*args, code=2)
        assert result.stderr.startswith("error: ") and text in result.stderr and result.stderr.count("\n") == 1, \
            (args, result.stderr)
    assert json.loads(project("registry", "ls", "--json").stdout) == []  # nothing half-registered


def _kill_when(proc: subprocess.Popen, root: Path, pattern: str, after_s: float) -> None:
    """SIGKILL `proc` `after_s` seconds after a new file matching `pattern` (under `root`) appears."""
    before = set(root.glob(pattern))
    deadline = time.monotonic() + 120
    while not set(root.glob(pattern)) - before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(after_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


# Where a registration is: building the firmware; its package staged (the run not yet created); the run logging
# its artifacts (the local store's artifact folder); a little later (creating the version, or just done).
KILL_POINTS = (("tmp/tinyml-register-*/builds/*", 0.0), ("tmp/tinyml-register-*/package/card.md", 0.0),
               (".tinyml/mlartifacts/*/artifacts/package/model.tflite", 0.0),
               (".tinyml/mlartifacts/*/artifacts/package/model.tflite", 0.15))


def test_kill_during_register_leaves_no_version_or_a_complete_one(project: Project, int8_model: Path) -> None:
    tmp = project.root / "tmp"
    tmp.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "TINYML_NO_TRACK")},
           "TMPDIR": str(tmp)}
    command = [sys.executable, "-m", "tinyml.cli", "registry", "register", str(int8_model), "--name", "crash",
               "--board", BOARD]
    project("runs", "ls")  # the store exists before the first kill
    for pattern, after_s in KILL_POINTS:
        proc = subprocess.Popen(command, cwd=project.root, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        _kill_when(proc, project.root, pattern, after_s)
        for leftover in tmp.glob("tinyml-register-*"):
            shutil.rmtree(leftover)
        models = {m["name"]: m for m in json.loads(project("registry", "ls", "--json").stdout)}
        for v in models.get("crash", {"versions": []})["versions"]:  # every listed version is complete
            shown = json.loads(project("registry", "show", f"crash@{v['version']}", "--json").stdout)
            assert shown["lineage"]["firmware"][BOARD]["identity"] == v["identity"]
            assert project("registry", "card", f"crash@{v['version']}").stdout.startswith("# Model card")
    done = json.loads(project("registry", "register", int8_model, "--name", "crash", "--board", BOARD,
                              "--json").stdout)
    versions = [v["version"] for v in {m["name"]: m for m in json.loads(project("registry", "ls", "--json")
                                                                          .stdout)}["crash"]["versions"]]
    assert versions == list(range(1, done["version"] + 1))
