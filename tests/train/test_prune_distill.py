"""Structured pruning shrinks the dense model; magnitude pruning says it saves nothing; distillation reports both."""
from __future__ import annotations

import pytest

from tests.train.conftest import run_json


@pytest.mark.slow
def test_channel_pruning_shrinks(gesture_model, tmp_path):
    r = run_json("prune", gesture_model, "--channels", "0.5", "--epochs", "1", "-o", tmp_path / "p")
    before, after = r["before"], r["after"]
    assert after["params"] < before["params"] and after["macs"] < before["macs"]
    assert after["flash_bytes"] < before["flash_bytes"]
    assert after["instructions"] < before["instructions"]
    assert after["int8_accuracy"] == after["host_c_accuracy"]


@pytest.mark.slow
def test_magnitude_pruning_is_honest(gesture_model, tmp_path):
    r = run_json("prune", gesture_model, "--sparsity", "0.5", "--epochs", "1", "-o", tmp_path / "p")
    before, after = r["before"], r["after"]
    assert after["nonzero_params"] < 0.7 * before["nonzero_params"]
    assert after["flash_bytes"] == before["flash_bytes"] and after["macs"] == before["macs"]
    assert "saves nothing" in r["note"]


def test_distill_reports_both(gesture_model, tmp_path):
    r = run_json("distill", "--teacher", gesture_model, "--student", "gesture:0.25", "--epochs", "1",
                 "--seeds", "0", "-o", tmp_path / "d")
    s = r["seeds"][0]
    assert {"alone_int8", "distilled_int8"} <= s.keys()
    assert s["distilled_int8"] == s["distilled_host_c"]
    assert r["student_params"] < r["teacher_params"]
