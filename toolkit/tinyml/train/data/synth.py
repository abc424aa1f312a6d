"""Built-in data sets, generated offline and deterministically from a seed (nothing is downloaded).

- digits: scikit-learn's 8x8 handwritten digits (shipped inside scikit-learn), upsampled bilinearly to 16x16.
- kws: keywords spoken by espeak-ng with varied voices, speeds and pitches, shifted in time and mixed with
  synthetic background noise, plus an "unknown word" class and a "silence" (noise only) class; 1 s at 16 kHz.
- vibration: synthetic machine vibration (shaft harmonics, gear mesh with sidebands, broadband noise); anomalies
  are bearing-fault impulse trains exciting a resonance, imbalance and mechanical looseness.
- gesture: synthetic 3-axis accelerometer windows (128 samples at 50 Hz) of six gestures.
Raw waveforms are returned; features (log-mel / MFCC) are computed by `tinyml.features`. Each
generator also records the group of every sample (`kws_groups`: the speaking voice; `vibration_machines`;
`gesture_subjects`), which the grouped split keeps in one split.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tinyml.errors import TinymlError

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "tree", "wow", "one", "two", "three", "four",
                 "five", "six", "seven", "eight", "nine", "zero", "learn", "follow", "forward", "visual")
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc", "en-gb-x-gbclan",
          "en-gb-x-gbcwmd")
VARIANTS = ("", "+m1", "+m2", "+m3", "+m4", "+m7", "+f1", "+f2", "+f3", "+f4", "+klatt", "+klatt3")
GESTURES = ("idle", "shake", "circle", "tap", "wave", "lift")
MACHINES = 20        # vibration clips are spread over this many machines (the group of a clip)
SUBJECTS = 12        # gesture windows are performed by this many people (the group of a window)


def digits(size: int = 16) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images.astype(np.float32) / 16.0
    if size != 8:
        images = np.stack([zoom(im, size / 8.0, order=1) for im in images]).clip(0, 1)
    return images[..., None].astype(np.float32), d.target.astype(np.int64), [str(i) for i in range(10)]


# ---- keyword spotting ----

def _espeak(text: str, voice: str, speed: int, pitch: int, out: Path) -> np.ndarray:
    proc = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
                          capture_output=True)
    if proc.returncode != 0 or not out.exists():
        raise TinymlError(f"espeak-ng failed for voice {voice}: {proc.stderr.decode(errors='replace').strip()}")
    return read_wav(out, 16000)


def read_wav(path: Path, sample_rate: int) -> np.ndarray:
    """A PCM WAV file as float64 mono in [-1, 1], resampled to `sample_rate`."""
    from math import gcd

    from scipy.signal import resample_poly

    try:
        with wave.open(str(path), "rb") as w:
            rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise TinymlError(f"{path}: not a readable PCM WAV file ({exc})") from exc
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128) / 128
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float64) / 32768
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float64) / 2**31
    else:
        raise TinymlError(f"{path}: {8 * width}-bit WAV samples are not supported (8, 16 or 32-bit PCM)")
    x = x.reshape(-1, channels).mean(axis=1)
    if rate != sample_rate:
        g = gcd(rate, sample_rate)
        x = resample_poly(x, sample_rate // g, rate // g)
    return x


def background_noise(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """White, pink (1/f) or brown noise, optionally with mains hum; unit RMS."""
    kind = rng.integers(0, 3)
    white = rng.standard_normal(n)
    if kind == 0:
        x = white
    else:
        spec = np.fft.rfft(white)
        f = np.maximum(np.arange(spec.size), 1)
        x = np.fft.irfft(spec / (np.sqrt(f) if kind == 1 else f), n)
    if rng.random() < 0.3:
        t = np.arange(n) / sample_rate
        x = x / x.std() + rng.uniform(0.5, 2) * np.sin(2 * np.pi * rng.choice([50, 60]) * t)
    return x / (x.std() + 1e-12)


def _place(utterance: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Trim silence, then put the utterance at a random offset in a clip of n samples."""
    voiced = np.flatnonzero(np.abs(utterance) > 0.02 * np.abs(utterance).max() + 1e-9)
    u = utterance[voiced[0]:voiced[-1] + 1] if voiced.size else utterance
    u = u[:n]
    clip = np.zeros(n)
    start = rng.integers(0, n - u.size + 1)
    clip[start:start + u.size] = u / (np.abs(u).max() + 1e-9)
    return clip


