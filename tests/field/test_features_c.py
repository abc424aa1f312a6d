"""The device's feature extractor (firmware/features + the tables generated from features.json) against the host's
numpy extractor (`tinyml.features.extract`, quantized by `tinyml.train.quantize.quantize_inputs`): parity on
samples of the kws and vibration sets (host build, and in QEMU on a Cortex-M4 with FPU and a soft-float Cortex-M3),
the streaming semantics of `tm_features.h`, the generator's refusals and `feature_sources`.

The whole test splits are measured by scripts/feature_parity.py (docs/FIELD.md, "Features on the device"): every
value identical there; at an 8 times finer input step 1 (kws) to 5 (vibration) values in 10^5 are 1 LSB off. FLOOR
(99.9 %) leaves room for a few such values in a sample; an error in the arithmetic (a floor for the rounding, say)
puts about half the values off."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from tinyml.compiler.codegen import TensorInfo
from tinyml.compiler.codegen.features import generate_features
from tinyml.device import features_run as run_c
from tinyml.device.boards import get_board
from tinyml.device.features_sources import FEATURES_DIR, feature_sources
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.features import FeatureParams, extract
from tinyml.train.data import KWS_FEATURES, VIBRATION_FEATURES, builtin_signals
from tinyml.train.quantize import quantize_inputs

SAMPLE = 24          # clips per data set
FLOOR = 0.999        # share of int8 values identical to the host's
PARAMS = {"kws": KWS_FEATURES, "vibration": VIBRATION_FEATURES}


@dataclass(frozen=True)
class Sample:
    features: dict            # a features.json
    model_input: TensorInfo
    clips: np.ndarray         # (SAMPLE, clip_samples) int16
    reference: np.ndarray     # (SAMPLE, input bytes) int8: the host's features


@pytest.fixture(scope="module")
def streams() -> dict[str, Sample]:
    """A seeded sample of each set's clips as int16 sensor streams (the vibration signals at a gain of 1/8, as in
    scripts/feature_parity.py, so none clips), normalised and quantized over the sample the way a trained model's
    features.json and a calibrated int8 input would be."""
    out = {}
    for name, params in PARAMS.items():
        signals, _, _ = builtin_signals(name, small=True)
        pick = np.sort(np.random.default_rng(0).choice(len(signals), SAMPLE, replace=False))
        clips = run_c.to_int16(signals[pick], 1.0 if name == "kws" else 0.125)
        raw = run_c.host_features(clips, params)
        p = replace(params, mean=float(raw.mean()), std=float(raw.std()))
        x = run_c.host_features(clips, p)
        shape = (1, *p.shape) if name == "kws" else (1, p.frames * p.coeffs)  # vibration models take it flattened
        info = run_c.calibrated_input(x, shape)
        out[name] = Sample(p.to_json(), info, clips,
                           quantize_inputs(x, info.scale, info.zero_point).reshape(len(clips), -1))
    return out


@pytest.mark.parametrize("name", list(PARAMS))
def test_host_build_matches_the_host_features(streams: dict, name: str, tmp_path: Path) -> None:
    s = streams[name]
    run = run_c.run_host(run_c.build_host(s.features, s.model_input, tmp_path), s.clips)
    result = run_c.compare(run, s.reference, PARAMS[name].frames)
    assert result["values"] == SAMPLE * PARAMS[name].frames * PARAMS[name].coeffs
    assert result["max_diff"] <= 1 and result["identical"] >= FLOOR, result


def test_a_stream_longer_than_a_clip_keeps_its_last_frames(streams: dict, tmp_path: Path) -> None:
    """Both rings wrap: after two clips and 123 samples the window holds the last FRAMES frames, oldest first."""
    s = streams["kws"]
    p = FeatureParams.from_json(s.features)
    stream = np.concatenate([s.clips[0], s.clips[1], s.clips[2][:123]])
    made = 1 + (len(stream) - p.window) // p.hop
    start = (made - p.frames) * p.hop                       # the oldest frame in the window
    expected = quantize_inputs(extract(stream[start:start + p.clip_samples] / 32768.0, p),
                               s.model_input.scale, s.model_input.zero_point).reshape(-1)
    run = run_c.run_host(run_c.build_host(s.features, s.model_input, tmp_path), stream[None])
    assert run.frames[0] == made
    assert np.abs(run.features[0].astype(int) - expected.astype(int)).max() <= 1


def test_no_window_until_enough_frames(streams: dict, tmp_path: Path) -> None:
    s = streams["kws"]
    p = FeatureParams.from_json(s.features)
    ex = run_c.build_host(s.features, s.model_input, tmp_path)
    for samples, frames in ((p.window - 1, 0), (p.window, 1), (p.window + (p.frames - 2) * p.hop, p.frames - 1)):
        run = run_c.run_host(ex, s.clips[:1, :samples])
        assert run.frames[0] == frames
        assert not run.features.any()                       # the harness writes zeros when the window is refused


KWS_JSON = KWS_FEATURES.to_json()
KWS_INPUT = TensorInfo("input_1", "int8", (1, 49, 10, 1), 0.04, 50)


@pytest.mark.parametrize(("change", "model_input", "field"), [
    ({"extractor": "librosa mfcc"}, KWS_INPUT, "extractor"),
    ({"extractor": None}, KWS_INPUT, "extractor"),
    ({"n_fft": 500}, KWS_INPUT, "n_fft"),
    ({"window": 1024}, KWS_INPUT, "window"),
    ({"hop": "320"}, KWS_INPUT, "hop"),
    ({"n_mfcc": 50}, KWS_INPUT, "n_mfcc"),
    ({"fmax": 9000.0}, KWS_INPUT, "fmax"),
    ({"std": 0.0}, KWS_INPUT, "std"),
    ({"clip_samples": 8000}, KWS_INPUT, "clip_samples"),
    ({}, replace(KWS_INPUT, shape=(1, 49, 12, 1)), "clip_samples"),
    ({}, replace(KWS_INPUT, dtype="float32"), "input_1"),
], ids=lambda v: str(v) if isinstance(v, (dict, str)) else None)
def test_the_generator_refuses_what_it_cannot_serve(change: dict, model_input: TensorInfo, field: str,
                                                    tmp_path: Path) -> None:
    source = str(tmp_path / "model.features.json")
    with pytest.raises(TinymlError) as err:
        generate_features({**KWS_JSON, **change}, model_input, tmp_path / "out", source)
    message = err.value.message
    assert err.value.exit_code == BAD_INPUT and "\n" not in message
    assert message.startswith(source) and field in message, message
    assert not (tmp_path / "out").exists()                  # nothing half-written


def test_feature_sources_for_a_model_folder(tmp_path: Path) -> None:
    model = tmp_path / "model.tflite"
    model.write_bytes(b"")
    assert feature_sources(model, (KWS_INPUT,), tmp_path / "gen") is None          # no features.json: no extractor
    (tmp_path / "features.json").write_text(json.dumps(KWS_JSON))                    # the training folder's
    sources, include_dirs = feature_sources(model, (KWS_INPUT,), tmp_path / "gen")
    assert [p.name for p in sources] == ["tm_features_tables.c", "tm_fft.c", "tm_features_frame.c", "tm_features.c"]
    assert include_dirs == [tmp_path / "gen", FEATURES_DIR] and all(p.is_file() for p in sources)
    assert "#define TM_FEATURES_INPUT_BYTES" in (tmp_path / "gen" / "tm_features_config.h").read_text()
    model.with_suffix(".features.json").write_text("{not json")                     # quantize's, preferred
    with pytest.raises(TinymlError, match="model.features.json: not a readable features.json"):
        feature_sources(model, (KWS_INPUT,), tmp_path / "gen")
    model.with_suffix(".features.json").write_text(json.dumps(KWS_JSON))
    with pytest.raises(TinymlError, match="the model has 2 inputs"):
        feature_sources(model, (KWS_INPUT, KWS_INPUT), tmp_path / "gen")


@pytest.mark.qemu
@pytest.mark.slow
@pytest.mark.parametrize(("board_name", "name", "clips"), [
    ("mps2-an386", "kws", 1),            # Cortex-M4 with FPU (a kws clip is 32 KB over the emulated UART: ~5 s)
    ("mps2-an386", "vibration", 2),
    ("mps2-an385", "vibration", 2),      # Cortex-M3, soft float; its kws parity: scripts/feature_parity.py
])
def test_the_chip_matches_the_host_features(streams: dict, board_name: str, name: str,
                                            clips: int, tmp_path: Path) -> None:
    board, s = get_board(board_name), streams[name]
    ex = run_c.build_board(s.features, s.model_input, board, tmp_path)
    result = run_c.compare(run_c.run_board(ex, board, s.clips[:clips]), s.reference, PARAMS[name].frames)
    assert result["max_diff"] <= 1 and result["identical"] >= FLOOR, result
