"""Data sets for training, calibration and evaluation: built-in (generated offline) or the user's own.

`load_dataset(spec, seed)`:
- a built-in name: `digits`, `kws`, `vibration`, `gesture` (see `tinyml.train.data.synth` and docs/DATA.md);
- a `.npz` file: arrays `x` and `y` (optionally `classes` and `groups`), or pre-split `x_train`/`y_train`/
  `x_test`/`y_test` (optionally `x_val`/`y_val` and `groups_train`/`groups_val`/`groups_test`); for anomaly data
  `y` is 0 for normal and 1 for anomalous;
- a folder of WAV files, one sub-folder per class (`data/yes/*.wav`, ...), optionally one more level naming the
  group (`data/yes/SPEAKER/*.wav`): resampled to 16 kHz and turned into MFCCs by the same extractor as the `kws`
  set (`tinyml.features`).

Every data set is versioned by `content_hash` (SHA-256 of its arrays and class names, before splitting and before
any seed-dependent normalisation) and split 70/15/15 into train/validation/test with `seed` recorded: by group
where the data has groups (the voice of a spoken keyword, the machine of a vibration clip, the subject of a
gesture, the user's `groups`), else stratified at random (`tinyml.train.data.splits`). Each load records the
version and its split manifest (`tinyml.train.data.manifest`) and knows its leakage (`Dataset.leakage()`).
Generated sets are cached under `<tinyml cache>/data/`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tinyml.errors import TinymlError
from tinyml.features import FeatureParams, extract
from tinyml.paths import cache_dir
from tinyml.train.data import leakage, manifest
from tinyml.train.data.splits import SPLIT, folds, group_split, random_split

GENERATOR_VERSION = 1
BUILTIN = ("digits", "kws", "vibration", "gesture")
SCHEMES = ("auto", "group", "random")
CV_VAL_FOLDS = 6                       # --cv: a grouped sixth of the training folds validates
PARTS = ("train", "val", "test")


@dataclass
class Dataset:
    name: str
    task: str                          # "classification" or "anomaly" (y: 0 normal, 1 anomalous)
    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    seed: int
    content_hash: str
    source: str
    features: dict | None = None       # FeatureParams.to_json() for audio/vibration features, else None
    extra: dict = field(default_factory=dict)
    scheme: str = "random"             # how it was split: group, random, given (pre-split file), cvK-fold-I
    group_kind: str | None = None      # what a group is (voice, machine, subject, group), None: no groups
    index: dict[str, np.ndarray] = field(default_factory=dict)      # split -> sample indices into the version
    hashes: dict[str, np.ndarray] = field(default_factory=dict)     # split -> per-sample content hashes
    groups: dict[str, np.ndarray] | None = None                      # split -> per-sample group names
    manifest: str | None = None        # the split manifest's path

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def info(self) -> dict:
        n_groups = len(set().union(*(set(g.tolist()) for g in self.groups.values()))) if self.groups else None
        return {"name": self.name, "task": self.task, "source": self.source, "content_hash": self.content_hash,
                "seed": self.seed, "split": list(SPLIT), "split_scheme": self.scheme, "groups": self.group_kind,
                "n_groups": n_groups, "manifest": self.manifest, "classes": self.classes,
                "input_shape": list(self.input_shape),
                "sizes": {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)},
                "features": self.features, **self.extra}

    def leakage(self) -> leakage.Leakage:
        xs = {"train": self.x_train, "val": self.x_val, "test": self.x_test}
        return leakage.check({k: leakage.Part(self.index[k], self.hashes[k], xs[k],
                                              self.groups[k] if self.groups else None) for k in PARTS})


@dataclass
class _Raw:
    """A data set before splitting: features not yet normalised (`params` says how, from the training split)."""
    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    task: str
    groups: np.ndarray | None = None
    group_kind: str | None = None
    params: FeatureParams | None = None
    flatten: bool = False
    features: dict | None = None
    given: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None   # a pre-split file's (train, val, test)


def content_hash(x: np.ndarray, y: np.ndarray, classes: list[str], groups: np.ndarray | None = None) -> str:
    """The version: samples, labels, class names and, where the data has them, the groups (they decide splits)."""
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.int64)):
        h.update(str(a.shape).encode() + a.tobytes())
    h.update(json.dumps(classes).encode())
    if groups is not None:
        h.update(json.dumps(groups.tolist()).encode())
    return h.hexdigest()[:16]


def _cached(key: str, make) -> dict:
    path = cache_dir() / "data" / f"{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    arrays = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{np.random.default_rng().integers(1 << 30)}.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return arrays


KWS_FEATURES = FeatureParams()
VIBRATION_FEATURES = FeatureParams(sample_rate=8000, clip_samples=2560, window=512, hop=512, n_fft=512, n_mels=128,
                                   fmin=0.0, fmax=4000.0, n_mfcc=0)


def builtin_signals(name: str, small: bool = False) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The raw signals of the built-in `kws` or `vibration` set (float32 at the features' sample rate), labels and
    class names, in the version's order (`Dataset.index` selects a split): what a device's sensor streams."""
    from tinyml.train.data import synth

    if name == "kws":
        per_class = 30 if small else 120
        gen = _cached(f"kws-v{GENERATOR_VERSION}-{per_class}-s0", lambda: dict(zip(
            ("audio", "y", "classes"), (lambda a, b, c: (a, b, np.array(c)))(*synth.kws_audio(0, per_class)))))
        return gen["audio"], gen["y"], [str(c) for c in gen["classes"]]
    if name == "vibration":
        normal, faulty = (300, 100) if small else (1000, 300)
        return synth.vibration_signals(0, normal, faulty)
    raise TinymlError(f"the built-in data set '{name}' has no raw signals (kws and vibration have)")