def _kws_specs(seed: int, per_class: int) -> tuple[np.random.Generator, list[tuple[int, str, str, int, int]]]:
    """(the generator, left where the audio draws go on; (label, word, voice+variant, speed, pitch) per spoken clip)."""
    rng = np.random.default_rng(seed)
    jobs = []
    for label, word in enumerate(KEYWORDS):
        jobs += [(label, word) for _ in range(per_class)]
    jobs += [(len(KEYWORDS), str(rng.choice(UNKNOWN_WORDS))) for _ in range(per_class)]
    return rng, [(label, word, str(rng.choice(VOICES)) + str(rng.choice(VARIANTS)), int(rng.integers(110, 220)),
                  int(rng.integers(20, 81))) for label, word in jobs]


def kws_groups(seed: int = 0, per_class: int = 100) -> np.ndarray:
    """The speaker of every clip `kws_audio(seed, per_class)` makes, in its order: the espeak-ng voice+variant
    (96 combinations), or `noise-I` for the I-th `_silence_` clip (noise alone: a group of its own). Replays the
    seeded draws without speaking, so audio cached before groups were recorded gets them too."""
    _, specs = _kws_specs(seed, per_class)
    return np.array([voice for _, _, voice, _, _ in specs] + [f"noise-{i}" for i in range(per_class)])


