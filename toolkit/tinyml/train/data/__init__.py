"""Data sets for training, calibration and evaluation: built-in (generated offline) or the user's own.

`load_dataset(spec, seed)`:
- a built-in name: `digits`, `kws`, `vibration`, `gesture` (see `tinyml.train.data.synth` and docs/DATA.md);
- a `.npz` file: arrays `x` and `y` (optionally `classes`), or pre-split `x_train`/`y_train`/`x_test`/`y_test`
  (optionally `x_val`/`y_val`); for anomaly data `y` is 0 for normal and 1 for anomalous;
- a folder of WAV files, one sub-folder per class (`data/yes/*.wav`, `data/no/*.wav`, ...): resampled to 16 kHz
  and turned into MFCCs by the same extractor as the `kws` set (`tinyml.train.data.features`).

Every data set is versioned by `content_hash` (SHA-256 of its arrays and class names, before splitting) and split
70/15/15 into train/validation/test, stratified by label, with `seed` recorded. Generated sets are cached under
`<tinyml cache>/data/`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tinyml.train.data.features import FeatureParams, extract
from tinyml.errors import TinymlError
from tinyml.paths import cache_dir

GENERATOR_VERSION = 1
BUILTIN = ("digits", "kws", "vibration", "gesture")
SPLIT = (0.70, 0.15, 0.15)


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

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def info(self) -> dict:
        return {"name": self.name, "task": self.task, "source": self.source, "content_hash": self.content_hash,
                "seed": self.seed, "split": list(SPLIT), "classes": self.classes,
                "input_shape": list(self.input_shape),
                "sizes": {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)},
                "features": self.features, **self.extra}


def content_hash(x: np.ndarray, y: np.ndarray, classes: list[str]) -> str:
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.int64)):
        h.update(str(a.shape).encode() + a.tobytes())
    h.update(json.dumps(classes).encode())
    return h.hexdigest()[:16]


def split_indices(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic stratified 70/15/15 split (indices)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.bincount(y)
    strat = y if counts[counts > 0].min() >= 4 else None
    train, rest = train_test_split(idx, test_size=SPLIT[1] + SPLIT[2], random_state=seed, stratify=strat)
    strat_rest = y[rest] if strat is not None and np.bincount(y[rest])[np.bincount(y[rest]) > 0].min() >= 2 else None
    val, test = train_test_split(rest, test_size=SPLIT[2] / (SPLIT[1] + SPLIT[2]), random_state=seed,
                                 stratify=strat_rest)
    return np.sort(train), np.sort(val), np.sort(test)


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


def _audio_features(audio: np.ndarray, y: np.ndarray, seed: int, params: FeatureParams,
                    flatten: bool = False) -> tuple[np.ndarray, FeatureParams]:
    """Raw features, then mean/std from the training split stored into the params (saved with the model)."""
    raw = extract(audio, params, normalise=False)
    _HASH_BASIS[id(y)] = raw
    train, _, _ = split_indices(y, seed)
    params = replace(params, mean=float(raw[train].mean()), std=float(raw[train].std() + 1e-6))
    x = (raw - params.mean) / params.std
    return (x.reshape(len(x), -1) if flatten else x).astype(np.float32), params


_HASH_BASIS: dict[int, np.ndarray] = {}   # un-normalised features: the version must not depend on the seed
KWS_FEATURES = FeatureParams()
VIBRATION_FEATURES = FeatureParams(sample_rate=8000, clip_samples=2560, window=512, hop=512, n_fft=512, n_mels=128,
                                   fmin=0.0, fmax=4000.0, n_mfcc=0)


def _builtin(name: str, seed: int, small: bool) -> tuple[np.ndarray, np.ndarray, list[str], str, dict | None]:
    from tinyml.train.data import synth

    if name == "digits":
        x, y, classes = synth.digits()
        return x, y, classes, "classification", None
    if name == "kws":
        per_class = 30 if small else 120
        gen = _cached(f"kws-v{GENERATOR_VERSION}-{per_class}-s0", lambda: dict(zip(
            ("audio", "y", "classes"), (lambda a, b, c: (a, b, np.array(c)))(*synth.kws_audio(0, per_class))))) 
        y = gen["y"]
        x, params = _audio_features(gen["audio"], y, seed, KWS_FEATURES)
        return x, y, [str(c) for c in gen["classes"]], "classification", params.to_json()
    if name == "vibration":
        normal, faulty = (300, 100) if small else (1000, 300)
        audio, y, classes = synth.vibration_signals(0, normal, faulty)
        x, params = _audio_features(audio, y, seed, VIBRATION_FEATURES, flatten=True)
        return x, y, classes, "anomaly", params.to_json() | {"flatten": True}
    if name == "gesture":
        x, y, classes = synth.gestures(0, 80 if small else 250)
        return x, y, classes, "classification", None
    raise AssertionError(name)


def _wav_folder(path: Path, seed: int) -> tuple[np.ndarray, np.ndarray, list[str], str, dict | None]:
    from tinyml.train.data.synth import read_wav

    classes = sorted(d.name for d in path.iterdir() if d.is_dir() and any(d.glob("*.wav")))
    if len(classes) < 2:
        raise TinymlError(f"{path}: a WAV data set needs one sub-folder per class with .wav files (found "
                          f"{len(classes)} such folders)")
    audio, labels = [], []
    p = KWS_FEATURES
    for label, cls in enumerate(classes):
        for wav in sorted((path / cls).glob("*.wav")):
            clip = read_wav(wav, p.sample_rate)[:p.clip_samples]
            audio.append(np.pad(clip, (0, p.clip_samples - clip.size)))
            labels.append(label)
    y = np.asarray(labels, np.int64)
    x, params = _audio_features(np.asarray(audio, np.float32), y, seed, p)
    return x, y, classes, "classification", params.to_json()


def load_dataset(spec: str | Path, seed: int = 0, small: bool = False, task: str | None = None) -> Dataset:
    """See the module docstring. `small`: a reduced built-in set for fast tests."""
    spec_s = str(spec)
    if spec_s in BUILTIN:
        x, y, classes, kind, feats = _builtin(spec_s, seed, small)
        name, source = spec_s + ("-small" if small else ""), f"builtin:{spec_s} (generator v{GENERATOR_VERSION})"
    else:
        path = Path(spec_s)
        if not path.exists():
            raise TinymlError(f"data '{spec_s}' is neither a built-in data set ({', '.join(BUILTIN)}) nor an "
                              "existing .npz file or folder of WAV files")
        name, source = path.stem, str(path.resolve())
        if path.is_dir():
            x, y, classes, kind, feats = _wav_folder(path, seed)
        elif path.suffix == ".npz":
            return _npz(path, seed, task)
        else:
            raise TinymlError(f"{path}: expected a .npz file or a folder of WAV files")
    if task:
        kind = task
    train, val, test = split_indices(y, seed)
    if kind == "anomaly":
        train = train[y[train] == 0]          # an autoencoder learns normal data only
    basis = _HASH_BASIS.pop(id(y), x)
    return Dataset(name, kind, classes, x[train], y[train], x[val], y[val], x[test], y[test], seed,
                   content_hash(basis, y, classes), source, feats)


def _npz(path: Path, seed: int, task: str | None) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise TinymlError(f"{path}: not a readable .npz file ({exc})") from exc
    if "x" in arrays and "y" in arrays:
        x, y = arrays["x"].astype(np.float32), arrays["y"].astype(np.int64)
        parts = None
    elif {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        parts = {k: arrays[k] for k in arrays if k[:2] in ("x_", "y_")}
        x = np.concatenate([parts[k] for k in ("x_train", "x_val", "x_test") if k in parts]).astype(np.float32)
        y = np.concatenate([parts[k] for k in ("y_train", "y_val", "y_test") if k in parts]).astype(np.int64)
    else:
        raise TinymlError(f"{path}: needs arrays 'x' and 'y', or 'x_train', 'y_train', 'x_test', 'y_test' "
                          f"(has {', '.join(sorted(arrays)) or 'none'})")
    if len(x) != len(y) or y.ndim != 1 or (y < 0).any():
        raise TinymlError(f"{path}: x has {len(x)} samples and y {len(y)}; y must be non-negative integer labels")
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else [str(i) for i in range(y.max() + 1)]
    kind = task or ("anomaly" if classes == ["normal", "anomaly"] else "classification")
    if parts is None:
        train, val, test = split_indices(y, seed)
    else:
        n_tr = len(parts["y_train"])
        n_val = len(parts.get("y_val", ()))
        train, test = np.arange(n_tr), np.arange(n_tr + n_val, len(y))
        if n_val:
            val = np.arange(n_tr, n_tr + n_val)
        else:                                  # carve validation out of train, deterministically
            rng = np.random.default_rng(seed)
            perm = rng.permutation(train)
            cut = max(1, int(len(perm) * 0.15))
            val, train = np.sort(perm[:cut]), np.sort(perm[cut:])
    if kind == "anomaly":
        train = train[y[train] == 0]
    return Dataset(path.stem, kind, classes, x[train], y[train], x[val], y[val], x[test], y[test], seed,
                   content_hash(x, y, classes), str(path.resolve()),
                   json.loads(str(arrays["features"])) if "features" in arrays else None)
