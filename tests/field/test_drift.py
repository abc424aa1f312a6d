"""Drift scores without firmware (for now): reports accumulated with the device's code over the vibration data
set's features. Stationary replay raises nothing over >= 100 reports; a gain or offset shift of PSI >= 0.25 is
caught within 2 windows; a label shift and a confidence drop are caught; the scores match scipy."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from tests.field.conftest import LAYOUT
from tinyml.device.statistics import accumulate, layout_for
from tinyml.field.drift import DriftConfig, DriftTracker, alerts, ks_from_histograms, psi, score
from tinyml.field.simulate import SimulatedDevice, VibrationFeatures, random_inputs, replay, sample_windows, toy_model

WINDOW = 100      # inferences per report
CLASSES = 4
VIB_LAYOUT = layout_for(128, [CLASSES], group=16)  # 128 mel bands in 8 channels of 16


@pytest.fixture(scope="module")
def vib() -> VibrationFeatures:
    return VibrationFeatures(VIB_LAYOUT, CLASSES)


def windows(x: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    return sample_windows(x, n, WINDOW, seed)


def test_stationary_reports_raise_no_alert(vib):
    stationary = vib.quantize(vib.normal)
    alarms = []
    for device in range(3):  # 3 devices x 50 reports = 150 stationary reports, each scored twice (+ sliding)
        tracker = DriftTracker(vib.reference)
        found = replay(tracker, SimulatedDevice.numbered(device, VIB_LAYOUT), windows(stationary, 50, device),
                       CLASSES)
        alarms += [a for window in found for a in window]
    print(f"\nstationary: 150 reports, {len(alarms)} false alarms")
    assert alarms == []


@pytest.mark.parametrize("gain,offset", [(1.12, 0.0), (1.0, 0.6), (0.9, 0.0)])
def test_a_shift_of_psi_quarter_alerts_within_two_windows(vib, gain, offset):
    shifted = vib.shifted(gain, offset)
    population = vib.population_psi(shifted)
    assert population >= 0.25
    tracker = DriftTracker(vib.reference)
    device = SimulatedDevice.numbered(9, VIB_LAYOUT)
    before = replay(tracker, device, windows(vib.quantize(vib.normal), 10, 1), CLASSES)
    after = replay(tracker, device, windows(shifted, 4, 2), CLASSES)
    assert not any(before)
    delay = next(i + 1 for i, found in enumerate(after) if any(a["alert"] == "input_drift" for a in found))
    print(f"\ngain {gain} offset {offset}: PSI {population:.2f}, detected after {delay} window(s)")
    assert delay <= 2


def test_unseen_machine_states_alert(vib):
    """The faulty machines never were in the training split (an autoencoder learns the normal ones only)."""
    tracker = DriftTracker(vib.reference)
    found = replay(tracker, SimulatedDevice.numbered(3, VIB_LAYOUT), windows(vib.quantize(vib.faulty), 2, 3),
                   CLASSES)
    assert any(a["alert"] == "input_drift" for a in found[0] + found[1])


def test_a_label_shift_alerts(vib):
    x = vib.quantize(vib.normal)
    predicted = toy_model(x, CLASSES).argmax(axis=1)
    common = np.bincount(predicted).argmax()
    skewed = x[predicted == common]  # the class priors change: one class only
    tracker = DriftTracker(vib.reference)
    found = replay(tracker, SimulatedDevice.numbered(4, VIB_LAYOUT), windows(skewed, 1, 4), CLASSES)[0]
    assert any(a["alert"] == "label_shift" for a in found)


def test_a_confidence_drop_and_an_agreement_drop_alert():
    rng = np.random.default_rng(5)
    x = random_inputs(rng, 400)
    confident = np.full((400, 4), -128, np.int8)
    confident[:, 0] = 100
    ref = accumulate(x, confident, LAYOUT, shadow_outputs=confident)
    unsure = np.full((100, 4), -60, np.int8)
    unsure[:, 0] = -40
    window = accumulate(x[:100], unsure, LAYOUT, shadow_outputs=np.roll(unsure, 1, axis=1))
    report = SimulatedDevice.numbered(0, LAYOUT).report(x[:1], unsure[:1])
    assert "confidence_drop" in {a["alert"] for a in DriftTracker(ref).update(report)}
    found = alerts(score(window, ref, DriftConfig()), ref, DriftConfig(), {"scope": "device"})
    assert {"confidence_drop", "agreement_drop"} <= {a["alert"] for a in found}


def test_scores_match_scipy_and_the_definition():
    rng = np.random.default_rng(6)
    a, b = rng.integers(0, 16, 3000), rng.integers(0, 16, 800)
    b[:200] = 3
    ha, hb = np.bincount(a, minlength=16)[None], np.bincount(b, minlength=16)[None]
    d, p = ks_from_histograms(hb, ha, 800, 3000)
    ref = sps.ks_2samp(b, a, method="asymp")
    assert d[0] == pytest.approx(ref.statistic) and p[0] == pytest.approx(ref.pvalue, rel=0.05)
    pa, pb = ha[0] / 3000, hb[0] / 800
    assert psi(hb, ha)[0] == pytest.approx(((pb - pa) * np.log(pb / pa)).sum())
    assert psi(ha, ha)[0] == 0.0
    empty = np.zeros((1, 16))
    empty[0, 0] = 10
    assert np.isfinite(psi(empty, ha)[0])  # empty bins smoothed, no infinity
