"""The model's feature extractor as C: constant tables and settings for the static streaming extractor in
firmware/features, generated from the features.json saved beside the model.

`generate_features(features, model_input, out_dir, source)` writes `tm_features_config.h` (sizes, normalisation
and the model input's quantization as exact float32 hex literals) and `tm_features_tables.c` (Hann window,
real-FFT twiddles and bit-reversal order, the mel filter bank as sparse rows, the DCT-II matrix), all computed
from `tinyml.features` (the one extractor training uses) in float64 and rounded once to float32. So training and
serving share every constant: nothing is written twice by hand.

A features.json the C cannot serve (another extractor, a size that does not match the model's input, an FFT length
that is not a power of two, ...) is refused with one line naming the file and the field.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml.compiler.codegen.compiler import TensorInfo
from tinyml.compiler.codegen.context import c_float
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.features import EXTRACTOR_NAMES, FeatureParams, dct_matrix, mel_filterbank
from tinyml.npyio import write_atomically

CONFIG_H = "tm_features_config.h"
TABLES_C = "tm_features_tables.c"
MAX_FFT = 32768              # the bit-reversal table and the mel rows hold bin numbers as uint16
INT_FIELDS = ("sample_rate", "clip_samples", "window", "hop", "n_fft", "n_mels", "n_mfcc")
FLOAT_FIELDS = ("fmin", "fmax", "log_floor", "mean", "std")


@dataclass(frozen=True)
class MelRows:
    """The filter bank without its zeros: filter m covers bins first[m] .. first[m] + length[m] - 1 with the
    weights weights[at[m] : at[m] + length[m]]."""

    first: np.ndarray
    length: np.ndarray
    at: np.ndarray
    weights: np.ndarray        # float32


def feature_params(features: dict, model_input: TensorInfo, source: str) -> FeatureParams:
    """The parameters of a features.json the device extractor can serve for `model_input`, or one clear error."""
    def refuse(field: str, why: str) -> TinymlError:
        return TinymlError(f"{source}: field '{field}' {why}", BAD_INPUT)

    extractor = features.get("extractor")
    if not isinstance(extractor, str) or not extractor.startswith(EXTRACTOR_NAMES):
        raise refuse("extractor", f"is {extractor!r}; the device extractor serves {' or '.join(EXTRACTOR_NAMES)} "
                                  "(regenerate features.json with `tinyml train`)")
    for name in INT_FIELDS + FLOAT_FIELDS:
        value = features.get(name)
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
        if not numeric or (name in INT_FIELDS and value != int(value)):
            raise refuse(name, f"is {value!r}; expected {'an integer' if name in INT_FIELDS else 'a number'}")
    p = FeatureParams.from_json({**features, **{k: int(features[k]) for k in INT_FIELDS}})
    n = p.n_fft
    checks = [
        ("n_fft", 16 <= n <= MAX_FFT and n & (n - 1) == 0, f"is {n}; expected a power of two from 16 to {MAX_FFT}"),
        ("window", 2 <= p.window <= n, f"is {p.window}; expected 2 to n_fft ({n}) samples"),
        ("hop", p.hop >= 1, f"is {p.hop}; expected at least 1 sample"),
        ("clip_samples", p.clip_samples >= p.window, f"is {p.clip_samples}; expected at least one window "
                                                     f"({p.window})"),
        ("sample_rate", p.sample_rate > 0, f"is {p.sample_rate}; expected a positive rate"),
        ("n_mels", 1 <= p.n_mels <= n // 2 + 1, f"is {p.n_mels}; expected 1 to n_fft / 2 + 1 ({n // 2 + 1})"),
        ("n_mfcc", 0 <= p.n_mfcc <= p.n_mels, f"is {p.n_mfcc}; expected 0 (log-mel) to n_mels ({p.n_mels})"),
        ("fmax", 0 <= p.fmin < p.fmax <= p.sample_rate / 2, f"is {p.fmax} with fmin {p.fmin}; expected "
                                                            f"0 <= fmin < fmax <= sample_rate / 2"),
        ("log_floor", p.log_floor > 0, f"is {p.log_floor}; expected a positive floor"),
        ("std", p.std > 0, f"is {p.std}; expected a positive standard deviation"),
    ]
    for field, ok, why in checks:
        if not ok:
            raise refuse(field, why)
    elements = int(np.prod(model_input.shape, dtype=np.int64))
    if p.frames * p.coeffs != elements:
        raise refuse("clip_samples", f"gives {p.frames} frames x {p.coeffs} coefficients = {p.frames * p.coeffs} "
                                     f"values, but the model input '{model_input.name}' {list(model_input.shape)} "
                                     f"holds {elements}; use the features.json the model was trained with")
    if model_input.dtype != "int8" or not model_input.scale > 0:
        raise TinymlError(f"{source}: the model input '{model_input.name}' is {model_input.dtype} with scale "
                          f"{model_input.scale}; the device extractor feeds int8 inputs (quantize the model with "
                          "`tinyml quantize`)", BAD_INPUT)
    return p


def mel_rows(p: FeatureParams) -> MelRows:
    bank = mel_filterbank(p).T                          # (n_mels, bins)
    first, length, at, weights = [], [], [], []
    for row in bank:
        nonzero = np.flatnonzero(row)
        lo, hi = (int(nonzero[0]), int(nonzero[-1]) + 1) if nonzero.size else (0, 0)
        first.append(lo)
        length.append(hi - lo)
        at.append(sum(length[:-1]))
        weights.append(row[lo:hi])
    return MelRows(np.array(first), np.array(length), np.array(at),
                   np.concatenate(weights).astype(np.float32))


def work_floats(p: FeatureParams) -> int:
    """The float work buffer: the FFT in place (n_fft floats), then the power spectrum (n_fft/2 + 1) followed by
    the mel energies (n_mels); the coefficients go back over the spectrum."""
    return max(p.n_fft, p.n_fft // 2 + 1 + p.n_mels)


def generate_features(features: dict, model_input: TensorInfo, out_dir: Path, source: str) -> list[Path]:
    """Write tm_features_config.h and tm_features_tables.c into `out_dir` (each atomically); return both paths.
    `source` names the features.json in error messages."""
    p = feature_params(features, model_input, source)
    out_dir = Path(out_dir)
    files = {CONFIG_H: _config_h(p, model_input), TABLES_C: _tables_c(p)}
    for name, text in files.items():
        write_atomically(out_dir / name, text.encode())
    return [out_dir / name for name in files]


def _config_h(p: FeatureParams, model_input: TensorInfo) -> str:
    kind = f"{p.n_mfcc} MFCC (DCT-II of {p.n_mels} log-mels)" if p.n_mfcc else f"{p.n_mels} log-mels"
    defines = [
        ("SAMPLE_RATE", f"{p.sample_rate}u", "samples per second"),
        ("CLIP_SAMPLES", f"{p.clip_samples}u", "one clip of training data"),
        ("WINDOW", f"{p.window}u", "samples per frame (Hann window)"),
        ("HOP", f"{p.hop}u", "samples between frame starts"),
        ("FFT", f"{p.n_fft}u", "real FFT length (window zero-padded)"),
        ("MELS", f"{p.n_mels}u", "mel filters"),
        ("MFCC", f"{p.n_mfcc}u", "DCT-II outputs, 0: the log-mels are the features"),
        ("COEFFS", f"{p.coeffs}u", "values per frame"),
        ("FRAMES", f"{p.frames}u", "frames in the model input"),
        ("INPUT_BYTES", f"{p.frames * p.coeffs}u", "TM_FEATURES_FRAMES x TM_FEATURES_COEFFS int8 values"),
        ("WORK_FLOATS", f"{work_floats(p)}u", "float work buffer"),
        ("MEL_WEIGHTS", f"{mel_rows(p).weights.size}u", "non-zero mel filter weights"),
        ("LOG_FLOOR", c_float(np.float32(p.log_floor)), f"{p.log_floor!r}"),
        ("MEAN", c_float(np.float32(p.mean)), f"{p.mean!r}: (x - MEAN) / STD"),
        ("STD", c_float(np.float32(p.std)), f"{p.std!r}"),
        ("INPUT_SCALE", c_float(np.float32(model_input.scale)), f"{model_input.scale!r}: the model input's"),
        ("INPUT_ZERO_POINT", f"({int(model_input.zero_point)})", "int8 quantization"),
    ]
    width = max(len(name) for name, _, _ in defines) + 13
    lines = [f"#define {('TM_FEATURES_' + name).ljust(width)} {value}  /* {note} */" for name, value, note in defines]
    return ("/* Generated by tinyml (compiler.codegen.features) from features.json: do not edit.\n"
            f" * {p.frames} frames x {kind}, {p.window}-sample windows every {p.hop} samples at {p.sample_rate} Hz,\n"
            f" * normalised and quantized as the model input '{model_input.name}'. */\n"
            "#ifndef TM_FEATURES_CONFIG_H\n#define TM_FEATURES_CONFIG_H\n\n" + "\n".join(lines) +
            "\n\n#endif\n")


def _tables_c(p: FeatureParams) -> str:
    half = p.n_fft // 2
    angles = 2.0 * np.pi * np.arange(half) / p.n_fft
    twiddles = np.stack([np.cos(angles), np.sin(angles)], axis=1).ravel()
    bits = half.bit_length() - 1
    bitrev = [int(f"{i:0{bits}b}"[::-1], 2) if bits else 0 for i in range(half)]
    rows = mel_rows(p)
    parts = ["/* Generated by tinyml (compiler.codegen.features) from features.json: do not edit. */",
             '#include "tm_features_internal.h"', "",
             _array("const float tm_features_hann[TM_FEATURES_WINDOW]", np.hanning(p.window), "Hann window"),
             _array("const float tm_features_twiddle[TM_FEATURES_FFT]", twiddles,
                    "cos, sin of 2 pi k / FFT for k < FFT / 2"),
             _array("const uint16_t tm_features_bitrev[TM_FEATURES_FFT / 2u]", bitrev,
                    "bit-reversed order of the FFT / 2-point complex FFT"),
             _array("const float tm_features_mel_weights[TM_FEATURES_MEL_WEIGHTS]", rows.weights,
                    "mel filter weights, row after row"),
             "/* Mel filter m: first bin, number of bins, index of its first weight. */",
             "const tm_features_mel_row tm_features_mel_rows[TM_FEATURES_MELS] = {",
             *(f"  {{{f}u, {n}u, {a}u}}," for f, n, a in zip(rows.first, rows.length, rows.at)), "};", ""]
    if p.n_mfcc:
        parts.append(_array("const float tm_features_dct[TM_FEATURES_MFCC * TM_FEATURES_MELS]",
                            dct_matrix(p.n_mels, p.n_mfcc).T.ravel(), "orthonormal DCT-II, coefficient k's row"))
    return "\n".join(parts)


def _array(declaration: str, values: Sequence | np.ndarray, note: str) -> str:
    if declaration.startswith("const float"):
        items = [c_float(v) for v in np.asarray(values, np.float64).astype(np.float32)]
    else:
        items = [f"{int(v)}u" for v in values]
    rows = [", ".join(items[i:i + 6]) for i in range(0, len(items), 6)]
    return f"/* {note} */\n{declaration} = {{\n" + "".join(f"  {r},\n" for r in rows) + "};\n"
