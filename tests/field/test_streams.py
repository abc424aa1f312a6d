"""Scenario streams (tinyml.field.streams): each scenario changes what it claims and nothing else, deterministically.

Feature shifts are measured as the device would: the kws extractor (`tinyml.features`), int8 quantization, the
device's histograms (`accumulate`) and PSI against the stationary test split's own statistics."""
from __future__ import annotations

import numpy as np
import pytest

from tinyml.device.statistics import accumulate, layout_for
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.features import FeatureParams, extract
from tinyml.field.drift import psi
from tinyml.field.streams import SCENARIOS, SensorSplit, load_stream, make_stream, sensor_split, to_int16

SCALE, ZERO = 0.0425, 49  # the KWS model's input quantization (tinyml quantize on the recipe)
LAYOUT = layout_for(10, [1])


@pytest.fixture(scope="module")
def kws() -> SensorSplit:
    return sensor_split("kws", small=True)


@pytest.fixture(scope="module")
def params() -> FeatureParams:
    return FeatureParams(mean=-1.2, std=10.0)  # the kws extractor, normalised about as its training split


def channel_psi(samples: np.ndarray, reference: np.ndarray, params: FeatureParams) -> np.ndarray:
    """PSI per MFCC channel of int16 clips against reference clips, on the device's int8 histograms."""
    def stats(clips: np.ndarray):
        x = np.clip(np.round(extract(clips / 32768.0, params) / SCALE) + ZERO, -128, 127).astype(np.int8)
        return accumulate(x, np.zeros((len(x), 1), np.int8), LAYOUT)
    return psi(stats(samples).hist, stats(reference).hist)


def test_streams_are_deterministic_and_the_head_is_the_stationary_replay(kws: SensorSplit) -> None:
    a = make_stream("gain", kws, before=30, after=20, seed=3, gain=2.0)
    b = make_stream("gain", kws, before=30, after=20, seed=3, gain=2.0)
    c = make_stream("gain", kws, before=30, after=20, seed=4, gain=2.0)
    stationary = make_stream("stationary", kws, before=50, after=0, seed=3)
    assert np.array_equal(a.samples, b.samples) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.samples, c.samples)
    assert a.shift_at == 30 and a.shifted.sum() == 20 and stationary.shift_at is None
    assert np.array_equal(a.samples[:30], stationary.samples[:30])   # same clips until the shift
    assert a.samples.dtype == np.int16 and a.samples.shape == (50, kws.samples.shape[1])


def test_stationary_replays_the_split_shuffled(kws: SensorSplit, params: FeatureParams) -> None:
    n = len(kws.labels)
    s = make_stream("stationary", kws, before=n + 5, after=0, seed=1)
    first_pass = {row.tobytes() for row in s.samples[:n]}
    assert first_pass == {row.tobytes() for row in kws.samples}      # every clip once per pass
    assert not np.array_equal(s.samples[:n], kws.samples)             # in another order
    assert channel_psi(s.samples, kws.samples, params).max() < 0.02


@pytest.mark.parametrize(("scenario", "options"), [("gain", {"gain": 2.0}), ("gain", {"gain": 0.5}),
                                                   ("noise", {"rms": 0.01}), ("offset", {"dc": 0.25})])
def test_covariate_shifts_move_the_features(kws: SensorSplit, params: FeatureParams, scenario: str,
                                            options: dict) -> None:
    s = make_stream(scenario, kws, before=0, after=len(kws.labels), seed=2, **options)
    same = make_stream("stationary", kws, before=len(kws.labels), after=0, seed=2)
    assert np.array_equal(s.labels, same.labels)                       # the world's classes did not change
    assert channel_psi(s.samples, kws.samples, params).max() >= 0.25
    if scenario == "gain":
        assert np.array_equal(s.samples, to_int16(same.samples / 32768.0 * options["gain"]))
    if scenario == "offset":
        assert abs(s.samples.mean() - same.samples.mean() - 0.25 * 32768) < 50


def test_a_small_gain_moves_the_features_less(kws: SensorSplit, params: FeatureParams) -> None:
    small = make_stream("gain", kws, before=0, after=len(kws.labels), seed=2, gain=1.25)
    large = make_stream("gain", kws, before=0, after=len(kws.labels), seed=2, gain=2.0)
    assert channel_psi(small.samples, kws.samples, params)[0] < channel_psi(large.samples, kws.samples, params)[0]


def test_stuck_sensor_is_constant_at_its_last_sample(kws: SensorSplit) -> None:
    s = make_stream("stuck", kws, before=10, after=8, seed=5)
    assert np.all(s.samples[10:] == s.samples[9, -1])
    assert np.all(make_stream("stuck", kws, before=0, after=3, seed=5, value=-7).samples == -7)


