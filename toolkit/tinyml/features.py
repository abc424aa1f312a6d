"""The one audio feature extractor (numpy): framing, Hann window, power spectrum, mel filter bank, log, DCT-II.

Its parameters (`FeatureParams`) are saved next to every trained model (`features.json`), so a device or a later
`tinyml quantize` computes exactly the same features. A ground module, so both the training wing (the data sets)
and the compiler (which generates the same extractor as C for the device, `compiler.codegen.features`) import the
one definition. Everything is float32-friendly, plain numpy, no librosa.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# The extractor's identity in features.json. The module moved from `tinyml.train.data.features` without changing
# its arithmetic: models saved under the old name are the same extractor.
EXTRACTOR = "tinyml.features v1"
EXTRACTOR_NAMES = (EXTRACTOR, "tinyml.train.data.features v1")


@dataclass(frozen=True)
class FeatureParams:
    sample_rate: int = 16000
    clip_samples: int = 16000       # input length: shorter clips are zero-padded, longer ones cut
    window: int = 480               # 30 ms
    hop: int = 320                  # 20 ms  -> 49 frames per second
    n_fft: int = 512
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 4000.0
    n_mfcc: int = 10                # 0: log-mel output (n_mels per frame)
    log_floor: float = 1e-6
    mean: float = 0.0               # global normalisation applied after extraction (set from training data)
    std: float = 1.0

    @property
    def frames(self) -> int:
        return 1 + (self.clip_samples - self.window) // self.hop

    @property
    def frames_between_clips(self) -> int:
        """The fewest new frames per inference after which a clip laid right behind the last one starts clear of
        its frames: a clip's frames, one hop more for each hop its window reaches past them. A device inferring
        that often on clips laid back to back (tinyml.field.replay.sensor_stream) infers once per clip."""
        return self.frames - 1 + -(-self.window // self.hop)

    @property
    def coeffs(self) -> int:
        """Values per frame: MFCCs, or log-mel bands when there is no DCT."""
        return self.n_mfcc or self.n_mels

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.frames, self.coeffs, 1)

    def to_json(self) -> dict:
        return {"extractor": f"{EXTRACTOR} (log-mel" + (" + DCT-II MFCC" if self.n_mfcc else "") + ")",
                **asdict(self)}

    @staticmethod
    def from_json(data: dict) -> FeatureParams:
        known = FeatureParams.__dataclass_fields__
        return FeatureParams(**{k: v for k, v in data.items() if k in known})

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def mel_filterbank(p: FeatureParams) -> np.ndarray:
    """(n_fft//2+1, n_mels) triangular filters on the HTK mel scale."""
    bins = np.fft.rfftfreq(p.n_fft, 1.0 / p.sample_rate)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(p.fmin), _hz_to_mel(p.fmax), p.n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (bins[None] - lower) / np.maximum(centre - lower, 1e-9)
    down = (upper - bins[None]) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(up, down)).T.astype(np.float64)


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II, (n_in, n_out)."""
    k = np.arange(n_out)[None]
    n = np.arange(n_in)[:, None]
    m = np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)
    m[:, 0] /= np.sqrt(2.0)
    return m


def extract(audio: np.ndarray, p: FeatureParams, normalise: bool = True) -> np.ndarray:
    """audio: (N, samples) or (samples,) float in [-1, 1] at p.sample_rate -> (N, frames, coeffs, 1) float32.

    The features are computed in float64 and rounded to float32; `normalise` then applies `(x - mean) / std` in
    float32, the very arithmetic `tinyml.train.data.load_dataset` applies to the training data (and the device's
    extractor after it)."""
    x = np.atleast_2d(np.asarray(audio, np.float64))
    if x.shape[1] < p.clip_samples:
        x = np.pad(x, ((0, 0), (0, p.clip_samples - x.shape[1])))
    x = x[:, :p.clip_samples]
    idx = np.arange(p.window)[None] + p.hop * np.arange(p.frames)[:, None]
    frames = x[:, idx] * np.hanning(p.window)                       # (N, frames, window)
    power = np.abs(np.fft.rfft(frames, n=p.n_fft, axis=-1)) ** 2
    logmel = np.log(power @ mel_filterbank(p) + p.log_floor)
    out = (logmel @ dct_matrix(p.n_mels, p.n_mfcc) if p.n_mfcc else logmel)[..., None].astype(np.float32)
    if normalise:
        out = ((out - p.mean) / p.std).astype(np.float32)
    return out
