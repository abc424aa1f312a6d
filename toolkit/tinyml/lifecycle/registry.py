"""The model registry: MLflow's registered models, versions and aliases, with tinyml's package and lineage.

A registered version's source is the `package/` folder of its `register` run: `model.tflite` (int8),
`features.json`, `stats.json` (reference statistics for drift monitoring), `reports/` (the stage reports found
beside the model), `firmware/<board>/` (firmware.bin, whose sha256 the lineage records; firmware.elf; build.json;
model/, the generated C; bench.json) per board, `lineage.json` and the
model card (`card.md`, `card.json`). The firmware is built with the version's identity (`NAME@VERSION lin:HASH`),
so the number is claimed before the version exists: the next free one, checked after creation.

Crash safety: the package is staged in a temporary folder and logged to the run before the version is created, and
creating a version is one transaction of the registry store; a process killed at any point leaves no version or a
complete one (at worst an unfinished `register` run, which nothing lists as a version).

MLflow deprecated stages in 2.9; tinyml uses aliases. `ALIASES` maps the familiar stage names to them.
"""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyml.device.boards import Board
from tinyml.device.statistics import load_statistics
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.lifecycle import lineage as lin
from tinyml.lifecycle import tracking

ALIASES = {"candidate": "Staging (a version under test)", "canary": "Staging on a few devices (canary cohort)",
           "production": "Production", "previous": "Archived (the version production replaced; rollback target)"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REF = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)@(?P<which>[A-Za-z0-9_-]+)$")


@dataclass(frozen=True)
class Ref:
    name: str
    version: int | None
    alias: str | None

    def __str__(self) -> str:
        return f"{self.name}@{self.version if self.version is not None else self.alias}"


def parse_ref(text: str) -> Ref:
    """NAME@VERSION or NAME@ALIAS."""
    match = _REF.match(text)
    if not match:
        raise TinymlError(f"'{text}' is not NAME@VERSION or NAME@ALIAS (e.g. kws@3, kws@production)", BAD_INPUT)
    which = match["which"]
    return Ref(match["name"], int(which), None) if which.isdigit() else Ref(match["name"], None, which)


def _version(client, ref: Ref):
    """The MLflow model version `ref` names; a clear error when it does not exist."""
    try:
        if ref.version is not None:
            return client.get_model_version(ref.name, str(ref.version))
        return client.get_model_version_by_alias(ref.name, ref.alias)
    except Exception as exc:  # noqa: BLE001 - MlflowException (RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE)
        if getattr(exc, "error_code", None) in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            raise TinymlError(f"no registered version {ref} in {tracking.tracking_uri()} (see `tinyml registry ls`)",
                              BAD_INPUT) from None
        raise


def _download(client, run_id: str, path: str, dest: Path) -> Path:
    return Path(client.download_artifacts(run_id, path, str(dest)))


@contextmanager
def registered_model(model: Path, registry_id: str | None) -> Iterator[tuple[Path, str | None]]:
    """(the .tflite to build, the identity to build in): MODEL itself when it is a file and no `registry_id` is
    given; a registered NAME@VERSION / NAME@ALIAS downloaded; or MODEL checked against `registry_id`."""
    text = str(model)
    if registry_id is None and (Path(model).exists() or "@" not in text):
        yield Path(model), None
        return
    ref = parse_ref(registry_id or text)
    client = tracking.client()
    mv = _version(client, ref)
    identity = mv.tags.get("tinyml.identity")
    if registry_id is not None:
        if not Path(model).is_file():
            raise TinymlError(f"{model}: no such model file", BAD_INPUT)
        if lin.sha256_file(Path(model)) != mv.tags.get("tinyml.model_sha256"):
            raise TinymlError(f"{model} is not the model of {ref.name}@{mv.version}; build `{ref.name}@{mv.version}`"
                              " itself or pass its model.tflite", BAD_INPUT)
        yield Path(model), identity
        return
    with tempfile.TemporaryDirectory(prefix="tinyml-registry-") as tmp:
        yield _download(client, mv.run_id, "package/model.tflite", Path(tmp)), identity


# ---- register ----

