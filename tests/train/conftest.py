"""Shared fixtures for the training tests: one tiny trained model (gesture recipe, reduced data, 2 epochs)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TINYML = [sys.executable, "-c", "import sys, tinyml.cli; sys.exit(tinyml.cli.main())"]   # the entry point


def run_cli(*args: str, code: int = 0) -> subprocess.CompletedProcess:
    """`tinyml ARGS` in a process of its own, as a user runs it: TensorFlow's native state (threads, delegates, the
    LiteRT interpreter loaded beside it) never carries over from one training or conversion to the next."""
    result = subprocess.run([*TINYML, *map(str, args)], capture_output=True, text=True, env=os.environ.copy(),
                            timeout=1800)
    assert result.returncode == code, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    return result


def run_json(*args: str) -> dict:
    return json.loads(run_cli(*args, "--json").stdout)


@pytest.fixture(scope="session")
def train_cache(tmp_path_factory) -> Path:
    """The data sets are cached in TINYML_CACHE (CI sets it; otherwise a per-session directory)."""
    if "TINYML_CACHE" not in os.environ:
        os.environ["TINYML_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    return Path(os.environ["TINYML_CACHE"])


@pytest.fixture(scope="session")
def gesture_model(tmp_path_factory, train_cache) -> Path:
    out = tmp_path_factory.mktemp("gesture") / "model"
    metrics = run_json("train", "gesture", "--small-data", "--epochs", "2", "--seed", "0", "-o", out)
    assert metrics["recipe"] == "gesture" and (out / "model.keras").exists()
    return out
