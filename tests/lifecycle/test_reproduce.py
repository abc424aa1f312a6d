"""`tinyml reproduce`: a small trained model, registered with firmware, is made again byte for byte (.tflite, data
split, generated C, firmware); a tampered registered artifact is reported with its first differing byte (exit code
5); a version registered from a dirty tree or a missing commit is refused; the worktree of a commit runs that
commit's code."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import tflite_models as tm
from tests.lifecycle.conftest import Project
from tests.train.conftest import run_cli
from tinyml.errors import MISMATCH, TinymlError
from tinyml.lifecycle import reproduce as rp

BOARD = "mps2-an386"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gesture model trained (reduced data, 1 epoch) and quantized by `tinyml` as a user runs it (untracked, as
    the test suite sets TINYML_NO_TRACK)."""
    folder = tmp_path_factory.mktemp("trained") / "gesture"
    run_cli("train", "gesture", "--small-data", "--epochs", "1", "--seed", "3", "-o", folder)
    run_cli("quantize", folder, "-o", folder / "model.tflite")
    return folder


def _stored(project: Project, name: str, version: int, artifact: str) -> Path:
    """The file of a registered version's package in the local store (what `registry fetch` downloads)."""
    found = [p for p in (project.root / ".tinyml" / "mlartifacts").rglob(f"package/{artifact}")]
    shown = json.loads(project("registry", "show", f"{name}@{version}", "--json").stdout)
    return next(p for p in found if shown["register_run"] in p.parts)


@pytest.mark.slow
def test_trained_model_reproduces_byte_for_byte(project: Project, trained: Path) -> None:
    shown = json.loads(project("registry", "register", trained, "--name", "g", "--board", BOARD, "--json").stdout)
    lineage = shown["lineage"]
    assert lineage["recipe"]["rebuild"] == "train+quantize" and lineage["recipe"]["train"]["seed"] == 3
    assert lineage["stack"]["tensorflow-cpu"] and lineage["manifest_sha256"]
    text = project("registry", "show", "g@1").stdout
    assert "recipe:   tinyml train gesture" in text and "stack:" in text and "split:    manifest" in text
    card = json.loads(project("registry", "card", "g@1", "--json").stdout)["metrics"]
    rows = card["per_class"]["rows"]
    assert len(rows) == 6 and sum(r["support"] for r in rows) == card["int8"]["samples"]
    assert sum(r["correct"] for r in rows) == round(card["int8"]["value"] * card["int8"]["samples"])
    assert all(r["recall_interval"][0] <= r["recall"] <= r["recall_interval"][1] for r in rows)

    # a clean checkout (CI's fresh clone) rebuilds in a worktree of the recorded commit; a dirty one cannot
    dirty = lineage["code"]["tinyml_dirty"]
    keep = project.root / "rebuilt"
    result = project("reproduce", "g@1", *(["--allow-dirty"] if dirty else []), "--json", "--keep", keep)
    report = json.loads(result.stdout)
    checks = {c["artifact"]: c for c in report["checks"]}
    assert report["identical"], [c for c in report["checks"] if c["status"] != "identical"]
    assert report["source"]["worktree"] is not dirty and report["firmware_from"] == "the rebuilt .tflite"
    assert ("--allow-dirty" if dirty else "worktree of commit") in report["source"]["note"]
    for artifact in ("data set", "model.tflite", f"{BOARD}/model/model.c", f"{BOARD}/model/model_weights.c",
                     f"{BOARD}/firmware.bin", f"{BOARD}/firmware.elf"):
        assert checks[artifact]["status"] == "identical", checks[artifact]
    assert (keep / "firmware" / BOARD / "firmware.bin").read_bytes() == \
        _stored(project, "g", 1, f"firmware/{BOARD}/firmware.bin").read_bytes()

    # tampering: one weight byte of the .tflite and one byte of the firmware, compared with the rebuild just made
    package = project.root / "tampered"
    shutil.copytree(_stored(project, "g", 1, "firmware").parent, package)
    weights = _weight_offset(package / "model.tflite")
    _flip(package / "model.tflite", weights)
    _flip(package / "firmware" / BOARD / "firmware.bin", 300)
    found = {c.artifact: c for c in rp.compare(package, keep, [BOARD], True, lineage["recipe"])}
    assert found[f"{BOARD}/firmware.bin"].status == "differs" and found[f"{BOARD}/firmware.bin"].offset == 300
    tflite = found["model.tflite"]
    assert tflite.status == "differs" and tflite.offset == weights and len(tflite.tensors) == 1
    assert tflite.tensors[0]["elements_differing"] == 1 and tflite.tensors[0]["max_abs_diff"] > 0
    assert "constant tensors differ" in tflite.detail and found[f"{BOARD}/model/model.c"].status == "identical"