def kws_audio(seed: int = 0, per_class: int = 100, sample_rate: int = 16000,
              workers: int = 2) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(N, sample_rate) float32 clips and labels over KEYWORDS + _unknown_ + _silence_."""
    if shutil.which("espeak-ng") is None:
        raise TinymlError("espeak-ng is not installed (apt-get install espeak-ng); it speaks the kws data set")
    rng, specs = _kws_specs(seed, per_class)
    classes = [*KEYWORDS, "_unknown_", "_silence_"]
    with tempfile.TemporaryDirectory(prefix="tinyml-espeak-") as tmp, ThreadPoolExecutor(workers) as pool:
        speech = list(pool.map(lambda ij: _espeak(ij[1][1], ij[1][2], ij[1][3], ij[1][4], Path(tmp) / f"{ij[0]}.wav"),
                               enumerate(specs)))
    clips, labels = [], []
    for (label, *_), utt in zip(specs, speech):
        clip = _place(utt, rng, sample_rate) * rng.uniform(0.3, 1.0)
        snr_db = rng.uniform(5, 30)
        noise = background_noise(rng, sample_rate, sample_rate) * np.sqrt(np.mean(clip ** 2)) / 10 ** (snr_db / 20)
        clips.append(clip + noise)
        labels.append(label)
    for _ in range(per_class):
        clips.append(background_noise(rng, sample_rate, sample_rate) * rng.uniform(0.001, 0.1))
        labels.append(len(classes) - 1)
    return np.asarray(clips, np.float32), np.asarray(labels, np.int64), classes


# ---- machine vibration (anomaly detection) ----

def vibration_signals(seed: int = 0, normal: int = 1000, faulty: int = 300, sample_rate: int = 8000,
                      samples: int = 2560) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Label 0 = normal, 1 = faulty. One machine type whose speed varies a little from clip to clip; clip I is
    recorded on machine I mod MACHINES (`vibration_machines`)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    clips, labels = [], []
    for i in range(normal + faulty):
        fault = i >= normal
        f0 = rng.uniform(25, 35)                          # shaft speed (Hz)
        x = np.zeros(samples)
        for k in range(1, 9):                             # shaft harmonics
            x += rng.uniform(0.5, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
        mesh = 23 * f0                                    # gear mesh with shaft-rate sidebands
        for s in (-2, -1, 0, 1, 2):
            x += (0.6 if s == 0 else 0.15) * rng.uniform(0.7, 1.0) * np.sin(
                2 * np.pi * (mesh + s * f0) * t + rng.uniform(0, 2 * np.pi))
        x += rng.uniform(0.05, 0.15) * rng.standard_normal(samples)
        if fault:
            kind = rng.integers(0, 3)
            if kind == 0:                                 # outer-race bearing fault: impulses ringing at resonance
                bpfo, res = rng.uniform(3.2, 3.8) * f0, rng.uniform(2000, 3200)
                ring = np.exp(-t[:200] * rng.uniform(600, 1200)) * np.sin(2 * np.pi * res * t[:200])
                impulses = np.zeros(samples)
                impulses[(np.arange(0, t[-1], 1 / bpfo) * sample_rate).astype(int)] = rng.uniform(1.0, 3.0)
                x += np.convolve(impulses, ring)[:samples]
            elif kind == 1:                               # imbalance: strong 1x
                x += rng.uniform(2.0, 4.0) * np.sin(2 * np.pi * f0 * t)
            else:                                         # looseness: half-order and many high harmonics
                for k in np.arange(0.5, 20, 0.5):
                    x += rng.uniform(0.1, 0.3) * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
        clips.append(x * rng.uniform(0.8, 1.2))
        labels.append(int(fault))
    return np.asarray(clips, np.float32), np.asarray(labels, np.int64), ["normal", "anomaly"]


def vibration_machines(count: int) -> np.ndarray:
    """The machine each of `count` vibration clips was recorded on (`machine-K`). The machines are of one type and
    the generator gives them no traits of their own, so a machine-grouped split changes which clips are tested,
    not how hard they are."""
    return np.array([f"machine-{i % MACHINES}" for i in range(count)])


# ---- accelerometer gestures ----

def gestures(seed: int = 0, per_class: int = 250, length: int = 128,
             rate_hz: float = 50.0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(N, length, 3) accelerations in g (gravity included, random device orientation), labels over GESTURES.
    Window I of each gesture is performed by subject I mod SUBJECTS (`gesture_subjects`), who moves with a
    strength of their own (a factor 0.75 to 1.25 on the gesture's amplitude, drawn from its own seeded stream)."""
    rng = np.random.default_rng(seed)
    strength = np.random.default_rng([seed, SUBJECTS]).uniform(0.75, 1.25, SUBJECTS)
    t = np.arange(length) / rate_hz
    xs, ys = [], []
    for label, name in enumerate(GESTURES):
        for i in range(per_class):
            a = np.zeros((length, 3))
            phase = rng.uniform(0, 2 * np.pi)
            amp = rng.uniform(0.5, 1.5) * strength[i % SUBJECTS]
            if name == "shake":
                a[:, 0] = amp * 1.5 * np.sin(2 * np.pi * rng.uniform(4, 7) * t + phase)
            elif name == "circle":
                f = rng.uniform(0.7, 1.3)
                a[:, 0] = amp * np.cos(2 * np.pi * f * t + phase)
                a[:, 1] = amp * np.sin(2 * np.pi * f * t + phase) * rng.choice([-1, 1])
            elif name == "tap":
                for at in rng.choice(length - 8, size=rng.integers(2, 5), replace=False):
                    a[at:at + 8, 2] += amp * 2 * np.exp(-np.arange(8) / 2.0) * np.cos(np.arange(8) * 1.5)
            elif name == "wave":
                a[:, 1] = amp * np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t + phase)
                a[:, 0] = 0.3 * amp * np.sin(2 * np.pi * rng.uniform(1.5, 2.5) * t)
            elif name == "lift":
                centre, width = rng.uniform(0.8, 1.8), rng.uniform(0.2, 0.4)
                a[:, 2] = amp * -np.gradient(np.exp(-((t - centre) / width) ** 2), t) * width
            a += rng.normal(0, 0.05, size=a.shape)                    # sensor noise
            a += np.cumsum(rng.normal(0, 0.005, size=a.shape), axis=0)  # slow drift
            g = rng.normal(size=3)
            g = g / np.linalg.norm(g) * 0.3 + np.array([0, 0, 1.0])      # mostly upright, some tilt
            xs.append(a + g / np.linalg.norm(g))
            ys.append(label)
    return np.asarray(xs, np.float32), np.asarray(ys, np.int64), list(GESTURES)


def gesture_subjects(per_class: int) -> np.ndarray:
    """The subject of every window `gestures(seed, per_class)` makes, in its order (`subject-K`)."""
    return np.array([f"subject-{i % SUBJECTS}" for _ in GESTURES for i in range(per_class)])
