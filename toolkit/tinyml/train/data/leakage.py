"""Leakage between the splits of a data set: the same sample, nearly the same sample, or the same group (speaker,
machine, subject) in two splits. Checked on every training (`tinyml train` refuses leaked splits unless
`--allow-leakage`) and by `tinyml data check`.

- exact duplicates: equal per-sample content hashes (SHA-256 of the sample's float32 bytes, before any
  seed-dependent normalisation);
- near duplicates: cosine similarity >= NEAR_COSINE (0.999) between samples centred on their own mean, i.e. a
  Pearson correlation of 0.999: the same sample rescaled, shifted, or with noise 30 dB below it. Computed as blocks
  of one matrix product of unit vectors (a few million pairs for the built-in sets: well under a second);
- group overlap: a group name in two splits.
Samples that are constant (no variation to correlate) are only compared exactly.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

NEAR_COSINE = 0.999
BLOCK = 2048                     # rows of one similarity block (BLOCK x N float32 at a time)
PAIRS = (("train", "val"), ("train", "test"), ("val", "test"))


def sample_hashes(x: np.ndarray) -> np.ndarray:
    """First 16 hex digits of the SHA-256 of each sample's float32 bytes."""
    flat = np.ascontiguousarray(x, np.float32).reshape(len(x), -1)
    return np.array([hashlib.sha256(row.tobytes()).hexdigest()[:16] for row in flat])


@dataclass
class Part:
    """One split: the manifest indices of its samples, their hashes, features and (optional) groups."""
    index: np.ndarray
    hashes: np.ndarray
    x: np.ndarray
    groups: np.ndarray | None = None


@dataclass
class Leakage:
    exact: list[tuple[str, int, str, int]] = field(default_factory=list)   # (split, index, other split, index)
    near: list[tuple[str, int, str, int, float]] = field(default_factory=list)
    groups: list[tuple[str, str, str]] = field(default_factory=list)        # (group, split, other split) per pair

    @property
    def shared_groups(self) -> int:
        """Distinct groups found in more than one split."""
        return len({g for g, _, _ in self.groups})

    @property
    def found(self) -> bool:
        return bool(self.exact or self.near or self.groups)

    def line(self) -> str:
        """One line: the counts and an example of each kind found."""
        said = []
        if self.exact:
            a, i, b, j = self.exact[0]
            said.append(f"{len(self.exact)} exact duplicate(s) across splits (e.g. {b} sample {j} = {a} sample {i})")
        if self.near:
            a, i, b, j, c = self.near[0]
            said.append(f"{len(self.near)} near duplicate(s) (cosine >= {NEAR_COSINE}; e.g. {b} sample {j} ~ {a} "
                        f"sample {i}, {c:.4f})")
        if self.groups:
            g, a, b = self.groups[0]
            said.append(f"{self.shared_groups} group(s) in two splits (e.g. '{g}' in {a} and {b})")
        return "; ".join(said) or "no leakage"

    def to_json(self) -> dict:
        return {"exact_duplicates": len(self.exact), "near_duplicates": len(self.near),
                "shared_groups": self.shared_groups, "near_cosine": NEAR_COSINE,
                "examples": {"exact": [list(e) for e in self.exact[:5]],
                             "near": [[a, int(i), b, int(j), round(c, 6)] for a, i, b, j, c in self.near[:5]],
                             "groups": [list(e) for e in self.groups[:5]]}}


def _unit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(x, np.float64).reshape(len(x), -1)
    v = v - v.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(v, axis=1)
    ok = norm > 1e-9 * max(1.0, float(np.abs(v).max(initial=0.0)))
    return (v[ok] / norm[ok, None]).astype(np.float32), np.flatnonzero(ok)


def check(parts: dict[str, Part]) -> Leakage:
    """Every kind of leakage between every pair of non-empty splits."""
    out = Leakage()
    for a, b in PAIRS:
        if a not in parts or b not in parts or not len(parts[a].index) or not len(parts[b].index):
            continue
        pa, pb = parts[a], parts[b]
        where = {h: i for h, i in zip(pa.hashes.tolist(), pa.index.tolist())}
        exact_b = set()
        for k, (h, j) in enumerate(zip(pb.hashes.tolist(), pb.index.tolist())):
            if h in where:
                out.exact.append((a, where[h], b, j))
                exact_b.add(k)
        ua, ia = _unit(pa.x)
        ub, ib = _unit(pb.x)
        for start in range(0, len(ub) if len(ua) else 0, BLOCK):
            sim = ub[start:start + BLOCK] @ ua.T
            best = sim.argmax(axis=1)
            for r in np.flatnonzero(sim[np.arange(len(best)), best] >= NEAR_COSINE):
                k = int(ib[start + r])
                if k not in exact_b:
                    out.near.append((a, int(pa.index[ia[best[r]]]), b, int(pb.index[k]),
                                     float(sim[r, best[r]])))
        if pa.groups is not None and pb.groups is not None:
            out.groups += [(str(g), a, b) for g in sorted(set(pa.groups.tolist()) & set(pb.groups.tolist()))]
    return out
