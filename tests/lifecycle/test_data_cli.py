"""`tinyml data ls | show | check | diff` end to end, over a registry in a fresh cache."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from tinyml.cli import main
from tinyml.errors import LEAKAGE


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE", str(tmp_path / "cache"))
    return tmp_path


def tinyml(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


def dataset(path, x, y, groups):
    np.savez(path, x=x.astype(np.float32), y=y, groups=np.asarray(groups))
    return path


def test_data_commands(cache):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(120, 6)), np.arange(120) % 3
    groups = [f"speaker{i % 12}" for i in range(120)]
    clean = dataset(cache / "clean.npz", x, y, groups)
    report = json.loads(tinyml("data", "check", clean, "--json"))
    assert not report["leaked"] and report["checks"][0]["scheme"] == "group"
    ref = report["data"]
    assert ref.startswith("clean@")

    leaked = dataset(cache / "leaked.npz", x, y, groups)
    out = tinyml("data", "check", leaked, "--split", "random", code=LEAKAGE)
    assert "LEAKS" in out and "group(s) in two splits" in out and "error: leaked@" in out

    x2 = np.concatenate([x[1:], rng.normal(size=(2, 6))])          # one sample removed, two added, one relabelled
    y2 = np.concatenate([y[1:], [0, 1]])
    y2[5] = (y2[5] + 1) % 3
    dataset(cache / "clean.npz", x2, y2, [f"speaker{i % 12}" for i in range(121)])
    ref2 = json.loads(tinyml("data", "check", clean, "--json"))["data"]
    versions = json.loads(tinyml("data", "ls", "--json"))["versions"]
    assert {ref, ref2, "leaked@" + out.split("leaked@")[1][:16]} <= {v["ref"] for v in versions}

    shown = json.loads(tinyml("data", "show", ref, "--json"))
    assert shown["samples"] == 120 and shown["groups"] == "group" and shown["n_groups"] == 12
    assert sum(shown["splits"][0]["sizes"].values()) == 120
    assert "12 (group)" in tinyml("data", "show", ref)

    d = json.loads(tinyml("data", "diff", ref, ref2, "--json"))
    assert (d["added"], d["removed"], d["relabelled"]) == (2, 1, 1)
    assert d["splits"]["moved"] == sum(d["splits"]["moves"].values())
    assert "2 added, 1 removed, 1 relabelled" in tinyml("data", "diff", ref, ref2)

    assert json.loads(tinyml("data", "check", ref2, "--json"))["data"] == ref2   # a registered version re-checked
    assert "the data changed since it was recorded" in tinyml("data", "check", ref, code=2)   # the file moved on
    tinyml("data", "show", "nothing@00", code=2)
