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


def test_stages_pass_frozen_values(tmp_path):
    """The search's stages without training: `estimate` turns a footprint into a cost and names every budget the
    candidate misses; a trained version of a candidate replaces the sized one in the table, in grid order; the
    refusal names the closest candidate."""
    import dataclasses

    from tinyml.device.boards import get_board
    from tinyml.train import fit
    from tinyml.train.recipes import RECIPES

    for cls in (fit.Request, fit.Budgets, fit.Search, fit.Spec, fit.Footprint, fit.Cost, fit.Scores, fit.Candidate,
                fit.Trained, fit.LatencyModel, fit.Grid, fit.Delivery, fit.FitReport):
        assert cls.__dataclass_params__.frozen, cls
    board = get_board("lm3s6965evb")
    budgets = fit.Budgets(flash_bytes=1000, ram_bytes=1000, latency_ms=1.0, energy_uj=None, min_accuracy=None)
    search = fit.Search(fit.Request("gesture", board.name, tmp_path), RECIPES["gesture"], board, budgets, None, 1)
    latency = fit.LatencyModel(board.core, board.name, [1.0, 0, 0, 0, 0, 0], [{"candidate": "a", "instructions": 7}],
                               0.0)

    def footprint(flash: int, macs: int) -> fit.Footprint:
        return fit.Footprint(params=10, macs=macs, conv_macs=macs, depthwise_macs=0, fc_macs=0, activation_elements=0,
                             operators=3, flash_bytes=flash, ram_bytes=500, arena_bytes=100)

    a = fit.estimate(search, latency, fit.Candidate(fit.Spec("a", 0.5, 1), footprint=footprint(2000, 10)))
    b = fit.estimate(search, latency, fit.Candidate(fit.Spec("b", 1, 1), footprint=footprint(900, board.clock_hz)))
    assert a.cost.violations == ("flash 2000 B > 1000 B",) and a.instructions_measured == 7 and not a.fits
    assert b.cost.violations == ("latency 1000.00 ms > 1 ms",) and b.instructions_measured is None
    trained = dataclasses.replace(b, scores=fit.Scores(0.5, 0.6, 0.7, 0.7))
    table = fit._merge((a, b), (trained,))
    assert [c.tag for c in table] == ["a", "b"] and table[1].trained and table[1].row()["int8_test"] == 0.7
    assert set(table[0].row()) == set(table[1].row()) and table[0].row()["int8_val"] is None
    assert "the closest candidate, a " in fit._no_fit_message(search, table)
