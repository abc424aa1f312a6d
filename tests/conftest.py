"""Shared test fixtures: where the repository, the MLPerf Tiny reference models and the cache are."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MLPERF_DIR = Path(os.environ.get("TINYML_MLPERF_DIR", REPO / "models" / "mlperf-tiny"))  # vendored, with SHA256SUMS
MLPERF_MODELS = ("kws", "vww", "ic", "ad")


REQUIRED_TOOLS = ("cc", "arm-none-eabi-gcc", "qemu-system-arm", "espeak-ng")


def pytest_configure(config: pytest.Config) -> None:
    """The suite needs its tools: a missing one is an error, never a silently skipped test."""
    # Stage commands record MLflow runs (docs/LIFECYCLE.md); only tests/lifecycle, which turns it back on, needs them.
    os.environ.setdefault("TINYML_NO_TRACK", "1")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise pytest.UsageError(f"missing {', '.join(missing)}: run `bash scripts/test.sh`, which installs them")


@pytest.fixture(scope="session")
def mlperf_dir() -> Path:
    if not (MLPERF_DIR / "kws.tflite").exists():
        pytest.fail(f"MLPerf Tiny models not found in {MLPERF_DIR} (set TINYML_MLPERF_DIR)")
    return MLPERF_DIR
