"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with int4 weights (tm_conv2d_s4, tm_depthwise_conv2d_s4,
tm_fully_connected_s4) byte for byte against the TFLite interpreter's builtin kernels on the host: random shapes,
strides, padding, dilation, fused activations, per-channel and per-tensor scales, zero points, and the named edge
cases of `int4_models` (filter rows of odd length, so rows start mid-byte; only -8 and 7; 1x1; batched FC; FC
without bias); a smaller draw again under ASan/UBSan. Also: the weights stay packed (half the int8 bytes), the
reader unpacks what the converter packs, int4 anywhere but a constant filter (or with an unsupported version or
int16 activations) is refused with one line, and the scratch planned for each kernel is the one its header states."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from tests.codegen.int4_models import INT4, OPS, Int4Builder, pack_nibbles, random_case
from tests.host_batch import BatchCase, run_batch
from tests.tflite_models import (
    INT8,
    GraphBuilder,
    QParams,
    conv_2d,
    depthwise_conv_2d,
    fully_connected,
    run_reference,
)
from tinyml.compiler.codegen import compile_graph
from tinyml.compiler.ir.reader import parse_tflite, unpack_int4
from tinyml.device.targets.host import SANITIZE_ENV
from tinyml.errors import TinymlError

INT16 = schema.TensorType.INT16

CASES_PER_OP = 60
SANITIZED_CASES_PER_OP = 12
SAMPLES_PER_CASE = 3


def check_int4(cases_per_op: int, seed: int) -> set[str]:
    """`cases_per_op` random cases of each operator, SAMPLES_PER_CASE inputs each, in one host build, against the
    interpreter's bytes; returns the named edge cases drawn."""
    rng = np.random.default_rng(seed)
    cases = [random_case(op, rng) for op in OPS for _ in range(cases_per_op)]
    batch = [BatchCase(c.model, [np.stack([x] + [rng.integers(-128, 128, size=x.shape, dtype=np.int8)
                                                 for _ in range(SAMPLES_PER_CASE - 1)]) for x in c.inputs])
             for c in cases]
    ours = run_batch(batch)
    failures = []
    for case, item, got in zip(cases, batch, ours, strict=True):
        for i in range(SAMPLES_PER_CASE):
            (want,) = run_reference(case.model, [x[i] for x in item.inputs])
            if not np.array_equal(want, got[0][i]):
                diff = np.abs(want.astype(np.int32) - got[0][i].astype(np.int32))
                failures.append(f"{case.params} sample {i}: {int((diff > 0).sum())} of {diff.size} differ, "
                                f"max {diff.max()}")
    assert not failures, f"{len(failures)} mismatches, first: {failures[0]}"
    return {c.params["edge"] for c in cases}


def test_int4_operators_match_tflite() -> None:
    assert {"odd_row", "full_range", "one_by_one", "batched", "no_bias"} <= check_int4(CASES_PER_OP, seed=4)


def test_int4_operators_clean_under_sanitizers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A smaller draw under AddressSanitizer and UBSan: the unpacking never reads past the packed filter."""
    monkeypatch.setenv(SANITIZE_ENV, "1")
    check_int4(SANITIZED_CASES_PER_OP, seed=44)


def test_weights_stay_packed(tmp_path) -> None:
    """A 3x3x5 filter of 7 channels: 315 values in 158 bytes of model_weights.c, not 315."""
    b = Int4Builder()
    x = b.input((1, 6, 6, 5), QParams.per_tensor(0.02, 3))
    w = np.random.default_rng(0).integers(-8, 8, size=(7, 3, 3, 5), dtype=np.int8)
    b.output(conv_2d(b, x, w, [0.01] * 7, np.zeros(7, np.int32), QParams.per_tensor(0.1, -4)))
    result = compile_graph(parse_tflite(b.to_bytes(), "int4.tflite"), tmp_path)
    assert result.weights_bytes == 158 + 7 * 4  # the packed filter and the int32 bias
    assert "tm_conv2d_s4" in (tmp_path / "model.c").read_text()


def test_unpack_inverts_tflite_packing() -> None:
    values = np.arange(-8, 8, dtype=np.int8).repeat(3)[:47]  # an odd count: the last byte's high nibble unused
    packed = pack_nibbles(values)
    assert packed[0] == 0x88 and len(packed) == 24
    assert np.array_equal(unpack_int4(packed.tobytes(), values.size), values)


def _int4_activation_model() -> bytes:
    """Two CONV_2Ds; the first one's output (tensor 3, read by the second) claims to be INT4: an int4 activation."""
    b = GraphBuilder()
    x = b.input((1, 4, 4, 2), QParams.per_tensor(0.1))
    y = conv_2d(b, x, np.ones((3, 1, 1, 2), np.int8), [0.1] * 3, np.zeros(3, np.int32), QParams.per_tensor(0.5))
    b.output(conv_2d(b, y, np.ones((2, 1, 1, 3), np.int8), [0.1] * 2, np.zeros(2, np.int32),
                     QParams.per_tensor(0.5)))
    b._tensor_t[y].type = INT4
    return b.to_bytes()


