"""float32 -> int8 QUANTIZE on inputs half way between two steps, where the TFLite interpreter's two paths round
differently: its SIMD blocks of 8 multiply by the reciprocal of the scale in single precision and round ties to
even; the scalar tail divides in double and rounds ties away from zero. Random sizes put both paths to work."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import tflite_models as tm
from tinyml.compiler.codegen import compile_model
from tinyml.device.targets.host import run_host


@pytest.mark.parametrize("seed", range(4))
def test_quantize_half_way_inputs_match_the_interpreter(seed: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(seed)
    b = tm.GraphBuilder()
    size = int(rng.integers(9, 400))
    scale, zero = float(10 ** rng.uniform(-4, -1)), int(rng.integers(-20, 21))
    x = b.input((1, size), None, tm.FLOAT32)
    b.output(tm.quantize(b, x, tm.QParams.per_tensor(scale, zero)))
    model = tmp_path / "quantize.tflite"
    model.write_bytes(b.to_bytes())
    samples = []
    for _ in range(4):
        halves = rng.integers(-140, 140, size=(1, size)) + 0.5
        samples.append((halves * np.float32(scale) * (1 + rng.normal(0, 1e-7, size=(1, size)))).astype(np.float32))
    got = run_host(compile_model(model, tmp_path / "build"), [np.concatenate(samples)])[0]
    for i, sample in enumerate(samples):
        (want,) = tm.run_reference(b.to_bytes(), [sample])
        assert np.array_equal(got[i], want[0]), f"sample {i}: {int((got[i] != want[0]).sum())} of {size} differ"
