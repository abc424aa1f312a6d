"""Leakage: a sample planted in train and test, a near copy, and a group split across them are caught; training
refuses them in one line unless --allow-leakage, which metrics.json records."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.train.conftest import run_cli
from tinyml.errors import BAD_INPUT
from tinyml.train.data import load_dataset
from tinyml.train.data.synth import gestures


def pre_split(path, plant=None, near=False, groups=None):
    """A gesture-shaped pre-split .npz (train 80, val 16, test 24); `plant`: train sample copied over test sample 3
    (index 99 of the version)."""
    x, y, classes = gestures(7, 20)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    x_train, y_train, x_test, y_test = x[:96], y[:96], x[96:].copy(), y[96:].copy()
    if plant is not None:
        x_test[3], y_test[3] = x_train[plant] * (1.02 if near else 1.0) + (0.01 if near else 0.0), y_train[plant]
    extra = {} if groups is None else {"groups_train": groups[0][:80], "groups_val": groups[0][80:],
                                       "groups_test": groups[1]}
    np.savez(path, x_train=x_train[:80], y_train=y_train[:80], x_val=x_train[80:], y_val=y_train[80:],
             x_test=x_test, y_test=y_test, classes=classes, **extra)
    return path


def test_a_sample_planted_in_train_and_test_is_caught(tmp_path):
    leak = load_dataset(pre_split(tmp_path / "planted.npz", plant=10)).leakage()
    assert leak.found and len(leak.exact) == 1 and not leak.near
    split, index, other, other_index = leak.exact[0]
    assert (split, other) == ("train", "test") and other_index == 96 + 3
    assert "1 exact duplicate(s)" in leak.line() and "test sample 99" in leak.line()


def test_a_near_copy_is_caught(tmp_path):
    leak = load_dataset(pre_split(tmp_path / "near.npz", plant=10, near=True)).leakage()
    assert not leak.exact and len(leak.near) == 1 and leak.near[0][4] >= 0.999


def test_a_group_split_across_train_and_test_is_caught(tmp_path):
    groups = (np.array([f"p{i % 8}" for i in range(80)] + ["v"] * 16), np.array(["p3"] + ["q"] * 23))
    leak = load_dataset(pre_split(tmp_path / "groups.npz", groups=groups)).leakage()
    assert not leak.exact and not leak.near and [g for g, _, _ in leak.groups] == ["p3"]
    assert "'p3' in train and test" in leak.line()


def test_clean_data_is_clean(tmp_path):
    assert not load_dataset(pre_split(tmp_path / "clean.npz")).leakage().found


@pytest.mark.slow
def test_training_refuses_a_leaked_split_unless_allowed(tmp_path, train_cache, monkeypatch):
    monkeypatch.setenv("TINYML_NO_TRACK", "1")                  # no MLflow run in the working directory
    data = pre_split(tmp_path / "planted.npz", plant=10)
    err = run_cli("train", "gesture", "--data", data, "--epochs", "1", "-o", tmp_path / "m", code=BAD_INPUT).stderr
    line = err.strip()
    assert "\n" not in line and "Traceback" not in line and "1 exact duplicate(s)" in line
    assert "--allow-leakage" in line and not (tmp_path / "m").exists()
    run_cli("train", "gesture", "--data", data, "--epochs", "1", "--allow-leakage", "-o", tmp_path / "m")
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["leakage"]["allowed"] and metrics["leakage"]["exact_duplicates"] == 1
    assert metrics["test_samples"] == 24 and len(metrics["float_test_interval"]) == 2