def _int4_conv(versions: dict[str, int] | None = None, input_dtype: int = INT8) -> bytes:
    b = Int4Builder(versions)
    x = b.input((1, 4, 4, 2), QParams.per_tensor(0.1), input_dtype)
    b.output(conv_2d(b, x, np.ones((3, 1, 1, 2), np.int8), [0.1] * 3, np.zeros(3, np.int32), QParams.per_tensor(0.5)))
    return b.to_bytes()


@pytest.mark.parametrize(("model", "message"), [
    (lambda: _int4_conv({"CONV_2D": 3}), "int4 filter 't1': CONV_2D version 3 with int4 weights is not supported; "
                                         "tinyml compiles version 7"),
    (lambda: _int4_conv(input_dtype=INT16), "int4 filter 't1' with int16 input 't0' is not supported"),
])
def test_unsupported_int4_operator_refused_with_one_line(model, message: str, tmp_path) -> None:
    with pytest.raises(TinymlError) as err:
        compile_graph(parse_tflite(model(), "bad4.tflite"), tmp_path)
    assert message in str(err.value) and "operator 0 (CONV_2D)" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "model.c").exists()


def test_int4_activation_refused_with_one_line() -> None:
    with pytest.raises(TinymlError) as err:
        parse_tflite(_int4_activation_model(), "act4.tflite")
    message = str(err.value)
    assert "act4.tflite" in message and "int4" in message and "\n" not in message
    assert "operator 0 (CONV_2D) uses int4 tensor 3 't3' (an activation)" in message


SCRATCH_PROGRAM = r"""
#include <stdio.h>
#include "tinyml/kernels.h"
int main(void) {
  int kh, kw, c, features;
  while (scanf("%d %d %d %d", &kh, &kw, &c, &features) == 4) {
    const tm_dims filter = {1, kh, kw, c};
    printf("%d %d %d\n", tm_conv2d_s4_scratch_bytes(&filter), tm_depthwise_conv2d_s4_scratch_bytes(&filter),
           tm_fully_connected_s4_scratch_bytes(features));
  }
  return 0;
}
"""


def test_scratch_is_what_the_kernels_state(tmp_path) -> None:
    """The scratch the generator plans for each int4 operator equals the kernel's own tm_<kernel>_scratch_bytes
    (compiled on the host against tinyml/kernels.h)."""
    from tinyml.compiler.codegen.context import LoweringContext
    from tinyml.compiler.codegen.ops import lower
    from tinyml.paths import RUNTIME_INCLUDE_DIR

    (tmp_path / "scratch.c").write_text(SCRATCH_PROGRAM)
    subprocess.run(["cc", "-I", str(RUNTIME_INCLUDE_DIR), "-o", str(tmp_path / "scratch"), str(tmp_path / "scratch.c")],
                   check=True)
    shapes = [(3, 2, 5, 37), (1, 1, 1, 1), (5, 5, 16, 256)]
    stated = subprocess.run([str(tmp_path / "scratch")], input="".join(f"{a} {b} {c} {d}\n" for a, b, c, d in shapes),
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for (kh, kw, c, features), line in zip(shapes, stated, strict=True):
        b = Int4Builder()
        x = b.input((1, 6, 6, c), QParams.per_tensor(0.02))
        rng = np.random.default_rng(kh)
        b.output(conv_2d(b, x, rng.integers(-8, 8, (3, kh, kw, c), dtype=np.int8), [0.01] * 3, np.zeros(3, np.int32),
                         QParams.per_tensor(0.1)))
        b.output(depthwise_conv_2d(b, x, rng.integers(-8, 8, (1, kh, kw, c), dtype=np.int8), [0.01] * c,
                                   np.zeros(c, np.int32), QParams.per_tensor(0.1)))
        v = b.input((1, features), QParams.per_tensor(0.02))
        b.output(fully_connected(b, v, rng.integers(-8, 8, (4, features), dtype=np.int8), [0.01], None,
                                 QParams.per_tensor(0.1)))
        graph = parse_tflite(b.to_bytes(), "scratch.tflite")
        planned = [lower(op, LoweringContext(graph, "tm")).scratch_bytes for op in graph.operators]
        assert planned == [int(n) for n in line.split()], (kh, kw, c, features)
