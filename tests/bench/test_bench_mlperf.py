"""scripts/bench_mlperf.py without the emulator: MAC counts against issue 5's figures, and the document section it
owns is replaced in place while the rest of the file is kept."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import MLPERF_MODELS, REPO
from tinyml.ir.reader import read_tflite

ISSUE_5_MACS = {"kws": 2_656_768, "vww": 7_489_664, "ic": 12_501_632, "ad": 264_192}


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mlperf", REPO / "scripts" / "bench_mlperf.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script loads
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mac_count_matches_the_reference(script: ModuleType, name: str, mlperf_dir: Path) -> None:
    assert script.count_macs(read_tflite(mlperf_dir / f"{name}.tflite")) == ISSUE_5_MACS[name]


def test_section_is_replaced_between_markers(script: ModuleType, tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    script.write_section(doc, "first table")
    doc.write_text("# Benchmarks\n\nintro\n\n" + doc.read_text().split("\n\n", 1)[1] + "\n## Memory\nkept\n")
    script.write_section(doc, "second table")
    text = doc.read_text()
    assert "first table" not in text and text.count("second table") == 1
    assert text.startswith("# Benchmarks\n\nintro\n") and text.endswith("## Memory\nkept\n")
    assert text.count(script.BEGIN) == text.count(script.END) == 1
