"""Fixtures of the runs and registry tests: a real `mlflow server` on loopback, a small int8 model with the report
`tinyml quantize` writes beside it, a project folder whose `tinyml` commands run in this process (`Project`), and
`tinyml` in a process of its own (`tinyml`, for the kill test)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from tests import tflite_models as tm
from tinyml.cli import main

MLFLOW = Path(sys.executable).with_name("mlflow")
SERVER_START_S = 90.0


def tinyml(*args: object, cwd: Path, env: dict[str, str] | None = None, code: int = 0,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`tinyml ARGS` in a process of its own (for the kill test), in `cwd`, tracking env from `env` only."""
    base = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "TINYML_NO_TRACK")}
    proc = subprocess.run([sys.executable, "-m", "tinyml.cli", *map(str, args)], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    return proc


@dataclass
class Project:
    """A project folder (the current directory) whose commands run in this process, as `tinyml` would."""

    root: Path

    def __call__(self, *args: object, code: int = 0) -> Result:
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == code, (result.exit_code, result.stdout[-2000:], result.stderr[-2000:],
                                          result.exception)
        assert "Traceback" not in result.stderr
        return result


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The local store: no MLFLOW_TRACKING_URI, tracking on, in a fresh folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("TINYML_NO_TRACK", raising=False)
    return Project(tmp_path)


@pytest.fixture
def on_server(project: Project, mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The same, recording on the session's `mlflow server`."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    return project


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory):
    """`mlflow server` (SQLite backend and proxied artifacts in a temporary folder, one worker) on a free loopback
    port; yields its URL once /health answers, stops it (its whole process group) afterwards."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = open(root / "server.log", "w")
    proc = subprocess.Popen([str(MLFLOW), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                             "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts",
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}: {(root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer /health within {SERVER_START_S:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="session")
def int8_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random int8 CNN/MLP in a model folder, with a report beside it shaped as `tinyml quantize` writes
    it (the data set's name and content hash, accuracies over 200 test samples)."""
    folder = tmp_path_factory.mktemp("model")
    path = folder / "model.tflite"
    path.write_bytes(tm.random_network(np.random.default_rng(11)).model)
    report = {"model": str(folder / "trained"), "output": str(path), "metric": "accuracy",
              "data": {"name": "kws", "content_hash": "0123456789abcdef", "task": "classification",
                       "split_scheme": "group", "groups": "voice", "n_groups": 12,
                       "sizes": {"train": 600, "val": 200, "test": 200}, "classes": ["yes", "no"]},
              "float_accuracy": 0.9, "int8_accuracy": 0.885, "host_c_accuracy": 0.885, "host_equals_tflite": True,
              "test_samples": 200, "calib_samples": 100, "tflite_bytes": path.stat().st_size, "features": None}
    path.with_suffix(".json").write_text(json.dumps(report))
    return path