def find_model(target: Path) -> Path:
    """The int8 .tflite of a model directory (model.tflite, or its only .tflite) or the file itself."""
    target = Path(target)
    if target.is_file() and target.suffix == ".tflite":
        return target
    if target.is_dir():
        found = [target / "model.tflite"] if (target / "model.tflite").is_file() else sorted(target.glob("*.tflite"))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise TinymlError(f"{target} holds several .tflite files; register one of them", BAD_INPUT)
    if not target.exists():
        raise TinymlError(f"{target}: no such model file or directory", BAD_INPUT)
    raise TinymlError(f"{target}: no int8 .tflite; quantize it first (tinyml quantize {target} -o "
                      f"{target / 'model.tflite' if target.is_dir() else target.with_suffix('.tflite')})", BAD_INPUT)


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def collect_reports(tflite: Path) -> dict[str, dict[str, Any]]:
    """The reports beside the model: quantize (`<model>.json`), metrics.json and tinyml.json (training),
    features (`<model>.features.json` or features.json), reference statistics (`<model>.stats.json`)."""
    folder = tflite.parent
    candidates = {"quantize": tflite.with_suffix(".json"), "train": folder / "metrics.json",
                  "meta": folder / "tinyml.json", "features": tflite.with_suffix(".features.json"),
                  "stats": tflite.with_suffix(".stats.json")}
    found = {k: d for k, p in candidates.items() if (d := _json(p)) is not None}
    if "stats" in found:
        load_statistics(candidates["stats"])  # a damaged file is one clear line, not a broken version
    if "features" not in found and (d := _json(folder / "features.json")) is not None:
        found["features"] = d
    return found


