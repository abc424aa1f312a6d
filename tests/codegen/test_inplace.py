"""In-place convolutions (tm_conv_inplace_s8) and the fused residual CONV_2D + ADD (tm_conv2d_add_s8) against the
TFLite reference, byte for byte: random single convolutions forced in place whatever the ring costs (every
geometry: strides, dilations, padding, depth multipliers, growing and shrinking channels), MobileNet-like chains and
residual blocks in place as the generator chooses, and random networks (which must exercise both paths)."""
from __future__ import annotations

import numpy as np
import pytest

import tinyml.compiler.codegen.compiler as compiler
from tests.forcing import force_inplace, force_low_scratch
from tests.host_batch import BatchCase, run_batch
from tests.tflite_models import (
    GraphBuilder,
    _add_conv,
    _add_depthwise,
    _choice,
    random_case,
    random_network,
    random_qp,
    residual_blocks,
    run_reference,
)
from tinyml.compiler.codegen.target import Target

DSP = Target("host", dsp=True)

SAMPLES = 4


class _Counter:
    """Wraps the compiler's last in-place step and its fusion step to count what the compiled models used."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.inplace = self.fused = 0
        keep, fuse = compiler._inplace_only_where_it_pays, compiler.fuse_conv_add

        def counting_keep(graph, lowered):
            out = keep(graph, lowered)
            self.inplace += sum(low.overlap_input is not None for low in out)
            return out

        def counting_fuse(graph):
            out = fuse(graph)
            self.fused += len(graph.operators) - len(out.operators)
            return out

        monkeypatch.setattr(compiler, "_inplace_only_where_it_pays", counting_keep)
        monkeypatch.setattr(compiler, "fuse_conv_add", counting_fuse)


def _samples(inputs: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    return [np.stack([x] + [rng.integers(-128, 128, size=x.shape, dtype=np.int8) for _ in range(SAMPLES - 1)])
            for x in inputs]


def _check(models: list[tuple[bytes, list[np.ndarray]]], rng: np.random.Generator, target=None) -> None:
    batch = [BatchCase(model, _samples(inputs, rng)) for model, inputs in models]
    ours = run_batch(batch, target=target)
    failures = []
    for k, (item, got) in enumerate(zip(batch, ours)):
        for i in range(SAMPLES):
            want = run_reference(item.model, [x[i] for x in item.inputs])
            for w, g in zip(want, got):
                if not np.array_equal(w.view(np.uint8), g[i].view(np.uint8)):
                    failures.append(f"model {k} sample {i}: {int((w != g[i]).sum())} of {w.size} differ")
    assert not failures, f"{len(failures)} mismatches, first: {failures[0]}"


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D"])
def test_forced_inplace_convolutions_match_tflite(op: str, monkeypatch: pytest.MonkeyPatch) -> None:
    force_inplace(monkeypatch)
    counter = _Counter(monkeypatch)
    rng = np.random.default_rng(sum(map(ord, op)) + 5)
    cases = [random_case(op, rng) for _ in range(150)]
    _check([(c.model, c.inputs) for c in cases], rng)
    assert counter.inplace == len(cases)


def _image(rng: np.random.Generator, b: GraphBuilder, max_size: int = 14, max_channels: int = 16) -> int:
    shape = (1, int(rng.integers(1, max_size + 1)), int(rng.integers(1, max_size + 1)),
             int(rng.integers(1, max_channels + 1)))
    return b.input(shape, random_qp(rng, 1e-2, 1e-1))


def _geometry(rng: np.random.Generator, kernel: int, stride: int) -> dict:
    return {"kernel": (kernel, kernel), "stride": (stride, stride), "dilation": (1, 1),
            "padding": _choice(rng, ["SAME", "SAME", "VALID"])}


def _mobilenet_chain(rng: np.random.Generator) -> tuple[bytes, list[np.ndarray]]:
    """conv -> (depthwise 3x3 stride 1 or 2 -> pointwise growing or shrinking) x n, every input dying."""
    b = GraphBuilder()
    x = _image(rng, b, max_size=20)
    geometry = _geometry(rng, 3, int(rng.integers(1, 3)))
    if min(b.tensors[x].shape[1:3]) < 3:
        geometry["padding"] = "SAME"
    x = _add_conv(rng, b, x, int(rng.integers(2, 17)), geometry)
    for _ in range(int(rng.integers(1, 4))):
        if min(b.tensors[x].shape[1:3]) < 3:
            break
        x = _add_depthwise(rng, b, x, _choice(rng, [1, 1, 1, 2]), _choice(rng, ["RELU", "RELU6", "NONE"]))
        channels = b.tensors[x].shape[3]
        x = _add_conv(rng, b, x, max(1, int(channels * _choice(rng, [0.5, 1, 2, 3]))), _geometry(rng, 1, 1))
    b.output(x)
    return b.to_bytes(), [rng.integers(-128, 128, size=b.tensors[i].shape, dtype=np.int8) for i in b.inputs]


def _residual(rng: np.random.Generator) -> tuple[bytes, list[np.ndarray]]:
    b = GraphBuilder()
    residual_blocks(rng, b)
    return b.to_bytes(), [rng.integers(-128, 128, size=b.tensors[i].shape, dtype=np.int8) for i in b.inputs]


def test_mobilenet_chains_in_place_match_tflite(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _Counter(monkeypatch)
    rng = np.random.default_rng(55)
    _check([_mobilenet_chain(rng) for _ in range(60)], rng)
    assert counter.inplace >= 30  # kept only where it lowers the arena (about one layer in two chains here)


def test_residual_blocks_fused_match_tflite(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _Counter(monkeypatch)
    rng = np.random.default_rng(56)
    _check([_residual(rng) for _ in range(60)], rng)
    assert counter.fused >= 60


def test_random_networks_exercise_inplace_and_fusion(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _Counter(monkeypatch)
    rng = np.random.default_rng(57)
    cases = [random_network(rng) for _ in range(40)]
    _check([(c.model, c.inputs) for c in cases if all(x.dtype == np.int8 for x in c.inputs)], rng)
    assert counter.inplace > 0 and counter.fused > 0, (counter.inplace, counter.fused)


@pytest.mark.parametrize("op, low", [(op, low) for op in ("CONV_2D", "DEPTHWISE_CONV_2D") for low in (False, True)])
def test_forced_inplace_dsp_convolutions_match_tflite(op: str, low: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    force_inplace(monkeypatch)
    if low:
        force_low_scratch(monkeypatch)
    counter = _Counter(monkeypatch)
    rng = np.random.default_rng(sum(map(ord, op)) + 6 + low)
    cases = [random_case(op, rng) for _ in range(100)]
    _check([(c.model, c.inputs) for c in cases], rng, DSP)
    assert counter.inplace >= len(cases) // 2


@pytest.mark.parametrize("op", ["CONV_2D", "FULLY_CONNECTED"])
def test_low_scratch_dsp_variants_match_tflite(op: str, monkeypatch: pytest.MonkeyPatch) -> None:
    force_low_scratch(monkeypatch)
    rng = np.random.default_rng(sum(map(ord, op)) + 8)
    cases = [random_case(op, rng) for _ in range(100)]
    _check([(c.model, c.inputs) for c in cases], rng, DSP)
    _check([(c.model, c.inputs) for c in cases[:50]], rng, Target("host", dsp=True, wide_fc=True))


@pytest.mark.parametrize("low", [False, True])
def test_residual_blocks_fused_dsp_match_tflite(low: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if low:
        force_low_scratch(monkeypatch)
    counter = _Counter(monkeypatch)
    rng = np.random.default_rng(58 + low)
    _check([_residual(rng) for _ in range(60)], rng, DSP)
    assert counter.fused >= 60


def test_dsp_chains_and_random_networks_match_tflite(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _Counter(monkeypatch)
    rng = np.random.default_rng(60)
    cases = [random_network(rng) for _ in range(30)]
    models = [(c.model, c.inputs) for c in cases if all(x.dtype == np.int8 for x in c.inputs)]
    _check(models + [_mobilenet_chain(rng) for _ in range(30)], rng, DSP)
    assert counter.inplace >= 15, counter.inplace  # in place only where it lowers the arena


def _pointwise_chain(rng: np.random.Generator) -> tuple[bytes, list[np.ndarray]]:
    """1x1 convolutions keeping, shrinking or (one in four) growing the channels on an odd number of pixels, every
    input dying."""
    b = GraphBuilder()
    shape = (1, int(rng.integers(1, 8)) * 2 + 1, int(rng.integers(1, 6)) * 2 + 1, int(rng.integers(4, 33)))
    x = b.input(shape, random_qp(rng, 1e-2, 1e-1))
    for _ in range(int(rng.integers(1, 4))):
        channels = b.tensors[x].shape[3]
        grown = channels + int(rng.integers(1, channels + 1))
        out_c = grown if rng.random() < 0.25 else max(1, channels - int(rng.integers(0, channels // 2 + 1)))
        x = _add_conv(rng, b, x, out_c, _geometry(rng, 1, 1))
    b.output(x)
    return b.to_bytes(), [rng.integers(-128, 128, size=b.tensors[i].shape, dtype=np.int8) for i in b.inputs]


def test_pointwise_dsp_in_place_without_ring_matches_tflite(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DSP pointwise convolution that keeps or shrinks the channels runs in place with no ring (one kernel call
    over every pixel, outputs written over pixels already read), int8 and int16 weights; one that grows them keeps
    its ring."""
    force_inplace(monkeypatch)
    rings: list[tuple[bool, int]] = []  # (grows the channels, ring rows) of every in-place im2col layer
    make = compiler.make_inplace

    def recording(op, ctx, low):
        out = make(op, ctx, low)
        if low.variant is not None and low.variant.mode == "im2col":  # not the low-scratch (direct) retries
            grows = ctx.tensor(op, 0, outputs=True).shape[3] > ctx.tensor(op, 0).shape[3]
            rings.extend((grows, d.value[0]) for d in out.decls if d.ctype == "tm_inplace_params")
        return out

    monkeypatch.setattr(compiler, "make_inplace", recording)
    rng = np.random.default_rng(61)
    models = [_pointwise_chain(rng) for _ in range(30)]
    _check(models, rng, DSP)
    _check(models[:15], rng, Target("host", dsp=True, wide_fc=True))
    assert sum(not grows for grows, _ in rings) >= 30 and sum(grows for grows, _ in rings) >= 5, rings
    assert all((ring == 0) == (not grows) for grows, ring in rings), rings
