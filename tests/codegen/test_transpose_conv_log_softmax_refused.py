"""What TRANSPOSE_CONV and LOG_SOFTMAX refuse, each in one line naming the file, operator, version and what is wrong
(exit code BAD_INPUT, no model.c written): an output quantization the interpreter refuses too, a computed output
shape, output and filter shapes that do not fit, an operator version the kernel tests do not cover."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tests.tflite_models as models
from tests.codegen.test_new_ops_refused import _refusal
from tests.tflite_models import GraphBuilder, QParams

QP = QParams.per_tensor(0.05, 3)


def _transpose_conv(b: GraphBuilder, out_hw: tuple[int, int] = (4, 4)) -> int:
    x = b.input((1, 2, 2, 3), QP)
    return models.transpose_conv(b, x, np.ones((5, 3, 3, 3), np.int8), [0.01] * 5, None, QP, out_hw, (2, 2))


def test_log_softmax_output_quantization_the_interpreter_refuses(tmp_path: Path) -> None:
    b = GraphBuilder()
    y = models.log_softmax(b, b.input((1, 10), QP))
    b.set_qp(y, QParams.per_tensor(1 / 256, -128))
    b.output(y)
    assert "must have scale 16/256 and zero point 127" in _refusal(b, tmp_path)


def test_transpose_conv_computed_output_shape_is_refused(tmp_path: Path) -> None:
    b = GraphBuilder()
    y = _transpose_conv(b)
    shape = b.input((4,), None, models.INT32)
    b._operators[-1].inputs[0] = shape
    b.output(y)
    assert "output shape 't4' must be a constant tensor" in _refusal(b, tmp_path)


def test_transpose_conv_output_shape_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    b = GraphBuilder()
    y = _transpose_conv(b)
    b._operators[-1].inputs[1] = b.const(np.ones((5, 3, 3, 4), np.int8), QParams.per_channel([0.01] * 5, 0))
    b.output(y)
    assert "do not fit together" in _refusal(b, tmp_path)


def test_transpose_conv_untested_version_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(models._OP_VERSIONS, "TRANSPOSE_CONV", 5)
    b = GraphBuilder()
    b.output(_transpose_conv(b))
    assert "TRANSPOSE_CONV version 5 (output tensor 3 't3') is not supported; tinyml compiles TRANSPOSE_CONV " \
           "version 2, 3, 4" in _refusal(b, tmp_path)
