"""ONNX models: not supported yet. `tinyml quantize model.onnx` says so clearly (exit code 2) instead of failing
somewhere inside a converter. See issue 4 for the plan (onnx2tf, or a small ONNX->Keras importer for Conv, Gemm,
Relu, pooling, Add, Flatten and BatchNormalization, exercised with a PyTorch-exported CNN)."""
from __future__ import annotations

from pathlib import Path

from tinyml.errors import TinymlError


def onnx_to_keras(path: Path):
    raise TinymlError(f"{path}: ONNX import is not supported yet; export the model to a TF SavedModel or Keras "
                      "(.keras) and quantize that")
