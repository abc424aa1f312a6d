"""Shared test fixtures: where the repository, the MLPerf Tiny reference models and the cache are."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MLPERF_DIR = Path(os.environ.get("TINYML_MLPERF_DIR", REPO.parent / "shared" / "models" / "mlperf-tiny"))
MLPERF_MODELS = ("kws", "vww", "ic", "ad")


@pytest.fixture(scope="session")
def mlperf_dir() -> Path:
    if not (MLPERF_DIR / "kws.tflite").exists():
        pytest.fail(f"MLPerf Tiny models not found in {MLPERF_DIR} (set TINYML_MLPERF_DIR)")
    return MLPERF_DIR
