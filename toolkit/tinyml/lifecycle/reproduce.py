"""`tinyml reproduce NAME@VERSION`: make a registered version again from its lineage and compare, byte for byte.

Where the code comes from: the lineage's tinyml commit, checked out in a temporary `git worktree` (detached; removed
afterwards) and run as a package of its own (`tinyml` from the worktree, its firmware and boards beside it, through
a folder of symbolic links first on PYTHONPATH). A version registered from a dirty tree, or whose commit the
checkout does not hold, is refused with one line; `allow_dirty` reproduces with the current tree instead and the
report says so. The stack (Python, TensorFlow, Keras, NumPy, LiteRT, arm-none-eabi-gcc) is the installed one; the
report lists every version that differs from the recorded one.

What is made again, each step a `tinyml` command of the checked-out code in a process of its own (tracking off,
in the current directory, so that a data set path recorded relative to the project folder resolves as it did):
1. the model, when the lineage's recipe says how (`train+quantize`: `tinyml train` with the recorded recipe, data
   set, split, seed, width, depth and epochs; `tinyml quantize` with the recorded seed). Training is deterministic
   (`trainer.setup_tf`: fixed seeds, TensorFlow op determinism, fixed thread counts), so the .tflite is expected to be
   byte-identical; the data set version and its split manifest are checked too;
2. per registered board, `tinyml build --registry-id NAME@VERSION` (the same identity built in): the generated C
   (`model/`), `firmware.bin` and `firmware.elf`. The firmware is built from the rebuilt .tflite when it is
   identical, else from the registered one (so the compiler and the build are still checked).

Comparison: every artifact is `identical` or `differs` (with the first differing byte offset and both sizes); a
differing .tflite also names each constant tensor that differs with its largest absolute difference (in stored
integer units and dequantized), or says that every tensor is equal and only the file's layout or metadata differ.
The ELF is compared without its debug sections (`objcopy --strip-debug`): they name the folder it was built in.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, MISMATCH, OVER_BUDGET, TinymlError
from tinyml.lifecycle import lineage as lin

IDENTICAL, DIFFERS, NOT_REBUILT, NOT_REGISTERED = "identical", "differs", "not rebuilt", "not registered"
STEP_TIMEOUT_S = 3600
_CHILD_CODES = (BAD_INPUT, OVER_BUDGET, DEVICE_FAILURE, MISMATCH)


@dataclass(frozen=True)
class Check:
    """One compared artifact: `status` is identical, differs, not rebuilt or not registered."""
    artifact: str
    status: str
    offset: int | None = None                  # first differing byte
    sizes: tuple[int, int] | None = None       # (registered, rebuilt) bytes
    detail: str = ""
    tensors: tuple[dict[str, Any], ...] = ()   # .tflite: the constant tensors that differ


@dataclass(frozen=True)
class Source:
    """The code the artifacts are made with: a worktree of the recorded commit, or the current tree."""
    root: Path | None          # the worktree (None: the code tinyml runs from now)
    commit: str | None
    note: str


@dataclass(frozen=True)
class Reproduction:
    model: str
    source: dict[str, Any]
    stack: dict[str, Any]
    checks: tuple[Check, ...]
    firmware_from: str | None      # which .tflite the firmware was rebuilt from
    seconds: float
    work_dir: str | None = None

    @property
    def identical(self) -> bool:
        return not any(c.status == DIFFERS for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "identical": self.identical}


@dataclass(frozen=True)
class Rebuilt:
    """The folder laid out like a version's package (`model.tflite`, `firmware/<board>/...`), what was checked
    while making it (the data set version) and which .tflite the firmware was built from."""
    folder: Path
    model_rebuilt: bool
    firmware_from: str | None
    checks: tuple[Check, ...] = ()


def reproduce(ref_text: str, allow_dirty: bool = False, keep: Path | None = None,
              progress: bool = True) -> Reproduction:
    """Rebuilds NAME@VERSION (or NAME@ALIAS) from its lineage and compares its artifacts with the registered
    ones; `keep`: also leave the rebuilt artifacts there."""
    from tinyml.lifecycle.registry import fetch, show

    t0 = time.monotonic()
    shown = show(ref_text)
    ref, lineage = f"{shown['name']}@{shown['version']}", shown["lineage"]
    with tempfile.TemporaryDirectory(prefix="tinyml-reproduce-") as tmp:
        package = Path(tmp) / "package"
        package.mkdir()
        shutil.copyfile(fetch(ref, "model.tflite", Path(tmp) / "download"), package / "model.tflite")
        if lineage.get("firmware"):
            shutil.copytree(fetch(ref, "firmware", Path(tmp) / "download"), package / "firmware")
        with source_tree(lineage, allow_dirty, Path(tmp)) as source:
            rebuilt = rebuild(ref, lineage, package, source, Path(tmp) / "rebuilt", progress)
        checks = rebuilt.checks + compare(package, rebuilt.folder, sorted(lineage.get("firmware") or {}),
                                          rebuilt.model_rebuilt, lineage.get("recipe") or {})
        if keep is not None:
            shutil.copytree(rebuilt.folder, keep, dirs_exist_ok=True)
    return Reproduction(ref, {"commit": source.commit, "worktree": source.root is not None, "note": source.note},
                        stack_difference(lineage.get("stack")), checks, rebuilt.firmware_from,
                        round(time.monotonic() - t0, 1), str(keep) if keep is not None else None)


def stack_difference(recorded: dict[str, str] | None) -> dict[str, Any]:
    """The recorded and current stack versions, and those that differ ({name: [recorded, current]})."""
    current = lin.stack_versions()
    if not recorded:
        return {"recorded": None, "current": current, "differs": {}, "note": "the lineage records no stack versions"}
    differs = {k: [recorded.get(k), current.get(k)] for k in sorted(set(recorded) | set(current))
               if recorded.get(k) != current.get(k)}
    return {"recorded": recorded, "current": current, "differs": differs}


# ---- the code: a worktree of the recorded commit, or the current tree ----

def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120)


def tinyml_checkout() -> Path | None:
    """The top folder of the git checkout tinyml runs from (None: an installed package)."""
    top = _git(Path(lin.__file__).resolve().parent, "rev-parse", "--show-toplevel")
    return Path(top.stdout.strip()) if top.returncode == 0 else None


@contextmanager
def source_tree(lineage: dict[str, Any], allow_dirty: bool, tmp: Path) -> Iterator[Source]:
    """The code to rebuild with: a worktree of the lineage's tinyml commit, or with `allow_dirty` the current tree.
    Refuses (one line) a dirty or missing recorded commit."""
    code = lineage.get("code") or {}
    commit = code.get("tinyml_commit")
    if allow_dirty:
        now = lin.tinyml_git_state()
        yield Source(None, now.get("git.commit"),
                     f"--allow-dirty: rebuilt with the current tree ({now.get('git.commit', 'not a git checkout')}"
                     f"{', dirty' if now.get('git.dirty') == 'true' else ''}), not the recorded commit "
                     f"{commit or '(none recorded)'}{' (dirty)' if code.get('tinyml_dirty') else ''}")
        return
    if not commit:
        raise TinymlError("the lineage records no tinyml commit (it was registered by tinyml outside a git "
                          "checkout): nothing to check out; --allow-dirty rebuilds with the current code", BAD_INPUT)
    if code.get("tinyml_dirty"):
        raise TinymlError(f"the version was registered from a dirty tree (commit {commit} plus uncommitted "
                          "changes): the commit alone cannot reproduce it; --allow-dirty rebuilds with the current "
                          "tree instead", BAD_INPUT)
    repo = tinyml_checkout()
    if repo is None:
        raise TinymlError(f"tinyml runs from an installed package, not a git checkout: commit {commit} cannot be "
                          "checked out; run it from a clone, or --allow-dirty rebuilds with the installed code",
                          BAD_INPUT)
    if _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        raise TinymlError(f"commit {commit} is not in {repo} (fetch it, e.g. `git fetch origin {commit}`); "
                          "--allow-dirty rebuilds with the current tree instead", BAD_INPUT)
    tree = tmp / "src"
    added = _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit)
    if added.returncode != 0:
        raise TinymlError(f"git worktree add {commit} failed in {repo}: {added.stderr.strip()[:300]}", BAD_INPUT)
    try:
        yield Source(tree, commit, f"rebuilt in a temporary git worktree of commit {commit}")
    finally:
        _git(repo, "worktree", "remove", "--force", str(tree))
        _git(repo, "worktree", "prune")


def package_overlay(tree: Path, dest: Path) -> Path:
    """A folder to put first on PYTHONPATH so that `import tinyml` loads the worktree's code: `tinyml/` holds a
    link to every entry of its `toolkit/tinyml`, and `firmware` and `boards` (installed as tinyml.firmware and
    tinyml.boards, see setup.cfg) link to the worktree's."""
    pkg = dest / "tinyml"
    pkg.mkdir(parents=True)
    for entry in (tree / "toolkit" / "tinyml").iterdir():
        (pkg / entry.name).symlink_to(entry)
    for name in ("firmware", "boards"):
        (pkg / name).symlink_to(tree / name)
    return dest


