"""MEAN against the TFLite interpreter, byte for byte.

TFLite runs two different integer algorithms (see tinyml/codegen/ops/reduce.py): the 4-D keep_dims mean over
axes {1, 2} (with a channel-dependent rounding from its 16-channel SIMD loop), and a generic one for everything
else. The random cases weigh the spatial mean heavily (channel counts around multiples of 16, keep_dims both ways,
axes written as [1, 2], [2, 1], negative or repeated) and draw the rest over ranks 1..4, any axes (none included),
scales log-uniform in [1e-3, 1] with zero points in [-128, 127], a quarter with the input's quantization.

Compiling is the slow part (~0.17 s per host build), so independent single-MEAN cases are packed several to a
.tflite (each its own input -> MEAN -> output, nothing shared) and every case runs several inputs per build.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tflite_models import GraphBuilder, QParams, mean, run_reference
from tinyml.compiler.codegen import compile_model
from tinyml.device.targets.host import run_host, sample_shape
from tinyml.errors import TinymlError

RANDOM_CASES = 320
CASES_PER_MODEL = 8
SAMPLES = 6


def _qp(rng: np.random.Generator) -> QParams:
    return QParams.per_tensor(float(np.exp(rng.uniform(np.log(1e-3), 0.0))), int(rng.integers(-128, 128)))


def _draw_case(rng: np.random.Generator) -> dict:
    in_qp = _qp(rng)
    out_qp = in_qp if rng.random() < 0.25 else _qp(rng)
    if rng.random() < 0.5:  # spatial mean of NHWC (Keras GlobalAveragePooling2D)
        channels = int(rng.choice([int(rng.integers(1, 16)), int(rng.integers(16, 34)), int(rng.integers(34, 100)),
                                   16 * int(rng.integers(1, 5))]))
        batch = 1 if rng.random() < 0.9 else int(rng.integers(2, 4))
        shape = (batch, int(rng.integers(1, 13)), int(rng.integers(1, 13)), channels)
        axes = [[1, 2], [2, 1], [1, -2], [-3, -2], [1, 2, 1]][int(rng.choice(5, p=[0.6, 0.1, 0.1, 0.1, 0.1]))]
    else:
        rank = int(rng.integers(1, 5))
        shape = tuple(int(rng.integers(1, 9)) for _ in range(rank))
        if rng.random() < 0.8:
            shape = (1,) + shape[1:] if rank > 1 else (int(rng.integers(1, 33)),)
        count = int(rng.integers(0, rank + 1)) if rng.random() < 0.1 else int(rng.integers(1, rank + 1))
        axes = [int(a) - (rank if rng.random() < 0.25 else 0) for a in rng.choice(rank, size=count, replace=False)]
    return {"shape": shape, "axes": axes, "keep_dims": bool(rng.random() < 0.5), "in_qp": in_qp, "out_qp": out_qp}


def _inputs(rng: np.random.Generator, shape: tuple[int, ...], zero_point: int) -> np.ndarray:
    """SAMPLES inputs (stacked on a new leading axis): uniform, near the zero point, constant, extremes."""
    uniform = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(SAMPLES - 3)]
    near = np.clip(np.rint(rng.normal(zero_point, 6.0, size=shape)), -128, 127).astype(np.int8)
    constant = np.full(shape, int(rng.integers(-128, 128)), dtype=np.int8)
    extremes = rng.choice(np.array([-128, 127], dtype=np.int8), size=shape)
    return np.stack(uniform + [near, constant, extremes])


def _model(cases: list[dict]) -> bytes:
    b = GraphBuilder()
    for c in cases:
        x = b.input(c["shape"], c["in_qp"])
        b.output(mean(b, x, c["axes"], c["keep_dims"], c["out_qp"]))
    return b.to_bytes()


def _check(tmp_path: Path, name: str, cases: list[dict], rng: np.random.Generator) -> int:
    """Compiles the packed cases once, runs SAMPLES inputs each, compares with the interpreter; returns #outputs."""
    model = _model(cases)
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(model)
    result = compile_model(path, tmp_path / name)
    inputs = [_inputs(rng, c["shape"], c["in_qp"].zero_point[0]) for c in cases]
    got = run_host(result, [x.reshape((SAMPLES, *sample_shape(t))) for x, t in zip(inputs, result.inputs)])
    got = [g.reshape((SAMPLES, *t.shape)) for g, t in zip(got, result.outputs)]
    compared = 0
    for s in range(SAMPLES):
        expected = run_reference(model, [x[s] for x in inputs])
        for k, c in enumerate(cases):
            assert got[k][s].shape == expected[k].shape, c
            if not np.array_equal(got[k][s], expected[k]):
                diff = np.argwhere(got[k][s] != expected[k])[:5].tolist()
                pytest.fail(f"case {c}, sample {s}: differs at {diff}: got {got[k][s][tuple(np.array(diff).T)]}, "
                            f"expected {expected[k][tuple(np.array(diff).T)]}")
            compared += expected[k].size
    return compared


def test_random_means_match_tflite(tmp_path: Path) -> None:
    rng = np.random.default_rng(20240601)
    cases = [_draw_case(rng) for _ in range(RANDOM_CASES)]
    # Batch-1 models and the rest (rank 1 inputs, batch > 1, reduced batch axis) apart, both well represented.
    def batch1(c: dict) -> bool:
        shape, axes = c["shape"], {a % len(c["shape"]) for a in c["axes"]}
        return len(shape) > 1 and shape[0] == 1 and (c["keep_dims"] or 0 not in axes or len(axes) == len(shape))
    groups = [[c for c in cases if batch1(c)], [c for c in cases if not batch1(c)]]
    assert len(groups[0]) > 200 and len(groups[1]) > 20
    compared = 0
    for g, group in enumerate(groups):
        for start in range(0, len(group), CASES_PER_MODEL):
            compared += _check(tmp_path, f"g{g}_{start}", group[start:start + CASES_PER_MODEL], rng)
    assert compared > 10_000


@pytest.mark.parametrize("keep_dims", [True, False])
@pytest.mark.parametrize("channels", [20, 64])
def test_global_average_pooling(tmp_path: Path, keep_dims: bool, channels: int) -> None:
    """One MEAN per model, as Keras GlobalAveragePooling2D exports it, with differing and equal quantization."""
    rng = np.random.default_rng(channels + keep_dims)
    in_qp = QParams.per_tensor(0.0235, -17)
    for k, out_qp in enumerate([QParams.per_tensor(0.0071, 9), in_qp, QParams.per_tensor(0.5, 120)]):
        _check(tmp_path, f"gap{k}", [{"shape": (1, 7, 7, channels), "axes": [1, 2], "keep_dims": keep_dims,
                                      "in_qp": in_qp, "out_qp": out_qp}], rng)


def test_rejects_rank_5(tmp_path: Path) -> None:
    path = tmp_path / "rank5.tflite"
    path.write_bytes(_model([{"shape": (1, 2, 2, 2, 2), "axes": [1], "keep_dims": True,
                              "in_qp": QParams.per_tensor(0.1, 0), "out_qp": QParams.per_tensor(0.1, 0)}]))
    with pytest.raises(TinymlError, match="rank 5"):
        compile_model(path, tmp_path / "rank5")
