#!/usr/bin/env python3
"""Which cells of the MLPerf table (docs/BENCHMARKS.md, written by scripts/bench_mlperf.py) got worse since a commit.

Usage: python scripts/compare_benchmarks.py OLD_REF [--new REF] [--all]

Reads the "MLPerf Tiny on every emulated core" table between the bench_mlperf markers of docs/BENCHMARKS.md at
git revision OLD_REF and in the working tree (or at --new REF), matches rows by model and core, and compares every
figure where lower is better: instructions per inference, estimated cycles (M4, M7), arena, peak stack and flash
excluding weights. A row missing on one side, a failed cell or outputs that are not all exact count as worse.
Prints each worse cell with both figures and the difference (--all: every cell), then a one-line summary; exits 1
if any cell is worse, 0 otherwise, so it can gate a change.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
DOC = "docs/BENCHMARKS.md"
BEGIN, END = "<!-- bench_mlperf:begin -->", "<!-- bench_mlperf:end -->"
KEY_COLUMNS = ("model", "core (board)")
LOWER_IS_BETTER = ("instr/inference", "est. cycles", "arena (B)", "peak stack (B)", "flash excl. weights (B)")
EXACT_COLUMN = "outputs exact"

Table = dict[tuple[str, str], dict[str, str]]


def read_doc(ref: str | None) -> str:
    """docs/BENCHMARKS.md at git revision `ref`, or in the working tree when `ref` is None."""
    if ref is None:
        return (REPO_DIR / DOC).read_text()
    done = subprocess.run(["git", "show", f"{ref}:{DOC}"], cwd=REPO_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"compare_benchmarks: cannot read {DOC} at {ref}: {done.stderr.strip()}")
    return done.stdout


def cores_table(doc: str, where: str) -> Table:
    """The first Markdown table of the bench_mlperf section, as {(model, core): {column: cell}}."""
    _, begin, rest = doc.partition(BEGIN)
    section, end, _ = rest.partition(END)
    if not begin or not end:
        sys.exit(f"compare_benchmarks: no {BEGIN} ... {END} section in {DOC} ({where})")
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break           # the first table ends at its first non-table line
    if len(rows) < 3 or any(column not in rows[0] for column in (*KEY_COLUMNS, *LOWER_IS_BETTER, EXACT_COLUMN)):
        sys.exit(f"compare_benchmarks: the MLPerf table in {DOC} ({where}) lacks the expected columns")
    header = rows[0]
    table: Table = {}
    for row in rows[2:]:     # rows[1] is the |---| separator
        cells = dict(zip(header, row))
        table[(cells["model"], cells["core (board)"])] = cells
    return table


def number(cell: str) -> int | None:
    """The integer in a cell such as "14,192,781"; None for "—", a failure text or an empty cell."""
    digits = cell.replace(",", "")
    return int(digits) if digits.isdigit() else None


def exact(cell: str) -> bool:
    match, _, total = cell.partition("/")
    return match.isdigit() and match == total and int(total) > 0


def compare(old: Table, new: Table) -> tuple[list[str], list[str]]:
    """(worse, all) lines: every compared cell, and those that got worse."""
    worse, lines = [], []
    for key in sorted(old.keys() | new.keys()):
        name = f"{key[0]} {key[1]}"
        if key not in old or key not in new:
            line = f"{name}: row only in the {'new' if key in new else 'old'} table"
            worse.append(line)
            lines.append(line)
            continue
        before, after = old[key], new[key]
        if not exact(after[EXACT_COLUMN]):
            line = f"{name}: outputs exact {after[EXACT_COLUMN]} (was {before[EXACT_COLUMN]})"
            worse.append(line)
            lines.append(line)
        for column in LOWER_IS_BETTER:
            a, b = number(before[column]), number(after[column])
            if a is None and b is None:
                continue
            if a is None or b is None:
                line = f"{name} | {column}: {before[column]} -> {after[column]}"
                worse.append(line)
                lines.append(line)
                continue
            line = f"{name} | {column}: {a:,} -> {b:,} ({b - a:+,})"
            lines.append(line)
            if b > a:
                worse.append(line)
    return worse, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_ref", metavar="OLD_REF", help="git revision of the reference table, e.g. 8d5765a")
    parser.add_argument("--new", metavar="REF", help="git revision of the new table (default: the working tree)")
    parser.add_argument("--all", action="store_true", help="print every compared cell, not only the worse ones")
    args = parser.parse_args(argv)
    old = cores_table(read_doc(args.old_ref), args.old_ref)
    new = cores_table(read_doc(args.new), args.new or "working tree")
    worse, lines = compare(old, new)
    for line in lines if args.all else worse:
        print(line)
    compared = sum(1 for line in lines if " | " in line)
    print(f"{len(worse)} of {compared} cells worse than {args.old_ref} ({args.new or 'working tree'})")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
