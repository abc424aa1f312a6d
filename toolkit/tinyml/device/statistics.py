"""Field statistics: what a device accumulates over a report window, and the reference computed the same way.

The firmware (next) computes exactly what `accumulate` computes, in integer arithmetic, alongside inference:

- per input channel (the feature's last dimension, trailing dimensions of size 1 left out: a KWS input
  49 x 10 x 1 has the 10 MFCC coefficients as channels; optionally pooled in groups of `group` neighbours): an int8
  histogram of `bins` equal-width bins over [-128, 127] (value v falls in bin ((v + 128) * bins) >> 8), the count
  of values, their sum and their sum of squares;
- per output tensor: a histogram of the argmax class (ties: the first maximum), a histogram of the top-1 int8
  value in `confidence_bins` equal-width bins (same rule as above), and a counter of inferences whose top-1 value
  is below `low_confidence_q` (the int8 value of the low-confidence threshold);
- the number of inferences, and the shadow model's runs and agreements (zero without a shadow model).

Counters (histograms, counts, inferences, shadow) are uint32 and saturate at 2^32 - 1, never wrap; because they
only grow, saturating once at the end equals saturating after every addition, so windows merge exactly. Sums are
int64 and sums of squares uint64 (127^2 * 2^32 values fit; they saturate too).

`reference_statistics` runs the model on int8 inputs (the training split, at quantize time) and saves the
result as JSON beside the model (`<model>.stats.json`), written to a temporary file and renamed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.npyio import write_atomically

U32_MAX = 2**32 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
U64_MAX = 2**64 - 1
STATS_FORMAT = 1  # version of the JSON file and of the statistics block in report frames


@dataclass(frozen=True)
class OutputLayout:
    classes: int
    confidence_bins: int = 16
    low_confidence_q: int = 0  # int8 top-1 value below which an inference counts as low-confidence


@dataclass(frozen=True)
class StatsLayout:
    channels: int
    outputs: tuple[OutputLayout, ...]
    bins: int = 16
    group: int = 1  # channel c pools feature indices c*group .. c*group+group-1 of the last dimension

    def __post_init__(self) -> None:
        if not 1 <= self.bins <= 256 or any(not 1 <= o.confidence_bins <= 256 for o in self.outputs):
            raise TinymlError(f"statistics bins must be between 1 and 256, got {self.bins}", BAD_INPUT)
        if self.channels < 1 or self.group < 1 or any(o.classes < 1 for o in self.outputs):
            raise TinymlError("a statistics layout needs at least one channel, group and class", BAD_INPUT)
        if any(not -128 <= o.low_confidence_q <= 127 for o in self.outputs):
            raise TinymlError("low_confidence_q must be an int8 value", BAD_INPUT)

    def to_json(self) -> dict:
        return {"channels": self.channels, "bins": self.bins, "group": self.group,
                "outputs": [vars(o) for o in self.outputs]}

    @staticmethod
    def from_json(data: dict) -> StatsLayout:
        return StatsLayout(int(data["channels"]), tuple(OutputLayout(int(o["classes"]), int(o["confidence_bins"]),
                                                                     int(o["low_confidence_q"]))
                                                        for o in data["outputs"]),
                           int(data["bins"]), int(data.get("group", 1)))


def layout_for(feature_size: int, output_classes: list[int], *, bins: int = 16, group: int = 1,
               confidence_bins: int = 16, low_confidence: float = 0.5,
               output_quant: list[tuple[float, int]] | None = None) -> StatsLayout:
    """The layout for a model: `feature_size` is the input's last dimension, `output_classes` each output's.

    `low_confidence` is a dequantized top-1 value; with each output's (scale, zero point) it becomes the int8
    threshold the device compares against (without quantization: softmax's 1/256, -128).
    """
    quant = output_quant or [(1 / 256, -128)] * len(output_classes)
    outputs = tuple(OutputLayout(k, confidence_bins, int(np.clip(round(low_confidence / s) + z, -128, 127)))
                    for k, (s, z) in zip(output_classes, quant, strict=True))
    return StatsLayout(-(-feature_size // group), outputs, bins, group)


@dataclass(frozen=True)
class OutputStats:
    class_hist: np.ndarray       # (classes,) counts (uint64 arrays holding saturated uint32 values)
    confidence_hist: np.ndarray  # (confidence_bins,)
    low_confidence: int


@dataclass(frozen=True)
class WindowStats:
    layout: StatsLayout
    inferences: int
    hist: np.ndarray      # (channels, bins) counts
    count: np.ndarray     # (channels,)
    sum: np.ndarray       # (channels,) int64
    sumsq: np.ndarray     # (channels,) uint64
    outputs: tuple[OutputStats, ...]
    shadow_runs: int = 0
    shadow_agree: int = 0

    def merge(self, other: WindowStats) -> WindowStats:
        """The statistics of both windows together (what the device would have counted over both)."""
        if other.layout != self.layout:
            raise TinymlError("cannot merge statistics of different layouts", BAD_INPUT)
        return WindowStats(
            self.layout, _sat(self.inferences + other.inferences), _sat(self.hist + other.hist),
            _sat(self.count + other.count), _sat_i64(self.sum, other.sum), _sat_u64(self.sumsq, other.sumsq),
            tuple(OutputStats(_sat(a.class_hist + b.class_hist), _sat(a.confidence_hist + b.confidence_hist),
                              _sat(a.low_confidence + b.low_confidence))
                  for a, b in zip(self.outputs, other.outputs, strict=True)),
            _sat(self.shadow_runs + other.shadow_runs), _sat(self.shadow_agree + other.shadow_agree))

    def to_json(self) -> dict:
        return {"format": STATS_FORMAT, "layout": self.layout.to_json(), "inferences": self.inferences,
                "hist": self.hist.tolist(), "count": self.count.tolist(), "sum": self.sum.tolist(),
                "sumsq": [int(v) for v in self.sumsq], "shadow_runs": self.shadow_runs,
                "shadow_agree": self.shadow_agree,
                "outputs": [{"class_hist": o.class_hist.tolist(), "confidence_hist": o.confidence_hist.tolist(),
                             "low_confidence": o.low_confidence} for o in self.outputs]}

    @staticmethod
    def from_json(data: dict) -> WindowStats:
        layout = StatsLayout.from_json(data["layout"])
        stats = WindowStats(
            layout, int(data["inferences"]), np.asarray(data["hist"], np.uint64).reshape(layout.channels, layout.bins),
            np.asarray(data["count"], np.uint64), np.asarray(data["sum"], np.int64),
            np.asarray([int(v) for v in data["sumsq"]], np.uint64),
            tuple(OutputStats(np.asarray(o["class_hist"], np.uint64), np.asarray(o["confidence_hist"], np.uint64),
                              int(o["low_confidence"])) for o in data["outputs"]),
            int(data.get("shadow_runs", 0)), int(data.get("shadow_agree", 0)))
        stats.check()
        return stats

    def check(self) -> None:
        """Raises ValueError when the arrays do not match the layout."""
        lay = self.layout
        shapes = [(self.hist.shape, (lay.channels, lay.bins)), (self.count.shape, (lay.channels,)),
                  (self.sum.shape, (lay.channels,)), (self.sumsq.shape, (lay.channels,))]
        shapes += [(o.class_hist.shape, (ol.classes,)) for o, ol in zip(self.outputs, lay.outputs, strict=True)]
        shapes += [(o.confidence_hist.shape, (ol.confidence_bins,))
                   for o, ol in zip(self.outputs, lay.outputs, strict=True)]
        bad = [(got, want) for got, want in shapes if got != want]
        if bad:
            raise ValueError(f"statistics arrays shaped {bad[0][0]}, the layout needs {bad[0][1]}")


def empty(layout: StatsLayout) -> WindowStats:
    zeros = np.zeros
    return WindowStats(layout, 0, zeros((layout.channels, layout.bins), np.uint64), zeros(layout.channels, np.uint64),
                       zeros(layout.channels, np.int64), zeros(layout.channels, np.uint64),
                       tuple(OutputStats(zeros(o.classes, np.uint64), zeros(o.confidence_bins, np.uint64), 0)
                             for o in layout.outputs))


def bin_of(values: np.ndarray, bins: int) -> np.ndarray:
    """The device's binning of int8 values: ((v + 128) * bins) >> 8, integers only."""
    return ((values.astype(np.int32) + 128) * bins) >> 8


def accumulate(int8_inputs: np.ndarray, int8_outputs: np.ndarray | list[np.ndarray], layout: StatsLayout,
               shadow_outputs: np.ndarray | None = None) -> WindowStats:
    """The statistics of N inferences: `int8_inputs` shaped (N, ..., F), each output (N, ..., classes).

    `shadow_outputs`: the shadow model's first output for the same N inferences (agreement = same argmax).
    """
    x = _channels_last(np.asarray(int8_inputs))
    outs = [np.asarray(o) for o in (int8_outputs if isinstance(int8_outputs, list) else [int8_outputs])]
    if x.dtype != np.int8 or any(o.dtype != np.int8 for o in outs):
        raise TinymlError("statistics are accumulated over int8 inputs and outputs", BAD_INPUT)
    n = x.shape[0]
    feature = x.shape[-1] if x.ndim > 1 else 1
    if -(-feature // layout.group) != layout.channels or len(outs) != len(layout.outputs):
        raise TinymlError(f"inputs with {feature} features and {len(outs)} output(s) do not match the layout "
                          f"({layout.channels} channels of {layout.group}, {len(layout.outputs)} output(s))",
                          BAD_INPUT)
    values = x.reshape(-1, feature)
    channel = np.broadcast_to(np.arange(feature) // layout.group, values.shape).ravel()
    flat = values.ravel()
    cells = channel * layout.bins + bin_of(flat, layout.bins)
    hist = np.bincount(cells, minlength=layout.channels * layout.bins).astype(np.uint64)
    hist = hist.reshape(layout.channels, layout.bins)
    count = np.bincount(channel, minlength=layout.channels).astype(np.uint64)
    wide = flat.astype(np.int64)
    total = np.zeros(layout.channels, np.int64)
    np.add.at(total, channel, wide)
    squares = np.zeros(layout.channels, np.uint64)
    np.add.at(squares, channel, (wide * wide).astype(np.uint64))
    out_stats = []
    for o, ol in zip(outs, layout.outputs, strict=True):
        scores = o.reshape(n, -1) if o.ndim > 1 else o.reshape(n, 1)
        if scores.shape[1] != ol.classes:
            raise TinymlError(f"an output with {scores.shape[1]} values does not match the layout's {ol.classes} "
                              "classes", BAD_INPUT)
        top = scores.max(axis=1)
        out_stats.append(OutputStats(np.bincount(scores.argmax(axis=1), minlength=ol.classes).astype(np.uint64),
                                     np.bincount(bin_of(top, ol.confidence_bins),
                                                 minlength=ol.confidence_bins).astype(np.uint64),
                                     int((top < ol.low_confidence_q).sum())))
    runs = agree = 0
    if shadow_outputs is not None:
        shadow = np.asarray(shadow_outputs).reshape(n, -1)
        runs, agree = n, int((shadow.argmax(axis=1) == outs[0].reshape(n, -1).argmax(axis=1)).sum())
    return WindowStats(layout, _sat(n), _sat(hist), _sat(count), total, squares,
                       tuple(OutputStats(_sat(s.class_hist), _sat(s.confidence_hist), _sat(s.low_confidence))
                             for s in out_stats), _sat(runs), _sat(agree))


def _channels_last(x: np.ndarray) -> np.ndarray:
    """(N, ..., F) without trailing dimensions of size 1 (a sample keeps at least one dimension)."""
    while x.ndim > 2 and x.shape[-1] == 1:
        x = x[..., 0]
    return x


def _sat(value):
    """uint32 saturation for an int or an array of counts."""
    if isinstance(value, np.ndarray):
        return np.minimum(value.astype(np.uint64), np.uint64(U32_MAX))
    return min(int(value), U32_MAX)


def _sat_i64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """int64 addition that saturates instead of wrapping."""
    with np.errstate(over="ignore"):
        total = a.astype(np.int64) + b.astype(np.int64)
    total[(a > 0) & (b > 0) & (total < 0)] = I64_MAX
    total[(a < 0) & (b < 0) & (total >= 0)] = I64_MIN
    return total


def _sat_u64(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """uint64 addition that saturates instead of wrapping."""
    with np.errstate(over="ignore"):
        total = a.astype(np.uint64) + b.astype(np.uint64)
    total[total < a] = np.uint64(U64_MAX)
    return total


def stats_path(model: Path) -> Path:
    """Where a model's reference statistics live: beside it, `<model>.stats.json`."""
    return Path(model).with_suffix(".stats.json")


def reference_statistics(tflite_path: Path, samples: np.ndarray, *, bins: int = 16, group: int = 1,
                         low_confidence: float = 0.5, out: Path | None = None) -> WindowStats:
    """Reference statistics of `samples` (int8 model inputs, shaped (N, *input shape without the batch of 1)),
    computed with the device's code on the outputs of the LiteRT interpreter, saved beside the model."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = Path(tflite_path)
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=1,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise TinymlError(f"{path}: not a readable .tflite model ({exc})", BAD_INPUT) from exc
    inp = interpreter.get_input_details()[0]
    outs = interpreter.get_output_details()
    x = np.asarray(samples)
    if x.dtype != np.int8 or inp["dtype"] != np.int8 or any(o["dtype"] != np.int8 for o in outs):
        raise TinymlError(f"{path}: reference statistics need an int8 model and int8 samples "
                          f"(got {x.dtype} samples)", BAD_INPUT)
    if tuple(x.shape[1:]) != tuple(inp["shape"][1:]):
        raise TinymlError(f"{path}: samples shaped {x.shape[1:]}, the model takes {tuple(inp['shape'][1:])}",
                          BAD_INPUT)
    results: list[list[np.ndarray]] = [[] for _ in outs]
    for sample in x:
        interpreter.set_tensor(inp["index"], sample[None])
        interpreter.invoke()
        for i, o in enumerate(outs):
            results[i].append(interpreter.get_tensor(o["index"])[0].copy())
    layout = layout_for(int(_channels_last(x).shape[-1]), [int(np.prod(o["shape"][1:])) for o in outs], bins=bins,
                        group=group, low_confidence=low_confidence,
                        output_quant=[(float(o["quantization"][0]) or 1 / 256, int(o["quantization"][1]))
                                      for o in outs])
    stats = accumulate(x, [np.stack(r) for r in results], layout)
    save_statistics(stats, out or stats_path(path))
    return stats


def save_statistics(stats: WindowStats, path: Path) -> None:
    write_atomically(Path(path), (json.dumps(stats.to_json()) + "\n").encode())


def load_statistics(path: Path) -> WindowStats:
    """Reads a reference statistics file; a bad file is one clear line naming it."""
    try:
        data = json.loads(Path(path).read_text())
        if data.get("format") != STATS_FORMAT:
            raise ValueError(f"format {data.get('format')!r}, this tinyml reads format {STATS_FORMAT}")
        return WindowStats.from_json(data)
    except OSError as exc:
        raise TinymlError(f"{path}: cannot read the reference statistics ({exc.strerror})", BAD_INPUT) from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TinymlError(f"{path}: not a tinyml statistics file ({exc}); compute it with "
                          "tinyml.device.statistics.reference_statistics", BAD_INPUT) from exc