def _weight_offset(path: Path) -> int:
    """The file offset of one byte of the largest int8 constant tensor (its first element)."""
    from tinyml.compiler.ir.reader import read_tflite

    graph = read_tflite(path)
    tensor = max((t for t in graph.tensors if t.data is not None and t.dtype == "int8"), key=lambda t: t.data.size)
    data, raw = path.read_bytes(), tensor.data.tobytes()
    assert data.count(raw) == 1
    return data.index(raw)


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x55
    path.write_bytes(bytes(data))


def test_tampered_firmware_is_a_mismatch(project: Project, tmp_path: Path) -> None:
    """A model without training reports: only the C and firmware are made again; a byte changed in the stored
    firmware makes `tinyml reproduce` name it, its offset, and exit with MISMATCH."""
    model = tmp_path / "plain" / "model.tflite"
    model.parent.mkdir()
    model.write_bytes(tm.random_network(np.random.default_rng(5)).model)
    project("registry", "register", model, "--name", "plain", "--board", BOARD)
    _flip(_stored(project, "plain", 1, f"firmware/{BOARD}/firmware.bin"), 1000)
    bad = project("reproduce", "plain@1", "--allow-dirty", code=MISMATCH).stdout
    assert f"{BOARD}/firmware.bin" in bad and "differs at byte 1000" in bad and "MISMATCH: 1 of" in bad
    assert "model.tflite" in bad and "not rebuilt: no tinyml.json and quantize report" in bad
    assert f"{BOARD}/model/model.c" in bad and f"{BOARD}/firmware.elf" in bad  # compared, and identical


def test_refuses_dirty_or_missing_commit(tmp_path: Path) -> None:
    head = subprocess.run(["git", "-C", str(Path(rp.__file__).parent), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = {"code": {"tinyml_commit": head, "tinyml_dirty": True}}
    missing = {"code": {"tinyml_commit": "f" * 40, "tinyml_dirty": False}}
    for lineage, words in ((dirty, "dirty tree"), (missing, "is not in"), ({"code": {}}, "no tinyml commit")):
        with pytest.raises(TinymlError) as err, rp.source_tree(lineage, False, tmp_path):
            pass
        assert words in err.value.message and "--allow-dirty" in err.value.message
    with rp.source_tree(dirty, True, tmp_path) as source:
        assert source.root is None and "current tree" in source.note


def test_worktree_runs_the_commits_code(tmp_path: Path) -> None:
    """The recorded commit in a temporary worktree; `tinyml` imported through the overlay is the worktree's, with
    its firmware and boards; the worktree is gone afterwards."""
    repo = rp.tinyml_checkout()
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    with rp.source_tree({"code": {"tinyml_commit": head, "tinyml_dirty": False}}, False, tmp_path) as source:
        assert source.root is not None and source.commit == head
        overlay = rp.package_overlay(source.root, tmp_path / "overlay")
        code = "import tinyml, tinyml.paths; print(tinyml.__file__); print(tinyml.paths.BOARDS_DIR)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(overlay)}).stdout.split()
        assert Path(out[0]).resolve().is_relative_to(source.root) and Path(out[1]).resolve() == source.root / "boards"
        tree = source.root
    assert not tree.exists()
    assert str(tree) not in subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True,
                                           text=True).stdout
