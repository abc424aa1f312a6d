"""`tinyml mlperf` and `tinyml build --app` end to end: the JSON report, and every bad input as one line, exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyml.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.slow
@pytest.mark.qemu
def test_performance_session_reports_five_windows(mlperf_dir: Path) -> None:
    code, out = run("mlperf", str(mlperf_dir / "kws.tflite"), "--board", "mps2-an386", "--window-ms", "20", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["model_id"] == "kws01" and report["name"] == "tinyml mps2-an386"
    assert len(report["throughputs"]) == 5 and report["throughput_median"] > 0
    # 20 ms of virtual time at 1 ns per instruction: N inferences of about 3.76 M instructions each
    assert report["inferences_per_window"] * 1e6 / report["throughput_median"] >= 20_000


@pytest.mark.parametrize("args, message", [
    (["build", "{kws}", "--board", "mps2-an386", "-o", "{tmp}/b", "--app", "foo"],
     "unknown app 'foo'; expected one of bench, mlperf"),
    (["build", "{kws}", "--board", "mps2-an386", "-o", "{tmp}/b", "--mlperf-model", "kws01"],
     "--mlperf-model needs --app mlperf"),
    (["build", "{kws}", "--board", "mps2-an386", "-o", "{tmp}/b", "--app", "mlperf", "--mlperf-model", "xx01"],
     "--mlperf-model 'xx01': expected one of kws01, vww01, ic01, ad01"),
    (["mlperf", "{kws}", "--board", "mps2-an386", "--mode", "accuracy"], "--mode accuracy needs --data DIR"),
    (["mlperf", "{kws}", "--board", "mps2-an386", "--mode", "accuracy", "--data", "{tmp}"], "no y_labels.csv"),
    (["mlperf", "{kws}", "--board", "mps2-an386", "--mode", "accuracy", "--data", "{bad}"],
     "short.bin: 10 bytes; the model's input takes 490 bytes"),
    (["mlperf", "{kws}", "--board", "nucleo-f446re"], "has no emulator"),
])
def test_bad_input_is_one_line(args: list[str], message: str, mlperf_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "short.bin").write_bytes(bytes(10))
    (bad / "y_labels.csv").write_text("short.bin,12,0\n")
    words = [a.format(kws=mlperf_dir / "kws.tflite", tmp=tmp_path, bad=bad) for a in args]
    code, out = run(*words)
    assert code == 2, out
    assert message in out and len(out.strip().splitlines()) == 1, out
