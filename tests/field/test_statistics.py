"""The statistics layout: `accumulate` against a per-inference integer loop written like the firmware will be,
named edge cases (bin edges, saturation, groups), and reference statistics from a real .tflite model."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests import tflite_models as tm
from tests.field.conftest import LAYOUT
from tinyml.device.statistics import (
    U32_MAX,
    OutputLayout,
    StatsLayout,
    WindowStats,
    accumulate,
    bin_of,
    empty,
    layout_for,
    load_statistics,
    reference_statistics,
    stats_path,
)
from tinyml.errors import TinymlError
from tinyml.field.simulate import random_inputs, toy_model


def device_loop(x: np.ndarray, y: np.ndarray, layout: StatsLayout) -> dict:
    """What the C code does, one value at a time, in Python integers with uint32 saturation."""
    def inc(v: int, by: int = 1) -> int:
        return min(v + by, U32_MAX)

    ch, out = layout.channels, layout.outputs[0]
    hist = [[0] * layout.bins for _ in range(ch)]
    count, total, squares = [0] * ch, [0] * ch, [0] * ch
    classes, conf, low, n = [0] * out.classes, [0] * out.confidence_bins, 0, 0
    for sample, scores in zip(x, y, strict=True):
        n = inc(n)
        for row in sample.reshape(-1, sample.shape[-1]):
            for i, v in enumerate(int(v) for v in row):
                c = i // layout.group
                hist[c][((v + 128) * layout.bins) >> 8] = inc(hist[c][((v + 128) * layout.bins) >> 8])
                count[c], total[c], squares[c] = inc(count[c]), total[c] + v, squares[c] + v * v
        best = 0
        for k in range(1, len(scores)):
            if scores[k] > scores[best]:
                best = k
        classes[best] = inc(classes[best])
        top = int(scores[best])
        conf[((top + 128) * out.confidence_bins) >> 8] += 1
        low += top < out.low_confidence_q
    return {"hist": hist, "count": count, "sum": total, "sumsq": squares, "classes": classes, "conf": conf,
            "low": low, "n": n}


@pytest.mark.parametrize("bins,group", [(16, 1), (8, 2), (5, 3), (256, 1), (1, 10)])
def test_accumulate_is_the_device_loop(bins, group):
    rng = np.random.default_rng(bins * 7 + group)
    x = random_inputs(rng, 12, scale=60.0)
    y = toy_model(x, 4)
    layout = layout_for(10, [4], bins=bins, group=group)
    got, want = accumulate(x, y, layout), device_loop(x, y, layout)
    assert got.hist.tolist() == want["hist"] and got.count.tolist() == want["count"]
    assert got.sum.tolist() == want["sum"] and got.sumsq.tolist() == want["sumsq"]
    assert got.outputs[0].class_hist.tolist() == want["classes"]
    assert got.outputs[0].confidence_hist.tolist() == want["conf"]
    assert (got.outputs[0].low_confidence, got.inferences) == (want["low"], want["n"])


def test_bin_edges_are_equal_width_over_the_int8_range():
    values = np.arange(-128, 128, dtype=np.int8)
    assert bin_of(values, 16).tolist() == [v // 16 for v in range(256)]
    assert bin_of(np.array([-128, 127], np.int8), 16).tolist() == [0, 15]
    assert np.bincount(bin_of(values, 5)).tolist() == [52, 51, 51, 51, 51]


def test_counters_saturate_and_never_wrap():
    layout = StatsLayout(1, (OutputLayout(2),), bins=2)
    full = empty(layout)
    full = WindowStats(layout, U32_MAX - 1, full.hist + U32_MAX - 1, full.count + U32_MAX - 1, full.sum,
                       full.sumsq, full.outputs)
    one = accumulate(np.array([[5], [7]], np.int8), np.array([[1, 0], [0, 1]], np.int8), layout)
    merged = full.merge(one)
    assert merged.inferences == U32_MAX and merged.count.tolist() == [U32_MAX]
    assert merged.hist.tolist() == [[U32_MAX - 1, U32_MAX]]


def test_merging_windows_equals_accumulating_them_together():
    rng = np.random.default_rng(3)
    a, b = random_inputs(rng, 7), random_inputs(rng, 5)
    both = accumulate(np.concatenate([a, b]), toy_model(np.concatenate([a, b]), 4), LAYOUT)
    merged = accumulate(a, toy_model(a, 4), LAYOUT).merge(accumulate(b, toy_model(b, 4), LAYOUT))
    assert json.dumps(merged.to_json()) == json.dumps(both.to_json())


def test_a_layout_mismatch_is_one_clear_error():
    with pytest.raises(TinymlError, match="12 features and 1 output"):
        accumulate(np.zeros((2, 12), np.int8), np.zeros((2, 4), np.int8), LAYOUT)
    with pytest.raises(TinymlError, match="int8"):
        accumulate(np.zeros((2, 10), np.float32), np.zeros((2, 4), np.int8), LAYOUT)


def _classifier(path):
    """A real int8 model: FULLY_CONNECTED 10 -> 4, then SOFTMAX, written with the flatbuffer schema."""
    rng = np.random.default_rng(0)
    b = tm.GraphBuilder()
    x = b.input((1, 10), tm.QParams.per_tensor(0.05, 0))
    fc = tm.fully_connected(b, x, rng.integers(-127, 128, (4, 10)), [0.01], rng.integers(-50, 50, 4),
                            tm.QParams.per_tensor(0.1, 0))
    b.output(tm.softmax(b, fc))
    path.write_bytes(b.to_bytes())
    return path


def test_reference_statistics_of_a_tflite_model_are_saved_beside_it(tmp_path):
    model = _classifier(tmp_path / "clf.tflite")
    samples = np.random.default_rng(1).integers(-128, 128, (200, 10)).astype(np.int8)
    stats = reference_statistics(model, samples)
    outputs = np.concatenate([tm.run_reference(model.read_bytes(), [s[None]])[0] for s in samples])
    assert stats.layout == layout_for(10, [4])  # softmax output: 1/256, -128 -> low confidence below q 0
    expected = accumulate(samples, outputs, stats.layout)
    assert stats.to_json() == expected.to_json()
    saved = stats_path(model)
    assert saved.name == "clf.stats.json" and load_statistics(saved).to_json() == stats.to_json()
    assert not list(tmp_path.glob(".clf.stats.json.*"))  # the temporary file was renamed


def test_a_bad_statistics_file_names_itself(tmp_path):
    bad = tmp_path / "stats.json"
    bad.write_text('{"format": 1, "layout": {}}')
    with pytest.raises(TinymlError, match=r"stats.json: not a tinyml statistics file"):
        load_statistics(bad)
    with pytest.raises(TinymlError, match="cannot read"):
        load_statistics(tmp_path / "missing.json")


def test_trailing_dimensions_of_one_are_not_the_channels():
    x = random_inputs(np.random.default_rng(4), 3)  # (3, 49, 10)
    y = toy_model(x, 4)
    assert accumulate(x[..., None], y, LAYOUT).to_json() == accumulate(x, y, LAYOUT).to_json()


def test_sums_saturate_at_their_64_bit_limits():
    from tinyml.device.statistics import I64_MAX, I64_MIN, U64_MAX, _sat_i64, _sat_u64

    big = np.array([I64_MAX - 1, I64_MIN + 1, 5], np.int64)
    assert _sat_i64(big, np.array([5, -5, -7], np.int64)).tolist() == [I64_MAX, I64_MIN, -2]
    assert _sat_u64(np.array([U64_MAX - 1, 3], np.uint64), np.array([9, 4], np.uint64)).tolist() == [U64_MAX, 7]