def _builtin(name: str, small: bool) -> _Raw:
    from tinyml.train.data import synth

    if name == "digits":       # scikit-learn's digits name no writers: every sample is its own group
        x, y, classes = synth.digits()
        return _Raw(x, y, classes, "classification")
    if name == "kws":
        audio, y, classes = builtin_signals(name, small)
        return _Raw(extract(audio, KWS_FEATURES, normalise=False), y, classes, "classification",
                    synth.kws_groups(0, 30 if small else 120), "voice", KWS_FEATURES)
    if name == "vibration":
        audio, y, classes = builtin_signals(name, small)
        return _Raw(extract(audio, VIBRATION_FEATURES, normalise=False), y, classes, "anomaly",
                    synth.vibration_machines(len(y)), "machine", VIBRATION_FEATURES, flatten=True)
    if name == "gesture":
        per_class = 80 if small else 250
        x, y, classes = synth.gestures(0, per_class)
        return _Raw(x, y, classes, "classification", synth.gesture_subjects(per_class), "subject")
    raise AssertionError(name)


def _wav_folder(path: Path) -> _Raw:
    """CLASS/*.wav (each file its own group) or CLASS/GROUP/*.wav (the folder names the group, e.g. a speaker)."""
    from tinyml.train.data.synth import read_wav

    classes = sorted(d.name for d in path.iterdir()
                     if d.is_dir() and (any(d.glob("*.wav")) or any(d.glob("*/*.wav"))))
    if len(classes) < 2:
        raise TinymlError(f"{path}: a WAV data set needs one sub-folder per class with .wav files (found "
                          f"{len(classes)} such folders)")
    audio, labels, groups = [], [], []
    p = KWS_FEATURES
    for label, cls in enumerate(classes):
        for wav in sorted([*(path / cls).glob("*.wav"), *(path / cls).glob("*/*.wav")]):
            clip = read_wav(wav, p.sample_rate)[:p.clip_samples]
            audio.append(np.pad(clip, (0, p.clip_samples - clip.size)))
            labels.append(label)
            groups.append(wav.parent.name if wav.parent != path / cls else f"{cls}/{wav.name}")
    grouped = any(g.count("/") == 0 for g in groups)
    return _Raw(extract(np.asarray(audio, np.float32), p, normalise=False), np.asarray(labels, np.int64), classes,
                "classification", np.array(groups) if grouped else None, "folder" if grouped else None, p)


