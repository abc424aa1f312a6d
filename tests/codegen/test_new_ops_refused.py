"""What the second set of operators (issue 14) refuses, each with one line naming the file, operator, version and
what is wrong (exit code BAD_INPUT): operator versions the kernel tests do not cover, quantizations the interpreter
itself refuses, STRIDED_SLICE masks tinyml does not implement, copies of more dimensions than the kernel has."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

import tests.tflite_models as models
from tests.tflite_models import GraphBuilder, QParams
from tinyml.compiler.codegen import compile_graph
from tinyml.compiler.ir.reader import parse_tflite
from tinyml.errors import BAD_INPUT, TinymlError

QP = QParams.per_tensor(0.05, 3)


def _refusal(b: GraphBuilder, tmp_path: Path) -> str:
    with pytest.raises(TinymlError) as error:
        compile_graph(parse_tflite(b.to_bytes(), "case.tflite"), tmp_path / "out")
    assert error.value.exit_code == BAD_INPUT
    message = str(error.value)
    assert "\n" not in message and message.startswith("case.tflite: operator 0 (")
    assert not (tmp_path / "out" / "model.c").exists()
    return message


def test_untested_version_is_refused_with_op_version_and_tensor(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(models._OP_VERSIONS, "SUB", 5)
    b = GraphBuilder()
    b.output(models.sub(b, b.input((1, 4), QP), b.input((1, 4), QP), QP))
    assert "SUB version 5 (output tensor 2 't2') is not supported; tinyml compiles SUB version 2" in _refusal(b,
                                                                                                        tmp_path)


def test_hard_swish_output_scale_the_interpreter_refuses(tmp_path: Path) -> None:
    b = GraphBuilder()
    b.output(models.hard_swish(b, b.input((1, 8), QParams.per_tensor(1.0, 0)), QParams.per_tensor(1 / 256, 0)))
    assert "below input scale / 128" in _refusal(b, tmp_path)


def test_squared_difference_output_scale_the_interpreter_refuses(tmp_path: Path) -> None:
    b = GraphBuilder()
    x = b.input((1, 4), QParams.per_tensor(1.0, 0))
    b.output(models.squared_difference(b, x, b.input((1, 4), QParams.per_tensor(1.0, 0)), QParams.per_tensor(1e-4)))
    assert "too small" in _refusal(b, tmp_path)


def test_strided_slice_ellipsis_mask_is_refused(tmp_path: Path) -> None:
    b = GraphBuilder()
    x = b.input((1, 4, 4), QP)
    y = models.strided_slice(b, x, [0, 0, 0], [1, 2, 2], [1, 1, 1])
    b._operators[-1].builtinOptions.ellipsisMask = 2
    b.output(y)
    assert "ellipsisMask is not supported" in _refusal(b, tmp_path)


def test_transpose_needing_more_copy_dimensions_than_the_kernel_has(tmp_path: Path) -> None:
    b = GraphBuilder()
    b.output(models.transpose(b, b.input((2,) * 7, QP), list(range(7))[::-1]))
    assert "at most 6" in _refusal(b, tmp_path)


def test_arg_max_int16_output_is_refused(tmp_path: Path) -> None:
    b = GraphBuilder()
    x = b.input((1, 5), QP)
    options = schema.ArgMaxOptionsT()
    options.outputType = schema.TensorType.INT16
    b.output(b.op("ARG_MAX", [x, b.const(np.array([1], dtype=np.int32))], (1,), None, options,
                  out_dtype=schema.TensorType.INT16))
    assert "is int16; int32 or int64 indices are supported" in _refusal(b, tmp_path)
