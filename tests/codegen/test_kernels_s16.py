"""16x8 ADD, MUL, SOFTMAX, LOGISTIC and TANH (int16 activations) against the TFLite interpreter, byte for byte:
random shapes and scales with named edge cases (tests/codegen/s16_cases.py), several inputs per case including the
int16 extremes, all in one host build; every int16 input of LOGISTIC and TANH; the scales and options TFLite computes
with other kernels refused with one clear line. (tests/codegen/test_converter_s16.py holds the cases to what the real
TFLite converter writes.)"""
from __future__ import annotations

import numpy as np
import pytest

from tests.codegen.s16_cases import EDGES_S16, INT16, OPS_S16, OUTPUT_QP, random_case_s16, samples_s16
from tests.host_batch import BatchCase, run_batch
from tests.tflite_models import GraphBuilder, QParams, run_reference, schema
from tinyml.compiler.codegen import compile_graph
from tinyml.compiler.ir.reader import parse_tflite
from tinyml.errors import TinymlError

CASES_PER_OP = 30
SAMPLES_PER_CASE = 4


@pytest.fixture(scope="module")
def random_results() -> dict[str, list[str]]:
    """Every operator's random cases, and one more of each of its named edge cases, compiled into one host build and
    run; the mismatches per operator."""
    rng = np.random.default_rng(16)
    cases = [(op, random_case_s16(op, rng)) for op in OPS_S16 for _ in range(CASES_PER_OP)]
    cases += [(op, random_case_s16(op, rng, edge)) for op in OPS_S16 for edge in EDGES_S16[op]]
    batch = [BatchCase(c.model, samples_s16(c.inputs, rng, SAMPLES_PER_CASE)) for _, c in cases]
    failures: dict[str, list[str]] = {op: [] for op in OPS_S16}
    for (op, case), item, got in zip(cases, batch, run_batch(batch), strict=True):
        for i in range(SAMPLES_PER_CASE):
            want = run_reference(case.model, [x[i] for x in item.inputs])
            for w, g in zip(want, got, strict=True):
                if not np.array_equal(w, g[i]):
                    diff = np.abs(w.astype(np.int64) - g[i].astype(np.int64))
                    failures[op].append(f"{case.params} sample {i}: {int((diff > 0).sum())} of {diff.size} differ, "
                                        f"max {diff.max()}")
    return failures


@pytest.mark.parametrize("op", OPS_S16)
def test_operator_s16_matches_tflite(op: str, random_results: dict[str, list[str]]) -> None:
    failures = random_results[op]
    assert not failures, f"{len(failures)} mismatches, first: {failures[0]}"


def _unary_model(op: str, scale: float, size: int) -> bytes:
    b = GraphBuilder()
    x = b.input((1, size), QParams.per_tensor(scale), INT16)
    b.output(b.op(op, [x], (1, size), OUTPUT_QP, out_dtype=INT16))
    return b.to_bytes()


EVERY_INT16 = np.arange(-32768, 32768, dtype=np.int16).reshape(1, 1, -1)


def test_every_int16_input_matches_tflite() -> None:
    """Named edge case `every_int16_input`: LOGISTIC and TANH of all 65536 inputs at input scales from tiny (long
    shifts) to saturating, and a power of two that still takes the general path, so that every entry of the
    generated sigmoid table is read."""
    cases = [(op, scale) for op in ("LOGISTIC", "TANH") for scale in (2.0 ** -10, 3.7e-7, 9.64e-5, 2.07e-4, 3e-3, 0.4)]
    models = [_unary_model(op, scale, EVERY_INT16.size) for op, scale in cases]
    ours = run_batch([BatchCase(m, [EVERY_INT16]) for m in models])
    for (op, scale), model, got in zip(cases, models, ours, strict=True):
        want = run_reference(model, [EVERY_INT16[0]])[0]
        assert np.array_equal(want, got[0][0]), f"{op} scale {scale}: {int((want != got[0][0]).sum())} differ"


def _refused(model: bytes, tmp_path) -> str:
    with pytest.raises(TinymlError) as err:
        compile_graph(parse_tflite(model, "m.tflite"), tmp_path, "tm_model")
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize(("op", "scale"), [("LOGISTIC", 2.0 ** -12), ("TANH", 2.0 ** -12), ("TANH", 2.0 ** -11)])
def test_fixed_point_scales_are_refused(op: str, scale: float, tmp_path) -> None:
    """TFLite computes these input scales with gemmlowp's fixed-point functions, which tinyml does not compile."""
    assert "fixed-point" in _refused(_unary_model(op, scale, 8), tmp_path)


def test_broadcasting_power_of_two_add_and_zero_points_are_refused(tmp_path) -> None:
    """TFLite's power-of-two int16 ADD reads both inputs flat (it does not broadcast); int16 zero points must be 0."""
    b = GraphBuilder()
    qp = QParams.per_tensor(2.0 ** -10)
    x, y = b.input((1, 8), qp, INT16), b.input((1, 1), qp, INT16)
    options = schema.AddOptionsT()
    options.potScaleInt16 = True
    b.output(b.op("ADD", [x, y], (1, 8), qp, options, out_dtype=INT16))
    assert "does not broadcast" in _refused(b.to_bytes(), tmp_path)
    b = GraphBuilder()
    x, y = (b.input((1, 8), QParams.per_tensor(1e-3, 5), INT16) for _ in range(2))
    b.output(b.op("MUL", [x, y], (1, 8), QParams.per_tensor(1e-3), schema.MulOptionsT(), out_dtype=INT16))
    assert "zero point" in _refused(b.to_bytes(), tmp_path)
