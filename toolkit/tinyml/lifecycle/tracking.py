"""Runs: every stage's report recorded as an MLflow run. The only module of tinyml that imports MLflow.

Where: `MLFLOW_TRACKING_URI` when set (any MLflow server, or a database URI); otherwise a local store that works
offline, `.tinyml/mlruns.db` (SQLite) with artifacts in `.tinyml/mlartifacts`, in the current directory (the
project's data folder). `TINYML_NO_TRACK=1` (or a command's `--no-track`) turns recording off.

MLflow stays quiet: it configures no logging of its own (`MLFLOW_CONFIGURE_LOGGING=false`), shows no download
progress bars, prints no "View run" links (`MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT`), and only the client API is
used. A failure to
record is never the stage's failure: `record_stage` prints one warning line on stderr and returns None.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyml.errors import BAD_INPUT, TinymlError

STORE_DIR = Path(".tinyml")
EXPERIMENT = "tinyml"
_QUIET_ENV = {"MLFLOW_CONFIGURE_LOGGING": "false", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
              "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
              "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
_PARAM_CHARS = 500


def tracking_enabled(no_track: bool = False) -> bool:
    return not no_track and os.environ.get("TINYML_NO_TRACK", "") in ("", "0")


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI`, else the local SQLite store `.tinyml/mlruns.db`."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{(STORE_DIR / 'mlruns.db').resolve()}"


def _local_artifacts() -> str | None:
    """The artifact root of the local store (a server chooses its own)."""
    return None if os.environ.get("MLFLOW_TRACKING_URI") else (STORE_DIR / "mlartifacts").resolve().as_uri()


def client():
    """An `MlflowClient` on `tracking_uri()` (tracking and model registry), MLflow made quiet first."""
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    import logging

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlflow import MlflowClient
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        STORE_DIR.mkdir(exist_ok=True)
    uri = tracking_uri()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(mlflow_client) -> str:
    found = mlflow_client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return found.experiment_id
    try:
        return mlflow_client.create_experiment(EXPERIMENT, artifact_location=_local_artifacts())
    except Exception:  # noqa: BLE001 - created meanwhile by another process
        return mlflow_client.get_experiment_by_name(EXPERIMENT).experiment_id


@dataclass
class StageRun:
    """What one stage's run holds: `params` (the command's options), `metrics` (numbers of the report, keys
    dotted), `history` (per-epoch rows: {"epoch": n, name: value}), `datasets` (data set descriptions with
    `name` and `content_hash`), `tags`, `artifacts` (files, and folders logged under their name), `report`
    (logged as report.json)."""

    stage: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    datasets: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def log_stage_run(mlflow_client, run: StageRun) -> str:
    """One MLflow run for `run`, finished; returns its id. Raises whatever MLflow raises."""
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

    now = int(time.time() * 1000)
    created = mlflow_client.create_run(experiment_id(mlflow_client), run_name=run.stage,
                                       tags={"tinyml.stage": run.stage, **run.tags})
    run_id = created.info.run_id
    try:
        params = [Param(k, str(v)[:_PARAM_CHARS]) for k, v in sorted(run.params.items()) if v is not None]
        metrics = [Metric(k, float(v), now, 0) for k, v in sorted(run.metrics.items())]
        metrics += [Metric(k, float(v), now, int(row["epoch"])) for row in run.history
                    for k, v in row.items() if k != "epoch" and _is_number(v)]
        for chunk in range(0, max(len(params), len(metrics), 1), 100):
            mlflow_client.log_batch(run_id, metrics=metrics[chunk:chunk + 100], params=params[chunk:chunk + 100])
        inputs = [DatasetInput(Dataset(name=d["name"], digest=d["content_hash"], source_type="tinyml",
                                       source=json.dumps({"spec": d.get("source") or d["name"]})),
                               tags=[InputTag("mlflow.data.context", d.get("context", "train"))])
                  for d in run.datasets]
        if inputs:
            mlflow_client.log_inputs(run_id, datasets=inputs)
        if run.report:
            mlflow_client.log_dict(run_id, run.report, "report.json")
        for path in run.artifacts:
            if path.is_dir():
                mlflow_client.log_artifacts(run_id, str(path), path.name)
            elif path.is_file():
                mlflow_client.log_artifact(run_id, str(path))
        mlflow_client.set_tag(run_id, "tinyml.complete", "true")
        mlflow_client.set_terminated(run_id, "FINISHED")
    except BaseException:
        mlflow_client.set_terminated(run_id, "FAILED")
        raise
    return run_id


def record_stage(run: StageRun, no_track: bool = False) -> str | None:
    """Records `run` unless tracking is off; a failure is one warning line on stderr, never the stage's failure."""
    if not tracking_enabled(no_track):
        return None
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout is the command's (`--json`: one JSON document)
            return log_stage_run(client(), run)
    except Exception as exc:  # noqa: BLE001 - tracking must never fail the stage it records
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"warning: {run.stage} run not recorded in {tracking_uri()} ({first[:200]}); --no-track or "
              "TINYML_NO_TRACK=1 turns tracking off", file=sys.stderr)
        return None


