"""SPLIT_V with an empty, unused output, as the TFLite converter writes it in an unrolled GRU with reset_after=False
(its size_splits [units, units, 0]): compiled, the other outputs byte for byte the interpreter's."""
from __future__ import annotations

import numpy as np

from tests import tflite_models as tm
from tests.host_batch import BatchCase, run_batch


def test_split_v_with_an_empty_output_matches_tflite() -> None:
    b = tm.GraphBuilder()
    x = b.input((1, 32), tm.QParams.per_tensor(0.004, -1))
    first, second, empty = tm.split_v(b, x, [16, 16, 0], 1)
    assert b.tensors[empty].shape == (1, 0)
    b.output(first)
    b.output(second)
    model = b.to_bytes()
    inputs = np.random.default_rng(3).integers(-128, 128, size=(4, 1, 32), dtype=np.int8)
    (got,) = run_batch([BatchCase(model, [inputs])])
    for i in range(len(inputs)):
        for want, ours in zip(tm.run_reference(model, [inputs[i]]), got, strict=True):
            assert np.array_equal(want, ours[i])
