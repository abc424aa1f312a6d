"""The data registry: every data set version tinyml has made or read, with its split manifests (`tinyml data`).

The versions live in the cache (`tinyml.train.data.manifest`: `<cache>/data/versions/NAME@HASH/`); a version is
named `NAME@HASH`, where any unique prefix of the hash will do, and `NAME` alone means its newest version.
`check` reloads a version (built-in sets are regenerated from their generator, files read again and held to the
recorded hash) or reads a data set as `--data` accepts it, and reports leakage between its splits; `diff` matches
samples of two versions by content hash and reports what was added, removed, relabelled and moved between splits.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tinyml.errors import TinymlError
from tinyml.train.data import PARTS, load_dataset
from tinyml.train.data.manifest import versions_dir


@dataclass(frozen=True)
class Version:
    folder: Path

    @property
    def ref(self) -> str:
        return self.folder.name

    def doc(self) -> dict:
        try:
            return json.loads((self.folder / "version.json").read_text())
        except (OSError, ValueError) as exc:
            raise TinymlError(f"{self.folder / 'version.json'}: unreadable ({exc}); delete the folder and load the "
                              "data again") from exc

    def manifests(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("split-*.json"))]


def versions() -> list[Version]:
    """Every recorded version, newest first."""
    root = versions_dir()
    found = [Version(d) for d in root.iterdir() if (d / "version.json").exists()] if root.exists() else []
    return sorted(found, key=lambda v: (v.folder / "version.json").stat().st_mtime, reverse=True)


def resolve(ref: str) -> Version:
    """NAME@HASH (a unique prefix of the hash will do) or NAME (its newest version)."""
    name, _, version = ref.partition("@")
    hits = [v for v in versions() if v.ref.partition("@")[0] == name and v.ref.partition("@")[2].startswith(version)]
    if not hits:
        raise TinymlError(f"no data version '{ref}' in the registry ({versions_dir()}); `tinyml data ls` lists them")
    if version and len(hits) > 1:
        raise TinymlError(f"'{ref}' names {len(hits)} versions ({', '.join(v.ref for v in hits)}); give more of "
                          "the hash")
    return hits[0]


def _summary(v: Version) -> dict:
    doc = v.doc()
    groups = doc["samples"]["group"]
    return {"ref": v.ref, "name": doc["name"], "version": doc["content_hash"], "source": doc["source"],
            "task": doc["task"], "samples": doc["samples_total"], "classes": doc["classes"], "groups": doc["groups"],
            "n_groups": len(set(groups)) if groups else None,
            "splits": [{"scheme": m["scheme"], "seed": m["seed"], "sizes": m["sizes"]} for m in v.manifests()]}


def ls() -> list[dict]:
    return [_summary(v) for v in versions()]


def show(ref: str) -> dict:
    """The version, its per-class counts and, per split manifest, the sizes and the groups in each split."""
    v = resolve(ref)
    doc, out = v.doc(), _summary(v)
    labels, groups = doc["samples"]["label"], doc["samples"]["group"]
    out["per_class"] = {c: labels.count(i) for i, c in enumerate(doc["classes"])}
    for m, row in zip(v.manifests(), out["splits"]):
        row["per_class"] = {k: {c: sum(labels[i] == j for i in idx) for j, c in enumerate(doc["classes"])}
                            for k, idx in m["splits"].items()}
        if groups:
            row["groups"] = {k: len({groups[i] for i in idx}) for k, idx in m["splits"].items()}
    return out


def _reload_args(scheme: str) -> dict:
    cv = re.fullmatch(r"cv(\d+)-fold(\d+)", scheme)
    if cv:
        return {"cv": (int(cv.group(2)), int(cv.group(1)))}
    return {"split": scheme if scheme in ("group", "random") else "auto"}


def check(target: str, seed: int = 0, split: str = "auto", small: bool = False) -> dict:
    """Leakage of a registered version (every recorded split of it) or of a data set as `--data` accepts it
    (split with `seed` and `split`). `leaked` is true when any split leaks."""
    if "@" in target and not Path(target).exists():
        v = resolve(target)
        doc = v.doc()
        runs = [(m["seed"], _reload_args(m["scheme"])) for m in v.manifests()] or [(seed, {"split": split})]
        spec, small, expect = doc["spec"], doc["small"], doc["content_hash"]
    else:
        spec, runs, expect = target, [(seed, {"split": split})], None
    checks = []
    for run_seed, how in runs:
        data = load_dataset(spec, seed=run_seed, small=small, **how)
        if expect and data.content_hash != expect:
            raise TinymlError(f"{spec} is now version {data.content_hash}, not {target}: the data changed since it "
                              "was recorded; check the file itself instead")
        leak = data.leakage()
        checks.append({"scheme": data.scheme, "seed": run_seed, "sizes": {k: len(data.index[k]) for k in PARTS},
                       "groups": data.group_kind, "leaked": leak.found, "summary": leak.line(), **leak.to_json()})
    return {"data": f"{data.name}@{data.content_hash}", "source": data.source,
            "leaked": any(c["leaked"] for c in checks), "checks": checks}


def _manifest(v: Version, seed: int, scheme: str | None) -> dict | None:
    ms = [m for m in v.manifests() if m["seed"] == seed and (scheme is None or m["scheme"] == scheme)]
    order = {"group": 0, "given": 1, "random": 2}
    return min(ms, key=lambda m: order.get(m["scheme"], 3)) if ms else None


def diff(a: str, b: str, seed: int = 0, scheme: str | None = None) -> dict:
    """Samples (by content hash) added, removed and relabelled from A to B, and moved between splits of the
    manifests with `seed` (and `scheme`; default: the grouped one where there is one)."""
    va, vb = resolve(a), resolve(b)
    da, db = va.doc(), vb.doc()
    ha, hb = da["samples"]["hash"], db["samples"]["hash"]
    first_a = {h: i for i, h in reversed(list(enumerate(ha)))}
    first_b = {h: i for i, h in reversed(list(enumerate(hb)))}
    common = [h for h in first_a if h in first_b]
    name = lambda d, i: d["classes"][d["samples"]["label"][i]]  # noqa: E731
    relabelled = [{"hash": h, "a": name(da, first_a[h]), "b": name(db, first_b[h])} for h in common
                  if name(da, first_a[h]) != name(db, first_b[h])]
    out = {"a": va.ref, "b": vb.ref, "samples": {"a": len(ha), "b": len(hb)},
           "added": len(set(hb) - set(ha)), "removed": len(set(ha) - set(hb)), "relabelled": len(relabelled),
           "examples": {"added": sorted(set(hb) - set(ha))[:5], "removed": sorted(set(ha) - set(hb))[:5],
                        "relabelled": relabelled[:5]}}
    ma, mb = _manifest(va, seed, scheme), _manifest(vb, seed, scheme)
    if ma and mb:
        where = lambda m: {i: k for k, idx in m["splits"].items() for i in idx}  # noqa: E731
        wa, wb = where(ma), where(mb)
        moves: dict[str, int] = {}
        for h in common:
            sa, sb = wa.get(first_a[h], "unused"), wb.get(first_b[h], "unused")
            if sa != sb:
                moves[f"{sa}->{sb}"] = moves.get(f"{sa}->{sb}", 0) + 1
        out["splits"] = {"a": {"scheme": ma["scheme"], "seed": seed, "sizes": ma["sizes"]},
                         "b": {"scheme": mb["scheme"], "seed": seed, "sizes": mb["sizes"]},
                         "moved": sum(moves.values()), "moves": moves}
    else:
        out["splits"] = None
    return out
