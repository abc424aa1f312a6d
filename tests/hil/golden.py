"""The Renode files `tinyml hil` writes for every board profile, kept as golden files in tests/hil/golden/.

After an intended change to a profile, a template or the generator, regenerate them and review the diff:

    .venv/bin/python -m tests.hil.golden
"""
from __future__ import annotations

from pathlib import Path

from tinyml.device.boards import all_boards
from tinyml.hil.renode import write_renode_files

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def regenerate(directory: Path = GOLDEN_DIR) -> list[Path]:
    written = []
    for board in all_boards():
        written += write_renode_files(board, directory)
    return written


if __name__ == "__main__":
    for path in regenerate():
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
