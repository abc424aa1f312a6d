"""Runs: each stage recorded by the CLI after it returned, on a real `mlflow server` on loopback and in the local
SQLite store; `--no-track` / TINYML_NO_TRACK=1 turn it off; an unreachable server is one warning line, never the
stage's failure; `--json` stays pure JSON."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.lifecycle.conftest import Project, tinyml

BOARD = "mps2-an386"


def _runs(uri: str, stage: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tinyml")
    return client.search_runs([experiment.experiment_id], f"tags.`tinyml.stage` = '{stage}'") if experiment else []


def test_build_run_lands_on_the_server(on_server: Project, mlflow_server: str, int8_model: Path) -> None:
    out = on_server.root / "b"
    result = on_server("build", int8_model, "--board", BOARD, "-o", out, "--json")
    build = json.loads(result.stdout)  # pure JSON: MLflow printed nothing on stdout
    assert result.stderr == ""
    runs = [r for r in _runs(mlflow_server, "build") if r.data.params.get("out_dir") == str(out)]
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["tinyml.board"] == BOARD and run.data.tags["tinyml.version"]
    assert run.data.tags["arm-none-eabi-gcc.version"].startswith("arm-none-eabi-gcc")
    assert run.data.tags["qemu.version"].startswith("QEMU")
    assert run.data.metrics["flash_bytes"] == build["flash_bytes"]
    artifacts = {a.path for a in MlflowClient(tracking_uri=mlflow_server).list_artifacts(run.info.run_id)}
    assert {"build.json", "firmware.elf", "report.json"} <= artifacts
    assert not (on_server.root / ".tinyml").exists()  # the server was used, not the local store


def test_local_store_and_no_track(project: Project, int8_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = project.root / "b"
    project("build", int8_model, "--board", BOARD, "-o", out)
    assert (project.root / ".tinyml" / "mlruns.db").is_file() and (project.root / ".tinyml" / "mlartifacts").is_dir()
    project("build", int8_model, "--board", BOARD, "-o", out, "--no-track")
    monkeypatch.setenv("TINYML_NO_TRACK", "1")
    project("build", int8_model, "--board", BOARD, "-o", out)
    monkeypatch.delenv("TINYML_NO_TRACK")
    listed = json.loads(project("runs", "ls", "--json").stdout)
    assert [r["stage"] for r in listed] == ["build"]
    shown = project("runs", "show", listed[0]["run_id"]).stdout
    assert "artifact firmware.elf" in shown and f"tinyml.board = {BOARD}" in shown


def test_unreachable_server_is_one_warning(project: Project, int8_model: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    result = project("build", int8_model, "--board", BOARD, "-o", project.root / "b", "--json")
    json.loads(result.stdout)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: build run not recorded"), result.stderr


def test_unknown_run_is_one_line(project: Project) -> None:
    result = project("runs", "show", "0123abcd", code=2)
    assert result.stderr.startswith("error: no run 0123abcd") and result.stderr.count("\n") == 1


def test_train_quantize_register_chain(mlflow_server: str, on_server: Project) -> None:
    """The real stages (each in a process of its own, as in tests/train): per-epoch metrics and the data set land
    on the server, and the registered version's lineage reaches the training run through the quantized model."""
    model = on_server.root / "m"
    env = {"MLFLOW_TRACKING_URI": mlflow_server}
    trained = json.loads(tinyml("train", "gesture", "--small-data", "--epochs", "2", "-o", model, "--json",
                                cwd=on_server.root, env=env).stdout)
    tinyml("quantize", model, "-o", model / "model.tflite", "--json", cwd=on_server.root, env=env)
    shown = json.loads(on_server("registry", "register", model, "--name", "gesture", "--json").stdout)
    lineage = shown["lineage"]
    data = trained["dataset"]
    assert lineage["data"]["ref"] == f"{data['name']}@{data['content_hash']}"
    train_run = lineage["parents"][0]["run"]
    assert lineage["parents"][0]["stage"] == "train" and lineage["stage_run"] is not None
    client = MlflowClient(tracking_uri=mlflow_server)
    assert [m.step for m in client.get_metric_history(train_run, "loss")] == [1, 2]
    run = client.get_run(train_run)
    assert [(d.dataset.name, d.dataset.digest) for d in run.inputs.dataset_inputs] == \
        [(data["name"], data["content_hash"])]
    assert run.data.tags["tensorflow.version"] and run.data.tags["tinyml.seed"] == "0"
