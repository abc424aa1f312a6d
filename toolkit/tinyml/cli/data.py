"""The data registry's commands: `tinyml data ls | show | check | diff` (logic: `tinyml.lifecycle.datasets`)."""
from __future__ import annotations

import sys

import click

from tinyml.cli.output import emit
from tinyml.errors import LEAKAGE


@click.group()
def data() -> None:
    """Data set versions tinyml has made or read, their split manifests, leakage checks and diffs."""


@data.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the versions as JSON.")
def ls(as_json: bool) -> None:
    """List every recorded version (newest first) with its split manifests."""
    from tinyml.lifecycle.datasets import ls as run

    rows = run()
    lines = []
    for r in rows:
        groups = f"{r['n_groups']} {r['groups']} groups" if r["groups"] else "no groups"
        splits = ", ".join(f"{s['scheme']} s{s['seed']}" for s in r["splits"])
        lines.append(f"{r['ref']:36} {r['samples']:>6} samples, {groups}; splits: {splits}")
    emit({"versions": rows}, as_json, "\n".join(lines) or "no data versions yet (train, or run `tinyml data check`)")


@data.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print the version as JSON.")
def show(ref: str, as_json: bool) -> None:
    """Show NAME@VERSION: source, classes, groups and each split manifest (sizes, groups per split)."""
    from tinyml.lifecycle.datasets import show as run

    r = run(ref)
    lines = [f"{r['ref']}: {r['samples']} samples, {len(r['classes'])} classes, task {r['task']}",
             f"  source: {r['source']}",
             f"  groups: {r['n_groups']} ({r['groups']})" if r["groups"] else "  groups: none (each sample its own)",
             "  per class: " + ", ".join(f"{c} {n}" for c, n in r["per_class"].items())]
    for s in r["splits"]:
        lines.append(f"  split {s['scheme']} seed {s['seed']}: " + ", ".join(
            f"{k} {n}" + (f" ({s['groups'][k]} groups)" if "groups" in s else "") for k, n in s["sizes"].items()))
    emit(r, as_json, "\n".join(lines))


@data.command()
@click.argument("target")
@click.option("--seed", type=int, default=0, show_default=True, help="Split seed (a file or built-in name).")
@click.option("--split", type=click.Choice(["auto", "group", "random"]), default="auto", show_default=True,
              help="How to split a file or built-in name (a registered version: every recorded split).")
@click.option("--small-data", is_flag=True, help="The reduced built-in data set.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check(target: str, seed: int, split: str, small_data: bool, as_json: bool) -> None:
    """Check NAME@VERSION, or a data set as --data takes it (built-in name, .npz, WAV folder), for samples, near
    copies and groups in two splits. Exit code 7 (LEAKAGE) if it finds any."""
    from tinyml.lifecycle.datasets import check as run

    r = run(target, seed=seed, split=split, small=small_data)
    emit(r, as_json, "\n".join([f"{r['data']} ({r['source']}):"] + [
        f"  {c['scheme']} split, seed {c['seed']} ({', '.join(f'{k} {n}' for k, n in c['sizes'].items())}): "
        f"{'LEAKS: ' if c['leaked'] else ''}{c['summary']}" for c in r["checks"]]))
    if r["leaked"]:
        if not as_json:
            click.echo(f"error: {r['data']} leaks between its splits: remove the duplicates, or split by group "
                       "(--split group)", err=True)
        sys.exit(LEAKAGE)


@data.command()
@click.argument("a")
@click.argument("b")
@click.option("--seed", type=int, default=0, show_default=True, help="Compare the split manifests with this seed.")
@click.option("--split", "scheme", type=click.Choice(["group", "random", "given"]),
              help="Compare these split manifests (default: the grouped one where there is one).")
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
def diff(a: str, b: str, seed: int, scheme: str | None, as_json: bool) -> None:
    """Samples added, removed, relabelled and moved between splits from version A to version B."""
    from tinyml.lifecycle.datasets import diff as run

    r = run(a, b, seed=seed, scheme=scheme)
    text = [f"{r['a']} ({r['samples']['a']} samples) -> {r['b']} ({r['samples']['b']} samples): "
            f"{r['added']} added, {r['removed']} removed, {r['relabelled']} relabelled"]
    s = r["splits"]
    if s:
        text.append(f"  splits ({s['a']['scheme']} -> {s['b']['scheme']}, seed {seed}): {s['a']['sizes']} -> "
                    f"{s['b']['sizes']}; {s['moved']} moved" + (": " + ", ".join(f"{k} {n}" for k, n in
                                                                                s["moves"].items()) if s["moves"]
                                                                 else ""))
    else:
        text.append(f"  splits: no manifests with seed {seed} on both sides")
    emit(r, as_json, "\n".join(text))


COMMANDS = (data,)
