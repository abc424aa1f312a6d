"""Splits: grouped splits never share a group (property over seeds), the built-in groups, Wilson intervals, --cv."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.train.conftest import run_json
from tinyml.train.data import load_dataset
from tinyml.train.data.splits import folds, group_split
from tinyml.train.metrics import describe, wilson_interval


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_groups=st.integers(8, 60))
def test_grouped_splits_never_share_a_group(seed, n_groups):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, 400).astype(str)
    y = rng.integers(0, 4, 400)
    train, val, test = group_split(y, groups, seed)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(400))
    sets = [set(groups[part].tolist()) for part in (train, val, test)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert np.array_equal(group_split(y, groups, seed)[2], test)           # deterministic from the seed
    for a, b in zip(folds(y, groups, 3, seed), folds(y, groups, 3, seed)[1:]):
        assert not set(groups[a].tolist()) & set(groups[b].tolist())


@pytest.mark.parametrize("name, kind", [("kws", "voice"), ("gesture", "subject"), ("vibration", "machine"),
                                        ("digits", None)])
def test_builtin_sets_split_by_their_groups(name, kind, train_cache):
    d = load_dataset(name, seed=1, small=True)
    assert d.group_kind == kind and d.scheme == ("group" if kind else "random")
    if kind:
        train, val, test = (set(d.groups[k].tolist()) for k in ("train", "val", "test"))
        assert not (train & test) and not (train & val) and not (val & test)
    assert not d.leakage().found


def test_wilson_interval_against_newcombe_1998():
    # Newcombe, "Two-sided confidence intervals for the single proportion", Stat. Med. 17 (1998), table I, method 3
    for (k, n), (low, high) in {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605), (0, 20): (0.0, 0.1611),
                                (1, 29): (0.0061, 0.1718)}.items():
        assert np.allclose(wilson_interval(k, n), (low, high), atol=5e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert describe(0.5, 10) == "50.00% [23.66, 76.34] of 10"


def test_per_class_precision_and_recall():
    from tinyml.train.metrics import per_class

    rows = {r["class"]: r for r in per_class([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 0], ["a", "b", "c"])}
    assert (rows["a"]["support"], rows["a"]["predicted"], rows["a"]["correct"]) == (3, 3, 2)
    assert rows["b"]["precision"] == round(2 / 3, 6) and rows["b"]["recall"] == 1.0
    assert rows["b"]["recall_interval"] == [round(v, 6) for v in wilson_interval(2, 2)]
    assert rows["c"]["precision"] is None and rows["c"]["precision_interval"] is None and rows["c"]["recall"] == 0.0


def test_cv_on_small_data(tmp_path, train_cache, monkeypatch):
    monkeypatch.setenv("TINYML_NO_TRACK", "1")                  # no MLflow run in the working directory
    m = run_json("train", "gesture", "--small-data", "--epochs", "1", "--cv", "3", "-o", tmp_path / "cv")
    assert m["cv"] == 3 and len(m["folds"]) == 3 and m["test_samples"] == 480 and m["groups"] == "subject"
    assert abs(m["float_test_mean"] - np.mean([f["float_test"] for f in m["folds"]])) < 1e-9
    assert m["float_test_std"] >= 0 and len(m["float_test_pooled_interval"]) == 2
    tests = [set(load_dataset("gesture", small=True, cv=(i, 3)).index["test"].tolist()) for i in range(3)]
    assert sum(map(len, tests)) == 480 and not (tests[0] & tests[1] | tests[1] & tests[2])
