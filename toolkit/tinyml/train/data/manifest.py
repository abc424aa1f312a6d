"""Data set versions and split manifests, kept in the cache beside the generated data.

`<cache>/data/versions/NAME@HASH/version.json`: the version (name, source, how to load it again, classes, kind of
group) and every sample in order: its content hash, label and group.
`<cache>/data/versions/NAME@HASH/split-SCHEME-sSEED.json`: which sample (by index into version.json) is in which
split, with the split's sizes. Both are written temp-then-rename (the version once, the manifest on every load,
so it is the split the running tinyml makes); `tinyml data` reads them
(`tinyml.lifecycle.datasets`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from tinyml.paths import cache_dir


def versions_dir() -> Path:
    return cache_dir() / "data" / "versions"


def write_json(path: Path, doc: dict) -> None:
    """Temp-then-rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)


def record(version: dict, hashes: np.ndarray, y: np.ndarray, groups: np.ndarray | None, scheme: str, seed: int,
           splits: dict[str, np.ndarray]) -> Path:
    """Writes the version (if new) and this split's manifest; returns the manifest's path."""
    folder = versions_dir() / f"{version['name']}@{version['content_hash']}"
    vfile = folder / "version.json"
    if not vfile.exists():
        write_json(vfile, {**version, "samples": {"hash": hashes.tolist(), "label": y.tolist(),
                                                  "group": None if groups is None else groups.tolist()}})
    mfile = folder / f"split-{scheme}-s{seed}.json"       # rewritten: the split the latest tinyml made
    write_json(mfile, {"name": version["name"], "content_hash": version["content_hash"], "scheme": scheme,
                       "seed": seed, "sizes": {k: int(len(v)) for k, v in splits.items()},
                       "splits": {k: v.tolist() for k, v in splits.items()}})
    return mfile
