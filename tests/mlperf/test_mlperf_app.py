"""Which benchmark a model is, how the runner's bytes become its input, and what it reports (mlperf_config.h)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tinyml.compiler.codegen import TensorInfo
from tinyml.device.mlperf_app import mlperf_app
from tinyml.errors import TinymlError


def t(shape: tuple[int, ...], dtype: str = "int8") -> TensorInfo:
    return TensorInfo(name="t", dtype=dtype, shape=shape, scale=0.5, zero_point=0)


@pytest.mark.parametrize("shape, out, model_id, fmt, result, db_bytes", [
    ((1, 49, 10, 1), (1, 12), "kws01", "raw", "scores", 490),
    ((1, 96, 96, 3), (1, 2), "vww01", "uint8", "scores", 27648),
    ((1, 32, 32, 3), (1, 10), "ic01", "uint8", "scores", 3072),
    ((1, 640), (1, 640), "ad01", "float", "mse", 2560),
    ((1, 20), (1, 4), "my_model_v2", "raw", "scores", 20),
])
def test_official_models_by_their_input_and_others_by_name(shape, out, model_id, fmt, result, db_bytes) -> None:
    app = mlperf_app(Path("dir/my model+v2.tflite"), [t(shape)], [t(out)])
    assert (app.model_id, app.input_format, app.result, app.db_bytes) == (model_id, fmt, result, db_bytes)
    assert app.staging_bytes == (640 if fmt == "float" else 1)


def test_an_explicit_id_wins() -> None:
    app = mlperf_app(Path("tiny_kws.tflite"), [t((1, 40, 10, 1))], [t((1, 12))], "kws01")
    assert (app.model_id, app.db_bytes) == ("kws01", 400)


@pytest.mark.parametrize("inputs, outputs, model_id, message", [
    ([t((1, 49, 10, 1))], [t((1, 12))], "kws02", "--mlperf-model 'kws02': expected one of"),
    ([t((1, 4)), t((1, 4))], [t((1, 2))], None, "needs one input and one output"),
    ([t((1, 640))], [t((1, 10))], None, "the input has 640 elements and the output 10"),
    ([t((1, 32, 32, 3), "float32")], [t((1, 10))], "ic01", "needs an int8 output and an int8 input"),
    ([t((1, 8))], [t((1, 2), "float32")], None, "needs an int8 output"),
])
def test_models_the_app_cannot_serve(inputs, outputs, model_id, message) -> None:
    with pytest.raises(TinymlError, match=message) as info:
        mlperf_app(Path("m.tflite"), inputs, outputs, model_id)
    assert info.value.exit_code == 2
