"""The `tinyml` command line: one module of commands per wing (compiler, device, train), assembled here.

Commands only parse arguments, call one stage function and print. A `TinymlError` becomes one line on stderr and
its exit code; a `TinymlBug`, or any other exception escaping a stage, is a bug in tinyml: one line asking for a
report, the traceback saved to a crash file, exit code `INTERNAL_ERROR` (`TINYML_DEBUG=1` shows the traceback).
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
import traceback
from pathlib import Path

import click

from tinyml.cli import compiler, data, device, field, hil, lifecycle, rollout, train
from tinyml.errors import INTERNAL_ERROR, INTERRUPTED, TinymlBug, TinymlError
from tinyml.paths import cache_dir


class _Cli(click.Group):
    """Turns every failure into one line on stderr and a named exit code; never a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["tinyml.words"] = list(args)  # the command line, to name the model in a bug report
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TinymlError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the edge where a bug becomes a report instead of a traceback
            if os.environ.get("TINYML_DEBUG"):
                raise
            click.echo(_bug_line(ctx.meta.get("tinyml.words", []), exc), err=True)
            sys.exit(INTERNAL_ERROR)


def _bug_line(words: list[str], exc: Exception) -> str:
    model_hash = exc.model_hash if isinstance(exc, TinymlBug) else None
    model = next((Path(w) for w in words if w.endswith((".tflite", ".onnx", ".keras"))), None)
    if model_hash is None and model is not None and model.is_file():
        model_hash = hashlib.sha256(model.read_bytes()).hexdigest()[:16]
    message = exc.message if isinstance(exc, TinymlBug) else f"{type(exc).__name__}: {exc}"
    where = _save_crash_report(exc)
    return (f"tinyml bug: {message.splitlines()[0] if message else type(exc).__name__}"
            + (f" (model sha256 {model_hash})" if model_hash else "")
            + f"; please report it with {where}")


def _save_crash_report(exc: Exception) -> str:
    """The traceback and the command line in a file of the cache (it is not printed: one line is)."""
    try:
        path = cache_dir() / "crash" / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("command: " + " ".join(sys.argv) + "\n\n"
                        + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return str(path)
    except OSError:
        return "the command line that failed (TINYML_DEBUG=1 shows the traceback)"


@click.group(cls=_Cli)
@click.version_option(package_name="tinyml")
def main() -> None:
    """tinyml: compile int8 TFLite models ahead of time into C for Cortex-M microcontrollers."""


for _wing in (compiler, device, train, field, hil, lifecycle, data, rollout):
    for _command in _wing.COMMANDS:
        main.add_command(_command)
