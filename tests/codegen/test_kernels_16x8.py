"""The 16x8 kernels (int16 activations, int8 weights, int64 bias: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
AVERAGE_POOL_2D, MAX_POOL_2D, and the float edges QUANTIZE / DEQUANTIZE) byte for byte against the TFLite
interpreter on the host: random shapes, strides, padding, dilation, depth multipliers, per-channel and per-tensor
weights, fused activations, with and without bias, and the named edge cases of `s16_models` (full-scale and zero
inputs, saturating outputs, multipliers above 1). Once more under AddressSanitizer and
UBSan (a smaller draw). Malformed 16x8 operators are refused with one line naming the operator and tensor."""
from __future__ import annotations

import numpy as np
import pytest

from tests.codegen.s16_models import OPS, Int16Builder, random_case
from tests.host_batch import BatchCase, run_batch
from tests.tflite_models import QParams, conv_2d, fully_connected, run_reference
from tinyml.compiler.codegen import compile_graph
from tinyml.compiler.ir.reader import parse_tflite
from tinyml.device.targets.host import SANITIZE_ENV
from tinyml.errors import TinymlError

CASES_PER_OP = 24
SANITIZED_CASES_PER_OP = 6
SAMPLES_PER_CASE = 3


def _samples(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The case's own input, a full-scale one and fresh random ones, stacked along a new sample axis."""
    if x.dtype == np.float32:
        extra = [(x * rng.uniform(0.5, 1.5, size=x.shape)).astype(np.float32) for _ in range(SAMPLES_PER_CASE - 1)]
    else:
        extra = [rng.choice(np.array([-32768, 32767], dtype=np.int16), size=x.shape)]
        extra += [rng.integers(-32768, 32768, size=x.shape, dtype=np.int16) for _ in range(SAMPLES_PER_CASE - 2)]
    return np.stack([x, *extra])


def check_s16(ops: tuple[str, ...], cases_per_op: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    cases = [random_case(op, rng) for op in ops for _ in range(cases_per_op)]
    batch = [BatchCase(c.model, [_samples(x, rng) for x in c.inputs]) for c in cases]
    ours = run_batch(batch)
    failures = []
    for case, item, got in zip(cases, batch, ours, strict=True):
        for i in range(SAMPLES_PER_CASE):
            want = run_reference(case.model, [x[i] for x in item.inputs])
            for w, g in zip(want, got, strict=True):
                if not np.array_equal(w.view(np.uint8), g[i].view(np.uint8)):
                    diff = np.abs(w.astype(np.float64) - g[i].astype(np.float64))
                    failures.append(f"{case.op} {case.params} sample {i}: {int((diff > 0).sum())} of {diff.size} "
                                    f"differ, max {diff.max()}")
    assert not failures, f"{len(failures)} mismatches, first: {failures[0]}"


def test_s16_operators_match_tflite() -> None:
    """All the operators in one host build (one compile: the test's time is mostly the C compiler)."""
    check_s16(OPS, CASES_PER_OP, seed=1608)


def test_s16_operators_clean_under_sanitizers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SANITIZE_ENV, "1")
    check_s16(OPS, SANITIZED_CASES_PER_OP, seed=16)


def _conv16(wide_bias: bool = True, input_zero_point: int = 0) -> bytes:
    b = Int16Builder(wide_bias)
    x = b.input((1, 4, 4, 2), QParams.per_tensor(1e-3, input_zero_point))
    b.output(conv_2d(b, x, np.ones((3, 3, 3, 2), np.int8), [1e-2] * 3, np.zeros(3, np.int32),
                     QParams.per_tensor(1e-2)))
    return b.to_bytes()


@pytest.mark.parametrize(("model", "message"), [
    (lambda: _conv16(input_zero_point=5), "int16 tensor 0 't0' has zero point 5; int16 activations must be symmetric"),
    (lambda: _conv16(wide_bias=False), "bias 't2' is int32; with int16 activations only int64 bias"),
])
def test_malformed_16x8_refused_with_one_line(model, message: str, tmp_path) -> None:
    with pytest.raises(TinymlError) as err:
        compile_graph(parse_tflite(model(), "bad.tflite"), tmp_path)
    assert message in str(err.value) and "operator 0 (CONV_2D)" in str(err.value) and "\n" not in str(err.value)


def test_fully_connected_without_bias_and_per_channel_weights_exact() -> None:
    """The interpreter's two 16x8 FULLY_CONNECTED paths (int64 bias: one rounding of the exact product; no bias:
    its int32 GEMM's rounding) on a case built to tell them apart: outputs that fall near a half."""
    rng = np.random.default_rng(3)
    for bias in (None, rng.integers(-10**6, 10**6, size=16).astype(np.int32)):
        b = Int16Builder()
        x = b.input((1, 64), QParams.per_tensor(3e-4))
        scales = list(np.exp(rng.uniform(np.log(1e-3), np.log(1e-2), 16)))
        b.output(fully_connected(b, x, rng.integers(-127, 128, (16, 64), dtype=np.int8), scales, bias,
                                 QParams.per_tensor(2e-3)))
        model = b.to_bytes()
        inputs = [rng.integers(-32768, 32768, size=(200, 1, 64), dtype=np.int16)]
        got = run_batch([BatchCase(model, inputs)])[0][0]
        want = np.stack([run_reference(model, [inputs[0][i]])[0] for i in range(200)])
        assert np.array_equal(got, want), f"bias {bias is not None}: {int((got != want).sum())} differ"
