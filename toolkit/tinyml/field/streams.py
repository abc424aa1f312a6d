"""Scenario streams: what a field device's sensor sends, as int16 clips, and the clip where the world changes.

A stream starts from a built-in data set's test split as raw signals (`kws`: speech at 16 kHz, `vibration`: 8 kHz;
full scale 1.0 is int16 32768) and is deterministic given its seed. Before the shift every stream replays the test
split shuffled (a fresh permutation on every pass); from `shift_at` on, the scenario's change applies:

- `stationary`: no change (`shift_at` is None);
- `gain`: every sample times a gain, saturating at the int16 range (a more or less sensitive microphone);
- `noise`: white noise added, its RMS a fraction of full scale (a noisy room, a failing preamplifier);
- `offset`: a DC offset added, a fraction of full scale (a biased ADC);
- `unseen`: inputs the training set never had. kws: the keywords spoken by espeak-ng voices of other languages
  (new accents; the training voices are all English, `synth.VOICES`), placed and mixed with noise exactly as the
  training clips are; vibration: the machine running `speed` times faster (every shaft and mesh frequency moves);
- `label_shift`: class priors change: class `target` takes `share` of the clips, the others share the rest;
- `stuck`: the sensor sends one constant value (by default the last sample it sent before);
- `concept`: a relabelled class: the clips of class `source` are now, in truth, class `target`. The samples are
  exactly those of the stationary stream, so a device sees nothing: its input statistics and its predictions are
  unchanged, only the labels (`Stream.labels`) differ. What would see it: ground truth, or a shadow model trained
  on the new labels (its agreement with the production model drops).

Every scenario changes `labels` where the truth changes (label shift: the drawn classes; concept: the relabelled
class); `label_shift` also moves the inputs, since the classes' inputs differ.
"""
from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml.errors import BAD_INPUT, TinymlError

FULL_SCALE = 32768.0
SIGNAL_SETS = ("kws", "vibration")
# espeak-ng voices of other languages (none is among the training set's English voices) speak the English keywords.
UNSEEN_VOICES = ("de", "fr-fr", "es", "it", "pl", "hi", "ru", "vi")


@dataclass(frozen=True)
class SensorSplit:
    """A built-in data set's test split as the sensor sends it."""

    data: str
    samples: np.ndarray       # (clips, clip length) int16
    labels: np.ndarray        # (clips,)
    classes: tuple[str, ...]
    sample_rate: int


@dataclass(frozen=True)
class Stream:
    scenario: str
    samples: np.ndarray       # (clips, clip length) int16, in the order the device gets them
    labels: np.ndarray        # (clips,) the true class of each clip (-1: unknown, e.g. a recorded file)
    shift_at: int | None      # index of the first clip of the changed world; None: nothing changes
    sample_rate: int
    params: dict

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        """(clip, label) in stream order."""
        return zip(self.samples, (int(v) for v in self.labels), strict=True)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def shifted(self) -> np.ndarray:
        """(clips,) bool: which clips come after the shift."""
        mask = np.zeros(len(self.samples), bool)
        if self.shift_at is not None:
            mask[self.shift_at:] = True
        return mask

    def save(self, path: Path) -> None:
        """The stream as an `.npz` that `tinyml field run --stream` replays (written atomically)."""
        from tinyml.npyio import write_atomically

        path = Path(path)
        with tempfile.TemporaryFile() as tmp:
            np.savez(tmp, samples=self.samples, labels=self.labels, sample_rate=self.sample_rate,
                     shift_at=-1 if self.shift_at is None else self.shift_at, scenario=self.scenario)
            tmp.seek(0)
            write_atomically(path, tmp.read())


def sensor_split(data: str, *, small: bool = False, seed: int = 0) -> SensorSplit:
    """The test split of the built-in `kws` or `vibration` set (split as `tinyml train` splits it with `seed`)."""
    from tinyml.features import FeatureParams
    from tinyml.train.data import builtin_signals, load_dataset

    if data not in SIGNAL_SETS:
        raise TinymlError(f"scenario streams start from a built-in data set with raw signals ({', '.join(SIGNAL_SETS)}"
                          f"), not '{data}'; replay your own recording with --stream FILE.npz|FILE.wav", BAD_INPUT)
    dataset = load_dataset(data, seed, small)
    signals, labels, classes = builtin_signals(data, small)
    index = dataset.index["test"]
    return SensorSplit(data, to_int16(signals[index]), np.asarray(labels)[index], tuple(classes),
                       FeatureParams.from_json(dataset.features).sample_rate)


def to_int16(x: np.ndarray) -> np.ndarray:
    """Float samples (full scale 1.0) as the int16 an ADC delivers: rounded, saturated."""
    return np.clip(np.round(np.asarray(x, np.float64) * FULL_SCALE), -32768, 32767).astype(np.int16)


