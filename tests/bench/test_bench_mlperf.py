"""scripts/bench_mlperf.py without the emulator: MAC counts against issue 5's figures, and the document section it
owns is replaced in place while the rest of the file is kept."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import MLPERF_MODELS, REPO
from tinyml.compiler.ir.reader import read_tflite

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


def test_tables_cover_every_core_and_mark_the_bounds(script: ModuleType) -> None:
    cell = script.Cell
    cells = [cell("kws", "M3", "mps2-an385", "auto", 2_656_768, instructions=38_000_000, arena_bytes=8_640,
                  stack_peak_bytes=500, flash_bytes=40_000, weights_bytes=24_368, outputs_match=3, outputs_total=3),
             cell("kws", "M4", "mps2-an386", "auto", 2_656_768, instructions=3_000_000, cycles_estimate=4_000_000,
                  arena_bytes=8_640, stack_peak_bytes=500, flash_bytes=50_000, weights_bytes=24_368,
                  relayout_bytes=1_000, outputs_match=3, outputs_total=3),
             cell("ad", "M4", "mps2-an386", "auto", 264_192, error="QEMU (mps2-an386) exited with code -6")]
    text = script.render(cells, 3)
    rows = [line for line in text.splitlines() if line.startswith("| KWS") or line.startswith("| AD")]
    # the per-core table: M3 without an estimate, M4 with one; the failed cell is shown, not dropped
    assert rows[0].startswith("| KWS | M3 (mps2-an385) | 2,656,768 | 38,000,000 | 0.070 | — | — |")
    assert rows[1].startswith("| KWS | M4 (mps2-an386) | 2,656,768 | 3,000,000 | 0.886 | 4,000,000 | 0.664 |")
    assert "| 25,632 | 1,000 | 3/3 |" in rows[1]
    assert rows[2].startswith("| AD | M4 (mps2-an386) | 264,192 | failed: QEMU (mps2-an386) exited")
    # the TFLM table: M4 builds only (with their weight layout); 3.0 M / 7.70 M = 0.39 (<= 0.5), MAC/cycle 0.664
    # (>= 0.6), arena 0.38, flash 0.46
    assert rows[3] == ("| KWS | auto | 3,000,000 | 0.07× | 0.39× ✓ | 4,000,000 | 0.664 ✓ | 8,640 | 0.38× ✓ "
                       "| 25,632 | 0.46× ✓ | 3/3 |")
    assert len(rows) == 4
    assert not cells[2].exact and cells[1].exact
