"""What every command prints: a JSON document with --json, else a few readable lines."""
from __future__ import annotations

import json

import click


def emit(data: dict, as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2) if as_json else text)


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"