# ---- rebuilding ----

def _environment(source: Source, tmp: Path) -> dict[str, str]:
    from tinyml.lifecycle.tracking import tracking_uri

    env = {**os.environ, "TINYML_NO_TRACK": "1", "MLFLOW_TRACKING_URI": tracking_uri(), "PYTHONHASHSEED": "0"}
    if source.root is not None:
        overlay = package_overlay(source.root, tmp / "overlay")
        env["PYTHONPATH"] = os.pathsep.join([str(overlay), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def _step(args: list[str], env: dict[str, str], cwd: Path, progress: bool) -> None:
    """`tinyml ARGS` in a process of its own; a failure is one line naming the step."""
    if progress:
        print(f"[reproduce] tinyml {' '.join(args)}", file=sys.stderr, flush=True)
    try:
        done = subprocess.run([sys.executable, "-m", "tinyml.cli", *args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=STEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise TinymlError(f"reproduce: `tinyml {' '.join(args)}` took over {STEP_TIMEOUT_S} s",
                          DEVICE_FAILURE) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise TinymlError(f"reproduce: `tinyml {' '.join(args)}` failed (exit {done.returncode}): {last[:300]}",
                          done.returncode if done.returncode in _CHILD_CODES else DEVICE_FAILURE)


def train_args(recipe: dict[str, Any], out: Path) -> list[str]:
    """`tinyml train` options of the lineage's recipe."""
    t = recipe["train"]
    return ["train", str(t["recipe"]), "--data", str(t["data"]), "--epochs", str(t["epochs"]), "--seed", str(t["seed"]),
            "--width", repr(float(t["width"])), "--depth", repr(float(t["depth"])), "--split", str(t["split"]),
            *(["--small-data"] if t.get("small_data") else []), "-o", str(out)]


def rebuild(ref: str, lineage: dict[str, Any], package: Path, source: Source, out: Path, progress: bool) -> Rebuilt:
    """The model (when the recipe says how) and, per registered board, the C and firmware, into `out` laid out like
    the package."""
    out.mkdir(parents=True)
    env, work, cwd = _environment(source, out.parent), out.parent / "work", Path.cwd()
    work.mkdir()
    recipe, checks, model_rebuilt = lineage.get("recipe") or {}, [], False
    if recipe.get("rebuild") == "train+quantize":
        trained = work / "trained"
        _step(train_args(recipe, trained), env, cwd, progress)
        _step(["quantize", str(trained), "--seed", str(recipe["quantize"]["seed"]), "-o",
               str(trained / "model.tflite")], env, cwd, progress)
        shutil.copyfile(trained / "model.tflite", out / "model.tflite")
        checks.append(data_check(lineage, json.loads((trained / "metrics.json").read_text())))
        model_rebuilt = True
    same = model_rebuilt and (out / "model.tflite").read_bytes() == (package / "model.tflite").read_bytes()
    model = out / "model.tflite" if same else package / "model.tflite"
    for board in sorted(lineage.get("firmware") or {}):
        _step(["build", str(model), "--board", board, "-o", str(work / "build" / board), "--registry-id", ref],
              env, cwd, progress)
        dest = out / "firmware" / board
        dest.mkdir(parents=True)
        for kept in ("firmware.bin", "firmware.elf"):
            shutil.copyfile(work / "build" / board / kept, dest / kept)
        shutil.copytree(work / "build" / board / "model", dest / "model")
    firmware_from = None
    if lineage.get("firmware"):
        firmware_from = ("the rebuilt .tflite" if same else "the registered .tflite"
                         + (" (the rebuilt one differs)" if model_rebuilt else ""))
    return Rebuilt(out, model_rebuilt, firmware_from, tuple(checks))


def data_check(lineage: dict[str, Any], metrics: dict[str, Any]) -> Check:
    """The rebuilt training's data set version and split manifest against the lineage's."""
    want, got = lineage.get("data") or {}, metrics.get("dataset") or {}
    if not want:
        return Check("data set", NOT_REGISTERED, detail="the lineage names no data set version")
    manifest = Path(got["manifest"]) if got.get("manifest") else None
    got_sha = lin.sha256_file(manifest) if manifest and manifest.is_file() else None
    problems = []
    if got.get("content_hash") != want.get("content_hash"):
        problems.append(f"version {got.get('name')}@{got.get('content_hash')}, registered {want['ref']}")
    if lineage.get("manifest_sha256") and got_sha != lineage["manifest_sha256"]:
        problems.append(f"split manifest sha256 {str(got_sha)[:16]}, registered {lineage['manifest_sha256'][:16]}")
    return Check("data set", DIFFERS if problems else IDENTICAL,
                 detail="; ".join(problems) or f"{want['ref']}, {got.get('split_scheme')} split"
                 + (", same split manifest" if lineage.get("manifest_sha256") else ""))


# ---- comparing ----

def compare(package: Path, rebuilt: Path, boards: list[str], model_rebuilt: bool,
            recipe: dict[str, Any]) -> tuple[Check, ...]:
    """Every artifact of `package` against the same path in `rebuilt` (both laid out like a version's package)."""
    checks = [compare_tflite(package / "model.tflite", rebuilt / "model.tflite") if model_rebuilt
              else Check("model.tflite", NOT_REBUILT, detail=recipe.get("why", "the lineage records no recipe"))]
    for board in boards:
        mine, theirs = package / "firmware" / board, rebuilt / "firmware" / board
        if (mine / "model").is_dir():
            names = sorted({p.name for d in (mine, theirs) for p in (d / "model").iterdir()})
            checks += [compare_files(f"{board}/model/{n}", mine / "model" / n, theirs / "model" / n) for n in names]
        else:
            checks.append(Check(f"{board}/model/", NOT_REGISTERED, detail="registered before the C was kept"))
        checks.append(compare_files(f"{board}/firmware.bin", mine / "firmware.bin", theirs / "firmware.bin"))
        checks.append(compare_elf(f"{board}/firmware.elf", mine / "firmware.elf", theirs / "firmware.elf"))
    return tuple(checks)


def first_difference(a: bytes, b: bytes) -> int | None:
    """The first byte offset where `a` and `b` differ (the shorter one's length when one is a prefix)."""
    if a == b:
        return None
    n = min(len(a), len(b))
    x, y = np.frombuffer(a[:n], np.uint8), np.frombuffer(b[:n], np.uint8)
    diff = np.flatnonzero(x != y)
    return int(diff[0]) if diff.size else n


def compare_bytes(name: str, a: bytes, b: bytes, detail: str = "") -> Check:
    offset = first_difference(a, b)
    return Check(name, IDENTICAL if offset is None else DIFFERS, offset, (len(a), len(b)), detail)


def compare_files(name: str, registered: Path, rebuilt: Path) -> Check:
    if not registered.is_file():
        return Check(name, DIFFERS, detail="only in the rebuild")
    if not rebuilt.is_file():
        return Check(name, DIFFERS, detail="missing from the rebuild")
    return compare_bytes(name, registered.read_bytes(), rebuilt.read_bytes())


def compare_elf(name: str, registered: Path, rebuilt: Path) -> Check:
    """The ELFs without debug sections (they name the build folder)."""
    if not (registered.is_file() and rebuilt.is_file()):
        return compare_files(name, registered, rebuilt)
    with tempfile.TemporaryDirectory(prefix="tinyml-elf-") as tmp:
        stripped = []
        for i, path in enumerate((registered, rebuilt)):
            dest = Path(tmp) / f"{i}.elf"
            done = subprocess.run(["arm-none-eabi-objcopy", "--strip-debug", str(path), str(dest)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise TinymlError(f"{path}: arm-none-eabi-objcopy cannot read it ({done.stderr.strip()[:200]})",
                                  BAD_INPUT)
            stripped.append(dest.read_bytes())
    return compare_bytes(name, *stripped, detail="debug sections left out (they name the build folder)")


def compare_tflite(registered: Path, rebuilt: Path) -> Check:
    """Bytes, and when they differ, which constant tensors differ and by how much."""
    a, b = registered.read_bytes(), rebuilt.read_bytes()
    check = compare_bytes("model.tflite", a, b)
    if check.status == IDENTICAL:
        return check
    tensors, why = tensor_differences(registered, rebuilt)
    return Check(check.artifact, DIFFERS, check.offset, check.sizes, why, tuple(tensors))


def tensor_differences(registered: Path, rebuilt: Path) -> tuple[list[dict[str, Any]], str]:
    """The constant tensors (matched by name) whose values, shape or quantization differ, and why the files
    differ."""
    from tinyml.compiler.ir.reader import read_tflite

    ga, gb = read_tflite(registered), read_tflite(rebuilt)
    ta = {t.name: t for t in ga.tensors if t.data is not None}
    tb = {t.name: t for t in gb.tensors if t.data is not None}
    rows: list[dict[str, Any]] = []
    for name in sorted(set(ta) | set(tb)):
        x, y = ta.get(name), tb.get(name)
        if x is None or y is None:
            rows.append({"tensor": name, "difference": "only in the " + ("rebuilt" if x is None else "registered")
                         + " model"})
        elif x.data.shape != y.data.shape or x.dtype != y.dtype:
            rows.append({"tensor": name, "difference": f"{x.dtype}{list(x.data.shape)} vs {y.dtype}"
                                                       f"{list(y.data.shape)}"})
        elif not np.array_equal(x.data, y.data) or x.quant != y.quant:
            delta = np.abs(x.data.astype(np.float64) - y.data.astype(np.float64))
            rows.append({"tensor": name, "elements_differing": int(np.count_nonzero(delta)),
                         "max_abs_diff": float(delta.max()) if delta.size else 0.0,
                         "max_abs_diff_dequantized": _dequantized_diff(x, y),
                         "quantization_differs": x.quant != y.quant})
    if rows:
        why = (f"{len(rows)} constant tensors differ: the trained weights (or their quantization) are not the same; "
               "see the stack versions that differ, and whether the recorded training ran with the same seed")
    elif len(ga.operators) != len(gb.operators) or [o.opcode for o in ga.operators] != [o.opcode for o in gb.operators]:
        why = "every constant tensor is equal but the operators differ (a different converter)"
    else:
        why = "every constant tensor and operator is equal: only the file's layout or metadata differ (converter)"
    return rows, why


def _dequantized_diff(x, y) -> float | None:
    """The largest difference of the two tensors' real values (per-axis scales and zero points applied)."""
    if x.quant is None or y.quant is None:
        return None

    def real(t) -> np.ndarray:
        scale, zero = np.asarray(t.quant.scale, np.float64), np.asarray(t.quant.zero_point, np.float64)
        if scale.size > 1:
            shape = [1] * t.data.ndim
            shape[t.quant.axis] = scale.size
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        return (t.data.astype(np.float64) - zero) * scale

    return float(np.abs(real(x) - real(y)).max())