def read_bench_reports(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """board -> bench report (`tinyml bench --json` output)."""
    out = {}
    for path in paths:
        data = _json(Path(path))
        if data is None or "board" not in data:
            raise TinymlError(f"{path}: not a bench report (write one with `tinyml bench MODEL --board B --json > "
                              f"{path}`)", BAD_INPUT)
        out[data["board"]] = data
    return out


def build_lineage(name: str, tflite: Path, reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Version -> stage run -> data set version -> code commit -> parent models (before firmware is added)."""
    data = next((d for r in ("quantize", "train") for d in lin.datasets_of(reports.get(r, {}))), None)
    model_sha = lin.sha256_file(tflite)
    runs = tracking.find_runs_by_tag("tinyml.output_sha256", model_sha)
    parents = _parents(lin.parent_of("quantize", reports.get("quantize", {})))
    git, own = lin.git_state(tflite.parent), lin.tinyml_git_state()
    return {"model": {"name": name, "sha256": model_sha, "bytes": tflite.stat().st_size},
            "stage_run": runs[0] if runs else None,
            "data": ({"ref": f"{data['name']}@{data['content_hash']}", "name": data["name"],
                      "content_hash": data["content_hash"], "split_scheme": data.get("split_scheme"),
                      "manifest": data.get("manifest")} if data else None),
            "code": {"commit": git.get("git.commit"), "dirty": git.get("git.dirty") == "true",
                     "tinyml_commit": own.get("git.commit"), "tinyml_dirty": own.get("git.dirty") == "true"},
            "parents": parents, **reproduction_lineage(tflite, reports, data)}


def reproduction_lineage(tflite: Path, reports: dict[str, dict[str, Any]],
                         data: dict[str, Any] | None) -> dict[str, Any]:
    """What `tinyml reproduce` needs beyond the lineage above: the pinned stack, the recipe (how to make the model
    again) and the sha256 of the split manifest (to check the rebuilt split is the same)."""
    manifest = Path(data["manifest"]) if data and data.get("manifest") else None
    return {"stack": lin.stack_versions(), "recipe": lin.recipe_of(tflite, reports),
            "manifest_sha256": lin.sha256_file(manifest) if manifest and manifest.is_file() else None}


def _parents(first: dict[str, str], depth: int = 5) -> list[dict[str, Any]]:
    """The chain of parent models (quantized from -> pruned/distilled from -> ...), each with the run that wrote
    it where one was recorded (found by its output folder)."""
    chain, step = [], first
    while step and len(chain) < depth:
        relation, path = next(iter(step.items()))
        runs = tracking.find_runs_by_tag("tinyml.output", str(Path(path).resolve()))
        tags = tracking.run_tags(runs[0]) if runs else {}
        chain.append({"relation": relation, "path": path, "run": runs[0] if runs else None,
                      "stage": tags.get("tinyml.stage")})
        step = {k.removeprefix("tinyml."): v for k, v in tags.items() if k.removeprefix("tinyml.") in
                ("quantized_from", "pruned_from", "distilled_from")}
    return chain


def _next_version(client, name: str) -> int:
    versions = client.search_model_versions(f"name='{name}'")
    return max((int(v.version) for v in versions), default=0) + 1


def _ensure_registered_model(client, name: str) -> None:
    try:
        client.create_registered_model(name, description="tinyml model (int8 TFLite and its firmware)")
    except Exception as exc:  # noqa: BLE001 - it exists already
        if getattr(exc, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
            raise


def register(target: Path, name: str, boards: list[Board], bench_reports: list[Path],
             intended_use: str | None) -> dict[str, Any]:
    """`tinyml registry register`: a new version of `name` holding the model, its reports and, per board, firmware
    built with the version's identity. Returns the version's record (as `show`)."""
    from tinyml.device.build import build_firmware, firmware_string, require_fit
    from tinyml.lifecycle.card import model_card, render_markdown

    if not _NAME.match(name):
        raise TinymlError(f"model name '{name}' must be letters, digits, '.', '_' or '-'", BAD_INPUT)
    tflite = find_model(target)
    benches = read_bench_reports(bench_reports)
    reports = collect_reports(tflite)
    client = tracking.client()
    lineage = build_lineage(name, tflite, reports)
    version = _next_version(client, name)
    lineage["model"]["version"] = version
    identity = lin.identity(name, version, lineage)
    firmware_string(identity)  # fits the device's INFO string, or one line now, before anything is written
    _ensure_registered_model(client, name)
    with tempfile.TemporaryDirectory(prefix="tinyml-register-") as tmp:
        package = Path(tmp) / "package"
        (package / "reports").mkdir(parents=True)
        shutil.copy2(tflite, package / "model.tflite")
        for kind, data in reports.items():
            where = package if kind in ("features", "stats") else package / "reports"
            (where / f"{kind}.json").write_text(json.dumps(data, indent=2) + "\n")
        firmware: dict[str, dict[str, Any]] = {}
        builds: dict[str, dict[str, Any]] = {}
        for board in boards:
            work = Path(tmp) / "builds" / board.name
            require_fit(build_firmware(tflite, board, work, identity=identity))
            out = package / "firmware" / board.name
            out.mkdir(parents=True)
            for kept in ("firmware.bin", "firmware.elf", "build.json"):
                shutil.copy2(work / kept, out / kept)
            shutil.copytree(work / "model", out / "model")  # the generated C, which `tinyml reproduce` compares
            builds[board.name] = json.loads((out / "build.json").read_text())
            # the flashed image: the ELF's debug information also names the build folder
            firmware[board.name] = {"sha256": lin.sha256_file(out / "firmware.bin"), "identity": identity}
        for board_name, bench in benches.items():
            (package / "firmware" / board_name).mkdir(parents=True, exist_ok=True)
            (package / "firmware" / board_name / "bench.json").write_text(json.dumps(bench, indent=2) + "\n")
        lineage["firmware"] = firmware
        (package / "lineage.json").write_text(json.dumps(lineage, indent=2) + "\n")
        card = model_card(name, version, lineage, reports, builds, benches, intended_use, tflite=tflite)
        (package / "card.json").write_text(json.dumps(card, indent=2) + "\n")
        (package / "card.md").write_text(render_markdown(card))
        run_id = tracking.log_stage_run(client, tracking.StageRun(
            "register", params={"name": name, "model": str(tflite), "boards": ",".join(b.name for b in boards)},
            datasets=[{"name": lineage["data"]["name"], "content_hash": lineage["data"]["content_hash"]}]
            if lineage["data"] else [], tags=lin.environment(), artifacts=[package]))
    tags = {"tinyml.identity": identity, "tinyml.lineage_hash": lin.lineage_hash(lineage),
            "tinyml.model_sha256": lineage["model"]["sha256"], "tinyml.boards": ",".join(sorted(firmware)),
            **({"tinyml.data": lineage["data"]["ref"]} if lineage["data"] else {}),
            **({"git.commit": lineage["code"]["commit"]} if lineage["code"]["commit"] else {})}
    mv = client.create_model_version(name, f"runs:/{run_id}/package", run_id=run_id, tags=tags,
                                     description=f"{identity}: {intended_use or card['intended_use']}")
    if int(mv.version) != version:
        client.delete_model_version(name, mv.version)
        raise TinymlError(f"another registration of {name} took version {version} meanwhile; run the command again",
                          BAD_INPUT)
    return show(f"{name}@{version}")


# ---- read ----

def list_models() -> list[dict[str, Any]]:
    client = tracking.client()
    out = []
    for model in client.search_registered_models():
        aliases = dict(model.aliases or {})
        versions = client.search_model_versions(f"name='{model.name}'")
        out.append({"name": model.name, "aliases": aliases,
                    "versions": [{"version": int(v.version), "identity": v.tags.get("tinyml.identity"),
                                  "data": v.tags.get("tinyml.data"), "boards": v.tags.get("tinyml.boards", ""),
                                  "aliases": sorted(a for a, n in aliases.items() if str(n) == str(v.version))}
                                 for v in sorted(versions, key=lambda v: int(v.version))]})
    return out


def show(ref_text: str) -> dict[str, Any]:
    """A version with its aliases and its whole lineage (lineage.json of its package)."""
    client = tracking.client()
    mv = _version(client, parse_ref(ref_text))
    model = client.get_registered_model(mv.name)
    with tempfile.TemporaryDirectory() as tmp:
        lineage = json.loads(_download(client, mv.run_id, "package/lineage.json", Path(tmp)).read_text())
    return {"name": mv.name, "version": int(mv.version), "identity": mv.tags.get("tinyml.identity"),
            "aliases": sorted(a for a, v in (model.aliases or {}).items() if str(v) == str(mv.version)),
            "register_run": mv.run_id, "source": mv.source, "status": mv.status, "lineage": lineage}


def card(ref_text: str) -> tuple[dict[str, Any], str]:
    """The model card of a version: (JSON, Markdown)."""
    client = tracking.client()
    mv = _version(client, parse_ref(ref_text))
    with tempfile.TemporaryDirectory() as tmp:
        data = json.loads(_download(client, mv.run_id, "package/card.json", Path(tmp)).read_text())
        text = _download(client, mv.run_id, "package/card.md", Path(tmp)).read_text()
    return data, text


def check_alias(alias: str) -> None:
    if not re.match(r"^[A-Za-z][A-Za-z0-9_-]*$", alias):
        raise TinymlError(f"alias '{alias}' must start with a letter and hold letters, digits, '_' or '-' (e.g. "
                          f"{', '.join(ALIASES)})", BAD_INPUT)


def set_alias(name: str, version: int, alias: str) -> dict[str, Any]:
    """Points `alias` at NAME@VERSION. Setting `production` moves the version it replaces to `previous`."""
    check_alias(alias)
    client = tracking.client()
    _version(client, Ref(name, version, None))
    moved = None
    if alias == "production":
        current = dict(client.get_registered_model(name).aliases or {}).get("production")
        if current is not None and int(current) != version:
            client.set_registered_model_alias(name, "previous", str(current))
            moved = int(current)
    client.set_registered_model_alias(name, alias, str(version))
    return {"name": name, "version": version, "alias": alias, "previous": moved}


def fetch(ref_text: str, artifact: str, dest: Path) -> Path:
    """One file or folder of a version's package (e.g. `model.tflite`, `firmware/mps2-an386`) downloaded into
    `dest` (used by the rollout, tinyml.lifecycle.rollout)."""
    client = tracking.client()
    mv = _version(client, parse_ref(ref_text))
    return _download(client, mv.run_id, f"package/{artifact}", Path(dest))


def remove_alias(name: str, alias: str) -> None:
    """Takes `alias` off model `name`; nothing happens when no version holds it (a rolled-back canary)."""
    client = tracking.client()
    if alias in dict(client.get_registered_model(name).aliases or {}):
        client.delete_registered_model_alias(name, alias)
