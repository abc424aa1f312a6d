"""The lifecycle wing's commands: `runs` (recorded stage runs), `registry` (model versions, aliases, lineage,
cards) and `reproduce`; and `no_track_option` / `record`, which every stage command uses to record its run after
it returned."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from tinyml.cli.output import emit

no_track_option = click.option(
    "--no-track", is_flag=True,
    help="Do not record this run (also TINYML_NO_TRACK=1; default store: .tinyml/mlruns.db, or MLFLOW_TRACKING_URI).")


def record(stage: str, report: dict[str, Any], artifacts: list[Path | str | None]) -> None:
    """Records the current command's stage run (its options as parameters); never fails the command."""
    from tinyml.lifecycle.tracking import track

    params = dict(click.get_current_context().params)
    track(stage, report, params, artifacts, no_track=bool(params.get("no_track")))


@click.group()
def runs() -> None:
    """Recorded stage runs (MLflow: MLFLOW_TRACKING_URI, default .tinyml/mlruns.db)."""


@runs.command("ls")
@click.option("--stage", help="Only runs of this stage (train, quantize, build, bench, register, ...).")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def runs_ls(stage: str | None, limit: int, as_json: bool) -> None:
    """The newest runs."""
    from tinyml.lifecycle.tracking import list_runs

    found = list_runs(limit, stage)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for r in found:
        click.echo(f"{r['run_id']}  {r['stage']:10} {r['status']:9} {' '.join(r['datasets']) or '-':28} "
                   f"{r['tags'].get('tinyml.board', '')}")


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def runs_show(run_id: str, as_json: bool) -> None:
    """One run: parameters, metrics, tags, inputs, artifacts."""
    from tinyml.lifecycle.tracking import get_run

    r = get_run(run_id)
    emit(r, as_json, "\n".join([f"run {r['run_id']} ({r['stage']}, {r['status']})",
                                *(f"  {kind} {k} = {v}" for kind in ("params", "metrics", "tags")
                                  for k, v in sorted(r[kind].items())),
                                *(f"  input {d}" for d in r["datasets"]),
                                *(f"  artifact {a}" for a in r["artifacts"])]))


@click.group()
def registry() -> None:
    """Registered model versions (MLflow model registry), aliases, lineage and model cards."""


@registry.command("register")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Registered model name (letters, digits, '.', '_', '-').")
@click.option("--board", "board_names", multiple=True,
              help="Build and register firmware for this board, carrying the version's identity (repeatable).")
@click.option("--bench", "bench_reports", multiple=True, type=click.Path(path_type=Path),
              help="A `tinyml bench --json` report to register with the version (repeatable; one per board).")
@click.option("--intended-use", help="The model card's intended use (default: from the data and recipe).")
@click.option("--alias", help="Also point this alias at the new version (candidate, canary, production, previous).")
@click.option("--json", "as_json", is_flag=True, help="Print the version and its lineage as JSON.")
def registry_register(model: Path, name: str, board_names: tuple[str, ...], bench_reports: tuple[Path, ...],
                      intended_use: str | None, alias: str | None, as_json: bool) -> None:
    """Register MODEL (an int8 .tflite or a model directory holding one) as a new version of NAME."""
    from tinyml.device.boards import get_board
    from tinyml.lifecycle.registry import check_alias, register, set_alias

    if alias:
        check_alias(alias)
    boards = [get_board(b) for b in board_names]
    shown = register(model, name, boards, list(bench_reports), intended_use)
    if alias:
        set_alias(name, shown["version"], alias)
        shown["aliases"] = sorted({*shown["aliases"], alias})
    emit(shown, as_json, f"registered {shown['name']}@{shown['version']} ({shown['identity']})"
                         + (f", alias {alias}" if alias else "") + "\n" + _lineage_text(shown))


@registry.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def registry_ls(as_json: bool) -> None:
    """Registered models, their versions and aliases."""
    from tinyml.lifecycle.registry import list_models

    models = list_models()
    if as_json:
        click.echo(json.dumps(models, indent=2))
        return
    for m in models:
        click.echo(f"{m['name']}: {len(m['versions'])} versions"
                   + (f"; aliases {', '.join(f'{a}={v}' for a, v in sorted(m['aliases'].items()))}"
                      if m["aliases"] else ""))
        for v in m["versions"]:
            click.echo(f"  {v['version']:>3}  {v['identity'] or '-':32} data {v['data'] or '-':28} boards "
                       f"{v['boards'] or '-'}" + (f"  [{', '.join(v['aliases'])}]" if v["aliases"] else ""))


def _lineage_text(shown: dict[str, Any]) -> str:
    lin = shown["lineage"]
    data, code = lin.get("data"), lin.get("code")
    data_line = "unknown (no stage report beside the model)"
    if data:
        data_line = data["ref"] + (f", {data['split_scheme']} split" if data.get("split_scheme") else "")
    code_line = ((code["commit"] + (" (dirty)" if code["dirty"] else "")) if code["commit"]
                 else "the model's folder is not in a git checkout")
    if code["tinyml_commit"]:
        code_line += f"; tinyml {code['tinyml_commit']}" + (" (dirty)" if code["tinyml_dirty"] else "")
    lines = [f"  run:      {shown['register_run']} (register)"
             + (f", stage run {lin['stage_run']}" if lin.get("stage_run") else ""),
             f"  model:    sha256 {lin['model']['sha256'][:16]}, {lin['model']['bytes']} B",
             f"  data:     {data_line}", f"  code:     {code_line}"]
    lines += [f"  parent:   {p['relation'].replace('_', ' ')} {p['path']}"
              + (f" (run {p['run']}, {p['stage']})" if p["run"] else "") for p in lin["parents"]]
    lines += [f"  firmware: {board} sha256 {f['sha256'][:16]} reports '{f['identity']}'"
              for board, f in lin.get("firmware", {}).items()] or ["  firmware: none registered"]
    return "\n".join(lines + _reproduction_lineage(lin))