def _npz(path: Path) -> _Raw:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise TinymlError(f"{path}: not a readable .npz file ({exc})") from exc
    given = None
    if "x" in arrays and "y" in arrays:
        x, y = arrays["x"].astype(np.float32), arrays["y"].astype(np.int64)
        groups = arrays.get("groups")
    elif {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        names = [k for k in ("train", "val", "test") if f"x_{k}" in arrays]
        x = np.concatenate([arrays[f"x_{k}"] for k in names]).astype(np.float32)
        y = np.concatenate([arrays[f"y_{k}"] for k in names]).astype(np.int64)
        groups = (np.concatenate([arrays[f"groups_{k}"] for k in names])
                  if all(f"groups_{k}" in arrays for k in names) else None)
        n_tr, n_val = len(arrays["y_train"]), len(arrays.get("y_val", ()))
        given = (np.arange(n_tr), np.arange(n_tr, n_tr + n_val), np.arange(n_tr + n_val, len(y)))
    else:
        raise TinymlError(f"{path}: needs arrays 'x' and 'y', or 'x_train', 'y_train', 'x_test', 'y_test' "
                          f"(has {', '.join(sorted(arrays)) or 'none'})")
    if len(x) != len(y) or y.ndim != 1 or (y < 0).any():
        raise TinymlError(f"{path}: x has {len(x)} samples and y {len(y)}; y must be non-negative integer labels")
    if groups is not None and (groups.ndim != 1 or len(groups) != len(y)):
        raise TinymlError(f"{path}: 'groups' must name one group per sample ({len(y)}), got shape {groups.shape}")
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else [str(i) for i in range(y.max() + 1)]
    kind = "anomaly" if classes == ["normal", "anomaly"] else "classification"
    return _Raw(x, y, classes, kind, None if groups is None else groups.astype(str), None if groups is None else
                "group", features=json.loads(str(arrays["features"])) if "features" in arrays else None, given=given)


def _split(raw: _Raw, seed: int, scheme: str, cv: tuple[int, int] | None,
           name: str) -> tuple[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    if raw.given is not None:
        train, val, test = raw.given
        if not len(val):                       # carve validation out of train, deterministically
            perm = np.random.default_rng(seed).permutation(train)
            cut = max(1, int(len(perm) * 0.15))
            val, train = np.sort(perm[:cut]), np.sort(perm[cut:])
        return "given", (train, val, test)
    if cv is not None:
        fold, k = cv
        groups = raw.groups if raw.groups is not None else np.arange(len(raw.y)).astype(str)
        parts = folds(raw.y, groups, k, seed)
        rest = np.sort(np.concatenate([p for i, p in enumerate(parts) if i != fold]))
        inner = folds(raw.y[rest], groups[rest], min(CV_VAL_FOLDS, len(np.unique(groups[rest]))), seed)[0]
        return f"cv{k}-fold{fold}", (np.setdiff1d(rest, rest[inner]), rest[inner], parts[fold])
    if scheme == "group" and raw.groups is None:
        raise TinymlError(f"--split group: the data set {name} names no groups (add a 'groups' array to the .npz, or "
                          "a GROUP folder level to the WAV folder)")
    if scheme != "random" and raw.groups is not None:
        return "group", group_split(raw.y, raw.groups, seed)
    return "random", random_split(raw.y, seed)


def load_dataset(spec: str | Path, seed: int = 0, small: bool = False, task: str | None = None,
                 split: str = "auto", cv: tuple[int, int] | None = None) -> Dataset:
    """See the module docstring. `small`: a reduced built-in set for fast tests. `split`: `auto` (by group where
    the data has groups, else random), `group` or `random`. `cv=(I, K)`: fold I of K grouped folds is the test
    split, a grouped sixth of the other folds the validation split."""
    if split not in SCHEMES:
        raise TinymlError(f"--split takes {', '.join(SCHEMES)}, got '{split}'")
    spec_s = str(spec)
    if spec_s in BUILTIN:
        raw = _builtin(spec_s, small)
        name, source = spec_s + ("-small" if small else ""), f"builtin:{spec_s} (generator v{GENERATOR_VERSION})"
    else:
        path = Path(spec_s)
        if not path.exists():
            raise TinymlError(f"data '{spec_s}' is neither a built-in data set ({', '.join(BUILTIN)}) nor an "
                              "existing .npz file or folder of WAV files")
        if not path.is_dir() and path.suffix != ".npz":
            raise TinymlError(f"{path}: expected a .npz file or a folder of WAV files")
        raw = _wav_folder(path) if path.is_dir() else _npz(path)
        name, source = path.stem, str(path.resolve())
    kind = task or raw.task
    version = content_hash(raw.x, raw.y, raw.classes, raw.groups)
    scheme, (train, val, test) = _split(raw, seed, split, cv, name)
    x, feats = raw.x, raw.features
    if raw.params is not None:                 # mean/std from the training split, saved with the model
        params = replace(raw.params, mean=float(x[train].mean()), std=float(x[train].std() + 1e-6))
        x = ((x - params.mean) / params.std).astype(np.float32)
        x = x.reshape(len(x), -1) if raw.flatten else x
        feats = params.to_json() | ({"flatten": True} if raw.flatten else {})
    if kind == "anomaly":
        train = train[raw.y[train] == 0]       # an autoencoder learns normal data only
    hashes = leakage.sample_hashes(raw.x)
    index = dict(zip(PARTS, (train, val, test)))
    mfile = manifest.record({"name": name, "content_hash": version, "source": source,
                             "spec": spec_s if spec_s in BUILTIN else str(Path(spec_s).resolve()), "small": small,
                             "task": kind, "classes": raw.classes, "groups": raw.group_kind,
                             "samples_total": len(raw.y)}, hashes, raw.y, raw.groups, scheme, seed, index)
    return Dataset(name, kind, raw.classes, x[train], raw.y[train], x[val], raw.y[val], x[test], raw.y[test], seed,
                   version, source, feats, scheme=scheme, group_kind=raw.group_kind, index=index,
                   hashes={k: hashes[v] for k, v in index.items()},
                   groups=None if raw.groups is None else {k: raw.groups[v] for k, v in index.items()},
                   manifest=str(mfile))