def _replay(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    """n indices into `count` clips: shuffled passes over all of them."""
    passes = -(-n // count)
    return np.concatenate([rng.permutation(count) for _ in range(passes)])[:n]


# ---- the changes: each takes the split, a generator, the stationary draw of the shifted part and its parameters,
# and returns (float samples, labels) of the shifted part ----

Change = Callable[..., tuple[np.ndarray, np.ndarray]]


def _float(split: SensorSplit, index: np.ndarray) -> np.ndarray:
    return split.samples[index].astype(np.float64) / FULL_SCALE


def _gain(split: SensorSplit, rng: np.random.Generator, index: np.ndarray, gain: float = 2.0):
    return _float(split, index) * gain, split.labels[index]


def _noise(split: SensorSplit, rng: np.random.Generator, index: np.ndarray, rms: float = 0.01):
    x = _float(split, index)
    return x + rng.normal(0.0, rms, x.shape), split.labels[index]


def _offset(split: SensorSplit, rng: np.random.Generator, index: np.ndarray, dc: float = 0.25):
    return _float(split, index) + dc, split.labels[index]


def _stuck(split: SensorSplit, rng: np.random.Generator, index: np.ndarray, value: int | None = None,
           last: int = 0):
    level = last if value is None else value
    if not -32768 <= level <= 32767:
        raise TinymlError(f"a stuck sensor's value must be an int16 sample, got {level}", BAD_INPUT)
    return np.full(split.samples[index].shape, level / FULL_SCALE), split.labels[index]


def _class_index(split: SensorSplit, name: str) -> int:
    if name in split.classes:
        return split.classes.index(name)
    raise TinymlError(f"class '{name}' is not one of the {split.data} set's classes ({', '.join(split.classes)})",
                      BAD_INPUT)


def _label_shift(split: SensorSplit, rng: np.random.Generator, index: np.ndarray, target: str | None = None,
                 share: float = 0.6):
    chosen = _class_index(split, target or split.classes[0])
    if not 0.0 <= share <= 1.0:
        raise TinymlError(f"label shift: a class's share is a fraction between 0 and 1, got {share}", BAD_INPUT)
    present = np.unique(split.labels)
    others = present[present != chosen]
    classes = np.where(rng.random(len(index)) < share, chosen, rng.choice(others, len(index)))
    by_class = {int(c): np.flatnonzero(split.labels == c) for c in present}
    picked = np.array([rng.choice(by_class[int(c)]) for c in classes], np.int64)
    return _float(split, picked), split.labels[picked]


def _concept(split: SensorSplit, rng: np.random.Generator, index: np.ndarray, source: str | None = None,
             target: str | None = None):
    a = _class_index(split, source or split.classes[0])
    b = _class_index(split, target or split.classes[1])
    labels = split.labels[index].copy()
    labels[labels == a] = b
    return _float(split, index), labels


def _unseen(split: SensorSplit, rng: np.random.Generator, index: np.ndarray, speed: float = 1.25):
    if split.data == "kws":
        return _unseen_voices(split, rng, split.labels[index]), split.labels[index]
    return _faster_machine(split, index, speed), split.labels[index]


def _unseen_voices(split: SensorSplit, rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """The clips' classes spoken by voices the training set never had, made as `synth.kws_audio` makes its clips
    (the same placement, level and noise steps, called rather than copied)."""
    from tinyml.train.data import synth

    clips = np.empty((len(labels), split.samples.shape[1]))
    silence = split.classes.index("_silence_")
    unknown = split.classes.index("_unknown_")
    with tempfile.TemporaryDirectory(prefix="tinyml-voices-") as tmp:
        for i, label in enumerate(labels):
            n = clips.shape[1]
            if label == silence:
                clips[i] = synth.background_noise(rng, n, split.sample_rate) * rng.uniform(0.001, 0.1)
                continue
            word = str(rng.choice(synth.UNKNOWN_WORDS)) if label == unknown else split.classes[label]
            spoken = synth._espeak(word, str(rng.choice(UNSEEN_VOICES)), int(rng.integers(110, 220)),
                                   int(rng.integers(20, 81)), Path(tmp) / f"{i}.wav")
            clip = synth._place(spoken, rng, n) * rng.uniform(0.3, 1.0)
            noise = synth.background_noise(rng, n, split.sample_rate) * np.sqrt(np.mean(clip ** 2))
            clips[i] = clip + noise / 10 ** (rng.uniform(5, 30) / 20)
    return clips


def _faster_machine(split: SensorSplit, index: np.ndarray, speed: float) -> np.ndarray:
    """Each clip played `speed` times faster (resampled, the clip repeated to fill the length): a machine of the
    same build running at another speed, which the training machines never did."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    if not 0.25 <= speed <= 4.0:
        raise TinymlError(f"unseen machine: speed must be between 0.25 and 4, got {speed}", BAD_INPUT)
    ratio = Fraction(speed).limit_denominator(64)
    length = split.samples.shape[1]
    out = np.empty((len(index), length))
    for i, clip in enumerate(_float(split, index)):
        repeated = np.tile(clip, int(np.ceil(speed)) + 1)
        out[i] = resample_poly(repeated, ratio.denominator, ratio.numerator)[:length]
    return out


CHANGES: dict[str, Change] = {"gain": _gain, "noise": _noise, "offset": _offset, "unseen": _unseen,
                              "label_shift": _label_shift, "stuck": _stuck, "concept": _concept}
SCENARIOS = ("stationary", *CHANGES)


def make_stream(scenario: str, split: SensorSplit, *, before: int, after: int, seed: int = 0,
                **params) -> Stream:
    """`before` stationary clips, then `after` clips of the scenario (all `before + after` stationary for
    `stationary`). `params` override the scenario's defaults (`gain`, `rms`, `dc`, `speed`, `target`, `share`,
    `source`, `value`)."""
    if scenario not in SCENARIOS:
        raise TinymlError(f"unknown scenario '{scenario}' (one of {', '.join(SCENARIOS)})", BAD_INPUT)
    if before < 0 or after < 0 or before + after == 0:
        raise TinymlError(f"a stream needs clips: got {before} before and {after} after the shift", BAD_INPUT)
    rng = np.random.default_rng(seed)
    index = _replay(rng, len(split.labels), before + after)
    head = split.samples[index[:before]]
    if scenario == "stationary":
        if params:
            raise TinymlError(f"the stationary scenario takes no parameters (got {', '.join(params)})", BAD_INPUT)
        return Stream(scenario, split.samples[index], split.labels[index], None, split.sample_rate, {})
    change = CHANGES[scenario]
    extra = {"last": int(head[-1, -1]) if before else 0} if scenario == "stuck" else {}
    try:
        shifted, labels = change(split, rng, index[before:], **params, **extra)
    except TypeError as exc:  # an option this scenario does not take
        raise TinymlError(f"scenario '{scenario}': {exc}", BAD_INPUT) from exc
    samples = np.concatenate([head, to_int16(shifted)])
    return Stream(scenario, samples, np.concatenate([split.labels[index[:before]], labels]).astype(np.int64),
                  before, split.sample_rate, params)


def load_stream(path: Path, *, clip_samples: int, sample_rate: int) -> Stream:
    """A recorded stream: an `.npz` with `samples` (clips x clip length, or one long 1-D recording; int16, or int8
    input tensors for a model without features) and optionally `labels` and `shift_at` (as `Stream.save` writes),
    or a PCM `.wav` file (resampled to `sample_rate`). A long recording is cut into clips of `clip_samples`; an
    incomplete last clip is dropped."""
    path = Path(path)
    if path.suffix == ".wav":
        from tinyml.train.data.synth import read_wav

        samples, labels, shift_at = to_int16(read_wav(path, sample_rate)), None, None
    elif path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise TinymlError(f"{path}: no such stream file", BAD_INPUT) from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise TinymlError(f"{path}: not a readable .npz file ({exc})", BAD_INPUT) from None
        if "samples" not in arrays:
            raise TinymlError(f"{path}: a stream .npz needs an array 'samples' (has "
                              f"{', '.join(arrays) or 'none'})", BAD_INPUT)
        samples, labels = arrays["samples"], arrays.get("labels")
        shift_at = int(arrays["shift_at"]) if "shift_at" in arrays and int(arrays["shift_at"]) >= 0 else None
    else:
        raise TinymlError(f"{path}: a stream is an .npz (array 'samples') or a .wav file", BAD_INPUT)
    if samples.dtype not in (np.int16, np.int8):
        raise TinymlError(f"{path}: stream samples are int16 (sensor samples) or int8 (input tensors), got "
                          f"{samples.dtype}", BAD_INPUT)
    if samples.ndim == 1:
        samples = samples[:len(samples) // clip_samples * clip_samples].reshape(-1, clip_samples)
    if samples.ndim != 2 or len(samples) == 0:
        raise TinymlError(f"{path}: stream samples shaped {samples.shape}: need at least one clip of "
                          f"{clip_samples} samples", BAD_INPUT)
    labels = np.full(len(samples), -1, np.int64) if labels is None else np.asarray(labels, np.int64)
    return Stream(path.stem, samples, labels, shift_at, sample_rate, {"file": str(path)})