def _reproduction_lineage(lin: dict[str, Any]) -> list[str]:
    """The recipe, split manifest and stack lines of a lineage (what `tinyml reproduce` uses), where recorded."""
    lines, recipe = [], lin.get("recipe")
    if recipe:
        t = recipe.get("train") or {}
        lines.append("  recipe:   " + (f"tinyml train {t['recipe']} --data {t['data']} --epochs {t['epochs']} --seed "
                                       f"{t['seed']} --width {t['width']:g} --depth {t['depth']:g} --split {t['split']}"
                                       + (" --small-data" if t.get("small_data") else "")
                                       + f"; tinyml quantize --seed {recipe['quantize']['seed']}"
                                       if recipe.get("rebuild") else f"none ({recipe.get('why')})"))
    if lin.get("manifest_sha256"):
        lines.append(f"  split:    manifest sha256 {lin['manifest_sha256'][:16]}")
    if lin.get("stack"):
        lines.append("  stack:    " + ", ".join(f"{k} {v}" for k, v in lin["stack"].items()))
    return lines


@registry.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def registry_show(ref: str, as_json: bool) -> None:
    """A version (NAME@VERSION or NAME@ALIAS) and its whole lineage."""
    from tinyml.lifecycle.registry import show

    shown = show(ref)
    emit(shown, as_json, f"{shown['name']}@{shown['version']} ({shown['identity']})"
                         + (f" [{', '.join(shown['aliases'])}]" if shown["aliases"] else "") + "\n"
                         + _lineage_text(shown))


@registry.command("alias")
@click.argument("name")
@click.argument("version", type=int)
@click.argument("alias")
def registry_alias(name: str, version: int, alias: str) -> None:
    """Point ALIAS at NAME@VERSION (stages are deprecated in MLflow: candidate ~ Staging, canary ~ Staging on a
    cohort, production ~ Production, previous ~ Archived). Setting production moves the old one to previous."""
    from tinyml.lifecycle.registry import set_alias

    done = set_alias(name, version, alias)
    click.echo(f"{name}@{alias} -> {version}" + (f"; {name}@previous -> {done['previous']}" if done["previous"]
                                                 else ""))


@registry.command("card")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON instead of Markdown.")
def registry_card(ref: str, as_json: bool) -> None:
    """The model card of a version (Markdown, or JSON)."""
    from tinyml.lifecycle.registry import card

    data, text = card(ref)
    click.echo(json.dumps(data, indent=2) if as_json else text)


@click.command()
@click.argument("ref")
@click.option("--allow-dirty", is_flag=True,
              help="Rebuild with the current tree (say so) instead of refusing a version registered from a dirty "
                   "tree or from a commit this checkout does not hold.")
@click.option("--keep", type=click.Path(path_type=Path), help="Also keep the rebuilt artifacts in this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def reproduce(ref: str, allow_dirty: bool, keep: Path | None, as_json: bool) -> None:
    """Rebuild NAME@VERSION from its lineage (recorded commit in a temporary git worktree, data version, seeds,
    recipe) and compare the .tflite, the generated C and the firmware byte for byte. Exit code 5 if any differs."""
    from tinyml.errors import MISMATCH
    from tinyml.lifecycle.reproduce import reproduce as run

    r = run(ref, allow_dirty=allow_dirty, keep=keep, progress=not as_json)
    emit(r.to_json(), as_json, _reproduction_text(r))
    if not r.identical:
        sys.exit(MISMATCH)


def _reproduction_text(r) -> str:
    stack = r.stack
    lines = [f"reproduce {r.model}: {r.source['note']}",
             "  stack:    " + ("no versions recorded" if stack["recorded"] is None else
                              "as recorded" if not stack["differs"] else
                              "differs: " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in stack["differs"].items()))]
    if r.firmware_from:
        lines.append(f"  firmware: built from {r.firmware_from}")
    w = max([12, *(len(c.artifact) for c in r.checks)])
    for c in r.checks:
        where = f" at byte {c.offset}" if c.offset is not None else ""
        size = f" ({c.sizes[0]} / {c.sizes[1]} B)" if c.sizes and c.status == "differs" else ""
        lines.append(f"  {c.artifact:{w}} {c.status}{where}{size}" + (f": {c.detail}" if c.detail else ""))
        lines += [f"    tensor {t['tensor']}: " + (t["difference"] if "difference" in t else
                  f"{t['elements_differing']} elements, max abs diff {t['max_abs_diff']:g}"
                  + (f" ({t['max_abs_diff_dequantized']:.6g} dequantized)"
                     if t["max_abs_diff_dequantized"] is not None else "")) for t in c.tensors]
    differing = [c.artifact for c in r.checks if c.status == "differs"]
    compared = sum(c.status in ("identical", "differs") for c in r.checks)
    lines.append(f"MISMATCH: {len(differing)} of {compared} artifacts differ ({', '.join(differing)})" if differing
                 else f"byte-identical: all {compared} compared artifacts ({r.seconds:.0f} s)")
    return "\n".join(lines)


COMMANDS = (runs, registry, reproduce)
