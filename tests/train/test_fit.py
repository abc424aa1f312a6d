"""tinyml fit: an impossible budget is refused with exit code 3; a possible one returns a model that builds and runs;
pruned and distilled candidates are derived from the trained grid and measured like it."""
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
                "--max-ram-kb", "32", "--prune-ratios", "none", "--no-distill", "-o", out, "--json")
    rep = json.loads(r.stdout)
    assert rep["fits"] and rep["board"] == "lm3s6965evb" and rep["candidates"] == 2
    chosen = rep["chosen"]
    assert chosen["ram_bytes"] <= 32 * 1024 and chosen["accuracy_int8"] == chosen["accuracy_host_c"]
    assert (out / "firmware" / "firmware.elf").exists() and (out / "model.tflite").exists()
    assert rep["device"]["outputs_match_reference"] and rep["device"]["samples"] == 8
    assert (out / "pareto.png").stat().st_size > 1000
    for key in ("model", "accuracy_int8", "flash_bytes", "ram_bytes", "latency_ms_estimate", "energy_uj_estimate"):
        assert key in chosen


def test_fit_adds_pruned_and_distilled_candidates(tmp_path, train_cache):
    out = tmp_path / "f"
    r = run_cli("fit", "--board", "lm3s6965evb", "--recipe", "gesture", "--small-data", "--epochs", "1",
                "--widths", "0.25,0.5", "--depths", "0.5", "--prune-ratios", "0.5", "--device-samples", "4",
                "-o", out, "--json")
    rep = json.loads(r.stdout)
    table = {c["tag"]: c for c in rep["table"]}
    assert rep["candidates"] == len(table) == 4, sorted(table)
    parent = max((table["w0.25-d0.5"], table["w0.5-d0.5"]), key=lambda c: (round(c["int8_val"], 6),
                                                                             -c["latency_ms_estimate"]))
    pruned = table[f"{parent['tag']} pruned 0.5"]
    distilled = table["w0.25-d0.5 distilled from w0.5-d0.5"]
    assert pruned["origin"] == f"pruned 0.5 from {parent['tag']}" and distilled["origin"] == "distilled from w0.5-d0.5"
    for c in (pruned, distilled):
        assert c["trained"] and c["int8_val"] is not None and c["int8_test"] == c["host_c_test"]
        assert c["flash_bytes"] > 0 and c["ram_bytes"] > 0 and c["latency_ms_estimate"] > 0
        assert c["energy_uj_estimate"] > 0 and c["fits"]
        assert (out / "candidates" / c["tag"].replace(" ", "-") / "model.tflite").exists()
    assert pruned["params"] < parent["params"] and pruned["flash_bytes"] < parent["flash_bytes"]
    assert pruned["macs"] < parent["macs"]
    assert distilled["macs"] == table["w0.25-d0.5"]["macs"]     # the student is the grid architecture
    assert rep["fits"] and rep["chosen"]["candidate"] in table and (out / "firmware" / "firmware.elf").exists()
