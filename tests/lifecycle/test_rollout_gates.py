"""The rules of the telemetry gate and the shadow stage (tinyml.lifecycle.rollout_telemetry) on statistics made with
the device's own `accumulate` (no emulator): a canary like its control group passes; a shifted class distribution,
a confidence drop, input drift, too few inferences and another layout are each named; the shadow stage wants
`min_agreement` over at least `min_shadow_runs` runs."""
from __future__ import annotations

import numpy as np
import pytest

from tinyml.device.statistics import WindowStats, accumulate, layout_for
from tinyml.lifecycle.fleet import Telemetry
from tinyml.lifecycle.rollout_telemetry import compare, merge, shadow_verdict

LAYOUT = layout_for(16, [8], output_quant=[(1.0, 0)])
RULES = Telemetry(min_inferences=200, min_shadow_runs=200)


def window(seed: int, n: int = 400, *, favour: int | None = None, low: bool = False, inputs_offset: int = 0,
           shadow_agree: float | None = None) -> WindowStats:
    """`n` inferences on random inputs; outputs favouring class `favour`, or low top-1 values (`low`)."""
    rng = np.random.default_rng(seed)
    inputs = np.clip(rng.integers(-100, 100, size=(n, 16)) + inputs_offset, -128, 127).astype(np.int8)
    outputs = rng.integers(-60 if low else 40, -20 if low else 127, size=(n, 8)).astype(np.int8)
    if favour is not None:
        outputs[:, favour] = 127
    shadow = None
    if shadow_agree is not None:
        shadow = outputs.copy()
        flip = rng.random(n) >= shadow_agree
        shadow[flip] = np.roll(outputs[flip], 1, axis=1)
    return accumulate(inputs, outputs, LAYOUT, shadow)


def test_canary_like_its_control_group_passes() -> None:
    control = merge([window(1), window(2)])
    problems, figures = compare(window(3), control, RULES)
    assert problems == [] and figures["inferences"] == 400 and figures["control_inferences"] == 800


@pytest.mark.parametrize(("canary", "expected"), [
    ({"favour": 7}, "class distribution differs from the control group's"),
    ({"low": True}, "mean confidence of output 0 is"),
    ({"inputs_offset": 90}, "input drift against the control group"),
    ({"n": 50}, "reported 50 inferences within 120 s, 200 needed"),
])
def test_diverging_canary_is_named(canary: dict, expected: str) -> None:
    problems, _ = compare(window(3, **canary), merge([window(1), window(2)]), RULES)
    assert any(expected in p for p in problems), problems


def test_another_layout_cannot_be_compared() -> None:
    other = accumulate(np.zeros((300, 16), np.int8), np.zeros((300, 4), np.int8), layout_for(16, [4]))
    problems, _ = compare(other, window(1), RULES)
    assert problems and "differs from the control group's" in problems[0]


def test_shadow_verdict() -> None:
    assert shadow_verdict(window(1, shadow_agree=0.97), RULES)[0] == []
    problems, figures = shadow_verdict(window(1, shadow_agree=0.5), RULES)
    assert figures["shadow_runs"] == 400 and "below 90%" in problems[0]
    assert "100 shadow runs within 120 s, 200 needed" in shadow_verdict(window(1, 100, shadow_agree=1.0), RULES)[0][0]
    assert "0 shadow runs" in shadow_verdict(None, RULES)[0][0]
