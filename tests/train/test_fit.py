"""tinyml fit: an impossible budget is refused with exit code 3; a possible one returns a model that builds and runs."""
from __future__ import annotations

import json

import pytest

from tests.train.conftest import run_cli


def test_fit_refuses_impossible_ram(tmp_path, train_cache):
    r = run_cli("fit", "--board", "lm3s6965evb", "--recipe", "gesture", "--small-data", "--widths", "0.25",
                "--depths", "0.5", "--max-ram-kb", "4", "-o", tmp_path / "f", code=3)
    assert "no candidate fits lm3s6965evb" in r.stderr and "RAM" in r.stderr and "over" in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and r.stderr.strip().splitlines()[-1] == errors[0]


@pytest.mark.slow
def test_fit_possible_budget_builds_and_runs(tmp_path, train_cache):
    out = tmp_path / "f"
    r = run_cli("fit", "--board", "lm3s6965evb", "--recipe", "gesture", "--small-data", "--epochs", "1",
                "--widths", "0.25,0.5", "--depths", "0.5", "--max-train", "2", "--device-samples", "8",
                "--max-ram-kb", "32", "-o", out, "--json")
    rep = json.loads(r.stdout)
    assert rep["fits"] and rep["board"] == "lm3s6965evb" and rep["candidates"] == 2
    chosen = rep["chosen"]
    assert chosen["ram_bytes"] <= 32 * 1024 and chosen["accuracy_int8"] == chosen["accuracy_host_c"]
    assert (out / "firmware" / "firmware.elf").exists() and (out / "model.tflite").exists()
    assert rep["device"]["outputs_match_reference"] and rep["device"]["samples"] == 8
    assert (out / "pareto.png").stat().st_size > 1000
    for key in ("model", "accuracy_int8", "flash_bytes", "ram_bytes", "latency_ms_estimate", "energy_uj_estimate"):
        assert key in chosen