def test_label_shift_changes_the_priors_with_real_clips_of_each_class(kws: SensorSplit) -> None:
    s = make_stream("label_shift", kws, before=0, after=300, seed=6, target="yes", share=0.6)
    yes = kws.classes.index("yes")
    assert 0.5 < np.mean(s.labels == yes) < 0.7                       # uniform before: 1 in 12
    by_clip = {row.tobytes(): label for row, label in zip(kws.samples, kws.labels, strict=True)}
    assert all(by_clip[row.tobytes()] == label for row, label in zip(s.samples, s.labels, strict=True))


def test_concept_drift_relabels_and_leaves_the_inputs_alone(kws: SensorSplit) -> None:
    s = make_stream("concept", kws, before=0, after=60, seed=7, source="yes", target="no")
    same = make_stream("stationary", kws, before=60, after=0, seed=7)
    yes, no = kws.classes.index("yes"), kws.classes.index("no")
    assert np.array_equal(s.samples, same.samples)                     # a device sees exactly the same clips
    assert not np.any(s.labels == yes)
    assert np.array_equal(s.labels == no, (same.labels == yes) | (same.labels == no))


def test_unseen_voices_are_new_speech(kws: SensorSplit, params: FeatureParams) -> None:
    s = make_stream("unseen", kws, before=0, after=6, seed=8)
    known = {row.tobytes() for row in kws.samples}
    assert s.samples.shape == (6, kws.samples.shape[1]) and not any(r.tobytes() in known for r in s.samples)
    spoken = s.labels != kws.classes.index("_silence_")
    assert np.all(np.abs(s.samples[spoken]).max(axis=1) > 1000)        # a word was spoken into each clip


def test_an_unseen_machine_runs_at_another_speed() -> None:
    vib = sensor_split("vibration", small=True)
    s = make_stream("unseen", vib, before=0, after=len(vib.labels), seed=9, speed=1.25)

    def gear_mesh(clips: np.ndarray) -> float:
        """The median over clips of the strongest line between 470 Hz and 1.6 kHz (the gear mesh, 23 x shaft)."""
        spectrum = np.abs(np.fft.rfft(clips / 32768.0, axis=1))
        return float(np.median(spectrum[:, 150:500].argmax(axis=1) + 150))

    assert abs(gear_mesh(s.samples) / gear_mesh(vib.samples) - 1.25) < 0.03   # every line moved up by the speed


def test_streams_save_and_load(kws: SensorSplit, tmp_path) -> None:
    s = make_stream("offset", kws, before=4, after=3, seed=1, dc=0.1)
    s.save(tmp_path / "s.npz")
    back = load_stream(tmp_path / "s.npz", clip_samples=16000, sample_rate=16000)
    assert np.array_equal(back.samples, s.samples) and back.shift_at == 4 and np.array_equal(back.labels, s.labels)
    np.savez(tmp_path / "flat.npz", samples=s.samples.reshape(-1)[:16000 * 2 + 5])
    assert load_stream(tmp_path / "flat.npz", clip_samples=16000, sample_rate=16000).samples.shape == (2, 16000)


@pytest.mark.parametrize(("call", "message"), [
    (lambda k: make_stream("drizzle", k, before=1, after=1), "unknown scenario 'drizzle'"),
    (lambda k: make_stream("label_shift", k, before=1, after=1, target="maybe"), "class 'maybe' is not one"),
    (lambda k: make_stream("gain", k, before=1, after=1, volume=3), "scenario 'gain'"),
    (lambda k: make_stream("stuck", k, before=1, after=1, value=40000), "int16 sample"),
    (lambda k: make_stream("gain", k, before=0, after=0), "a stream needs clips"),
    (lambda k: make_stream("stationary", k, before=1, after=0, gain=2), "takes no parameters"),
    (lambda k: sensor_split("digits"), "raw signals"),
])
def test_bad_scenarios_are_one_clear_error(kws: SensorSplit, call, message: str) -> None:
    with pytest.raises(TinymlError) as err:
        call(kws)
    assert message in err.value.message and err.value.exit_code == BAD_INPUT


def test_bad_stream_files_are_one_clear_error(tmp_path) -> None:
    np.savez(tmp_path / "floats.npz", samples=np.zeros((2, 10), np.float32))
    np.savez(tmp_path / "none.npz", x=np.zeros(3))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    for name, message in (("floats.npz", "int16 (sensor samples) or int8"), ("none.npz", "needs an array 'samples'"),
                          ("junk.npz", "not a readable .npz"), ("missing.npz", "no such stream file"),
                          ("s.csv", "a stream is an .npz")):
        with pytest.raises(TinymlError) as err:
            load_stream(tmp_path / name, clip_samples=10, sample_rate=16000)
        assert message in err.value.message and err.value.exit_code == BAD_INPUT


def test_every_scenario_is_listed() -> None:
    assert SCENARIOS == ("stationary", "gain", "noise", "offset", "unseen", "label_shift", "stuck", "concept")