def flatten_numbers(report: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """The report's numbers (booleans as 0/1) with dotted keys; lists and per-epoch history are left out."""
    for key, value in report.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten_numbers(value, f"{name}.")
        elif _is_number(value):
            yield _metric_key(name), float(value)


def _metric_key(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and value == value  # NaN is left out


def list_runs(limit: int = 20, stage: str | None = None) -> list[dict[str, Any]]:
    """The newest runs of the tinyml experiment as plain records."""
    c = client()
    found = c.get_experiment_by_name(EXPERIMENT)
    if found is None:
        return []
    query = f"tags.`tinyml.stage` = '{stage}'" if stage else ""
    return [_run_record(r) for r in c.search_runs([found.experiment_id], query, max_results=limit,
                                                  order_by=["attributes.start_time DESC"])]


def find_runs_by_tag(tag: str, value: str) -> list[str]:
    """Ids of the finished runs tagged `tag` = `value`, newest first."""
    c = client()
    found = c.get_experiment_by_name(EXPERIMENT)
    if found is None:
        return []
    runs = c.search_runs([found.experiment_id], f"tags.`{tag}` = '{value}' and attributes.status = 'FINISHED'",
                         order_by=["attributes.start_time DESC"], max_results=10)
    return [r.info.run_id for r in runs]


def run_tags(run_id: str) -> dict[str, str]:
    return dict(client().get_run(run_id).data.tags)


def get_run(run_id: str) -> dict[str, Any]:
    c = client()
    try:
        run = c.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - MLflow raises MlflowException for an unknown id
        raise TinymlError(f"no run {run_id} in {tracking_uri()} (see `tinyml runs ls`)", BAD_INPUT) from exc
    record = _run_record(run)
    record["artifacts"] = [a.path for a in c.list_artifacts(run_id)]
    return record


def _run_record(run) -> dict[str, Any]:
    inputs = run.inputs.dataset_inputs if run.inputs else []
    return {"run_id": run.info.run_id, "stage": run.data.tags.get("tinyml.stage", run.info.run_name),
            "status": run.info.status, "start_time": run.info.start_time, "params": dict(run.data.params),
            "metrics": dict(run.data.metrics),
            "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
            "datasets": [f"{d.dataset.name}@{d.dataset.digest}" for d in inputs]}


def track(stage: str, report: dict[str, Any], params: dict[str, Any], artifacts: list[Path | str | None],
          no_track: bool = False) -> str | None:
    """Records a stage after it returned `report`: the command's `params`, the report's numbers as metrics and
    its per-epoch `history`, its data sets as run inputs, its parent model, the environment, the report itself
    and `artifacts` (files or folders; missing ones are skipped). Returns the run id (None: not recorded)."""
    if not tracking_enabled(no_track):
        return None
    from tinyml.lifecycle.lineage import datasets_of, environment, parent_of, sha256_file

    tags = environment() | {f"tinyml.{k}": v for k, v in parent_of(stage, report).items()}
    models = [Path(a) for a in artifacts if a is not None and str(a).endswith(".tflite") and Path(a).is_file()]
    if models:
        tags["tinyml.output_sha256"] = sha256_file(models[0])
    if artifacts and artifacts[0] is not None:
        tags["tinyml.output"] = str(Path(artifacts[0]).resolve())
    for key in ("board", "seed"):
        value = report.get(key, params.get(f"{key}_name", params.get(key)))
        if value is not None:
            tags[f"tinyml.{key}"] = str(value)
    history = report.get("history") if isinstance(report.get("history"), list) else []
    run = StageRun(stage, params={k: v for k, v in params.items() if k not in ("as_json", "no_track")},
                   metrics=dict(flatten_numbers({k: v for k, v in report.items() if k != "history"})),
                   history=[row for row in history if isinstance(row, dict) and "epoch" in row],
                   datasets=datasets_of(report), tags=tags,
                   artifacts=[Path(a) for a in artifacts if a is not None and Path(a).exists()],
                   report=json.loads(json.dumps(report, default=str)))
    return record_stage(run, no_track)
