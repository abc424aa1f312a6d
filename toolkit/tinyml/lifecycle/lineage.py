"""Lineage: what a stage's report says about where its model came from, and the environment it ran in.

A stage report names its data set (`{"name", "content_hash", ...}` under `dataset` or `data`) and, for derived
models, its parent (quantize: `model`; prune: `model`; distill: `teacher`). `environment()` adds the code (git
commit and dirty flag of the project and of tinyml's checkout) and the tools (tinyml, TensorFlow when imported,
arm-none-eabi-gcc, QEMU).
`stack_versions()` pins the stack that makes the artifacts (Python, TensorFlow, Keras, NumPy, LiteRT, the cross
compiler) and `recipe_of` says how `tinyml reproduce` makes the model again (the training and quantization
options of its reports), or why it cannot.
`lineage_hash` is the first 8 hex digits of the SHA-256 of a lineage without its firmware (the firmware carries
the hash, so it cannot be part of it).
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tinyml import __version__

STACK_PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "ai-edge-litert")
PARENT_KEYS = {"quantize": ("quantized_from", "model"), "prune": ("pruned_from", "model"),
               "distill": ("distilled_from", "teacher")}


def _first_line(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0] if out.returncode == 0 and lines else None


def git_state(where: Path = Path(".")) -> dict[str, str]:
    """The commit and dirty flag of the git checkout `where` is in ({} outside one)."""
    commit = _first_line(["git", "-C", str(where), "rev-parse", "HEAD"])
    if commit is None:
        return {}
    status = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                            capture_output=True, text=True).stdout
    return {"git.commit": commit, "git.dirty": "true" if status.strip() else "false"}


def tinyml_git_state() -> dict[str, str]:
    """The git state of tinyml's own source, when it runs from a checkout."""
    return git_state(Path(__file__).resolve().parent)


def environment() -> dict[str, str]:
    """Tags for a run: the project's git state (the current directory), tinyml's own (when it runs from a
    checkout: `tinyml.git.commit`), and tool versions (only those present)."""
    tags = {"tinyml.version": __version__, "python.version": sys.version.split()[0]} | git_state()
    tags |= {f"tinyml.{k}": v for k, v in tinyml_git_state().items()}
    if "tensorflow" in sys.modules:
        tags["tensorflow.version"] = str(getattr(sys.modules["tensorflow"], "__version__", "?"))
    for name, cmd in (("arm-none-eabi-gcc.version", ["arm-none-eabi-gcc", "--version"]),
                      ("qemu.version", ["qemu-system-arm", "--version"])):
        line = _first_line(cmd)
        if line:
            tags[name] = line
    return tags


def datasets_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The data set descriptions a report names (each with `name` and `content_hash`)."""
    found = [report[k] for k in ("dataset", "data") if isinstance(report.get(k), dict)]
    return [d for d in found if d.get("name") and d.get("content_hash")]


def parent_of(stage: str, report: dict[str, Any]) -> dict[str, str]:
    """{"quantized_from": path} and the like, from a stage report."""
    relation, key = PARENT_KEYS.get(stage, (None, None))
    return {relation: str(report[key])} if relation and report.get(key) else {}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def lineage_hash(lineage: dict[str, Any]) -> str:
    """8 hex digits over the lineage without its `firmware` (canonical JSON)."""
    core = {k: v for k, v in lineage.items() if k != "firmware"}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:8]


def identity(name: str, version: int, lineage: dict[str, Any]) -> str:
    """What the firmware of a registered version reports: "NAME@VERSION lin:HASH"."""
    return f"{name}@{version} lin:{lineage_hash(lineage)}"


def stack_versions() -> dict[str, str]:
    """The versions of what makes a model and its firmware: Python, tinyml, the installed `STACK_PACKAGES` and
    arm-none-eabi-gcc (read from the package metadata, so TensorFlow is not imported)."""
    from importlib import metadata

    out = {"python": sys.version.split()[0], "tinyml": __version__}
    for name in STACK_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    gcc = _first_line(["arm-none-eabi-gcc", "--version"])
    if gcc:
        out["arm-none-eabi-gcc"] = gcc
    return out


def recipe_of(tflite: Path, reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How `tinyml reproduce` makes the .tflite again: `tinyml train` with the options of the folder's
    tinyml.json, then `tinyml quantize` of that folder with the options of the quantize report. Returns
    {"rebuild": "train+quantize", "train": {...}, "quantize": {...}}, or {"rebuild": None, "why": ...} when the
    reports do not say (a model made by prune, distill or fit, or one quantized from another folder)."""
    meta, q = reports.get("meta"), reports.get("quantize")
    if not meta or not q:
        return {"rebuild": None, "why": "no tinyml.json and quantize report beside the model: only the C and the "
                                        "firmware are rebuilt from the registered .tflite"}
    derived = [k for k in ("pruned", "distilled") if k in meta]
    if derived:
        return {"rebuild": None, "why": f"the model was {derived[0]} (tinyml.json), not trained by `tinyml train` "
                                        "alone: only the C and the firmware are rebuilt from the registered .tflite"}
    if not _same_folder(Path(str(q.get("model", ""))), tflite.resolve().parent):
        return {"rebuild": None, "why": f"the model was quantized from {q.get('model')}, not from its own folder: "
                                        "only the C and the firmware are rebuilt from the registered .tflite"}
    data = q.get("data") if isinstance(q.get("data"), dict) else {}
    trained_on = (reports.get("train") or {}).get("dataset") or {}
    if data.get("content_hash") != trained_on.get("content_hash"):
        return {"rebuild": None, "why": f"the model was calibrated on {data.get('name')}@{data.get('content_hash')}, "
                                        "not on its training data: only the C and the firmware are rebuilt from the "
                                        "registered .tflite"}
    train = {k: meta.get(k) for k in ("recipe", "width", "depth", "data", "small_data", "seed", "epochs", "split")}
    return {"rebuild": "train+quantize", "train": train,
            "quantize": {"seed": data.get("seed", meta.get("seed")), "calib_samples": q.get("calib_samples")}}


def _same_folder(quantized: Path, folder: Path) -> bool:
    """Whether the quantize report's model (a folder or its model.keras; relative to wherever quantize ran) is
    `folder`."""
    if quantized.name == "model.keras":
        quantized = quantized.parent
    if quantized.is_absolute():
        return quantized.resolve() == folder
    parts = [p for p in quantized.parts if p != "."]
    return bool(parts) and ".." not in parts and list(folder.parts[-len(parts):]) == parts
