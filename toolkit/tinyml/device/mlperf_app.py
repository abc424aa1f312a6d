"""The MLPerf Tiny app's model settings (`tinyml build --app mlperf`): which benchmark the model is, how the runner's
bytes become its input and what `results` reports. Rendered into `mlperf_config.h` (firmware/templates) by the build.

The four official models are recognised by their input (or named with `--mlperf-model`); the runner's data files
and the reference DUT (mlcommons/tiny benchmark/reference_submissions) fix the rest:

| id | input tensor | the runner sends | results |
|---|---|---|---|
| kws01 | int8 1x49x10x1 | the int8 features | 12 dequantized scores |
| vww01 | int8 1x96x96x3 | uint8 pixels (input = pixel - 128) | 2 dequantized scores |
| ic01 | int8 1x32x32x3 | uint8 pixels (input = pixel - 128) | 10 dequantized scores |
| ad01 | int8 1x640 | float32 values, quantized on the device | 1 anomaly score (*) |

(*) the mean squared error between the float input and the dequantized output, as the reference DUT computes it.

Any other model keeps its own name (the file's stem), receives its input tensor's bytes and reports output 0
dequantized.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinyml.errors import BAD_INPUT, TinymlError

if TYPE_CHECKING:
    from tinyml.compiler.codegen import TensorInfo

MLPERF_MODELS = ("kws01", "vww01", "ic01", "ad01")
# id: (input shape that identifies it, input format, result)
_OFFICIAL = {"kws01": ((1, 49, 10, 1), "raw", "scores"), "vww01": ((1, 96, 96, 3), "uint8", "scores"),
             "ic01": ((1, 32, 32, 3), "uint8", "scores"), "ad01": ((1, 640), "float", "mse")}
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]")
NAME_MAX_CHARS = 32


@dataclass(frozen=True)
class MlperfApp:
    model_id: str        # m-model-[...]
    input_format: str    # "raw", "uint8" or "float" (tm_mlperf_input)
    result: str          # "scores" or "mse" (tm_mlperf_result)
    input_bytes: int     # input 0's tensor bytes
    db_bytes: int        # what `db load N` announces: input_bytes, x4 for float
    staging_bytes: int   # the quantized float input on the device (1 when unused)


def infer_model_id(model_path: Path, inputs: Sequence[TensorInfo]) -> str:
    """kws01/vww01/ic01/ad01 from the input shape of the official models, else the file's stem (sanitised)."""
    if len(inputs) == 1 and inputs[0].dtype == "int8":
        for model_id, (shape, _, _) in _OFFICIAL.items():
            if tuple(inputs[0].shape) == shape:
                return model_id
    return _NAME_CHARS.sub("_", Path(model_path).stem)[:NAME_MAX_CHARS] or "model"


def mlperf_app(model_path: Path, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo],
               model_id: str | None = None) -> MlperfApp:
    """The app's settings for a compiled model; `model_id` (one of MLPERF_MODELS) overrides the inference."""
    if model_id is not None and model_id not in MLPERF_MODELS:
        raise TinymlError(f"--mlperf-model {model_id!r}: expected one of {', '.join(MLPERF_MODELS)}", BAD_INPUT)
    if len(inputs) != 1 or len(outputs) != 1:
        raise TinymlError(f"{model_path}: the MLPerf app needs one input and one output, the model has "
                          f"{len(inputs)} and {len(outputs)}", BAD_INPUT)
    model_id = model_id or infer_model_id(model_path, inputs)
    fmt, result = _OFFICIAL[model_id][1:] if model_id in _OFFICIAL else ("raw", "scores")
    x, y = inputs[0], outputs[0]
    if y.dtype != "int8" or (fmt != "raw" and x.dtype != "int8"):
        raise TinymlError(f"{model_path}: the MLPerf app as {model_id} needs an int8 output"
                          f"{'' if fmt == 'raw' else ' and an int8 input'}; the model has input {x.dtype}, output "
                          f"{y.dtype}", BAD_INPUT)
    elements = _elements(x)
    if result == "mse" and _elements(y) != elements:
        raise TinymlError(f"{model_path}: {model_id} scores the output against the input, but the input has "
                          f"{elements} elements and the output {_elements(y)}", BAD_INPUT)
    input_bytes = elements * _itemsize(x)
    return MlperfApp(model_id=model_id, input_format=fmt, result=result, input_bytes=input_bytes,
                     db_bytes=elements * 4 if fmt == "float" else input_bytes,
                     staging_bytes=input_bytes if fmt == "float" else 1)


def _elements(t: TensorInfo) -> int:
    n = 1
    for d in t.shape:
        n *= d
    return n


def _itemsize(t: TensorInfo) -> int:
    return np.dtype(t.dtype).itemsize
