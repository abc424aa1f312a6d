"""End-to-end `tinyml compile` and `tinyml infer`, and their answers to bad input: one line, exit 2, nothing
half-written."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from tests import tflite_models as tm

TINYML = [sys.executable, "-c", "import sys, tinyml.cli; sys.exit(tinyml.cli.main())"]


def run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([*TINYML, *map(str, args)], capture_output=True, text=True)


def repack(data: bytes, edit) -> bytes:
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    edit(model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def small_model(dtype: int = tm.INT8, weight_dtype=np.int8) -> bytes:
    b = tm.GraphBuilder()
    qp = tm.QParams.per_tensor(0.05, 0) if dtype == tm.INT8 else None
    x = b.input((1, 4), qp, dtype)
    w = b.const(np.ones((3, 4), weight_dtype), tm.QParams.per_tensor(0.01, 0) if weight_dtype == np.int8 else None)
    b.output(b.op("FULLY_CONNECTED", [x, w, -1], (1, 3), qp, schema.FullyConnectedOptionsT(), out_dtype=dtype))
    return b.to_bytes()


def test_compile_and_infer(mlperf_dir: Path, tmp_path: Path) -> None:
    model = mlperf_dir / "kws.tflite"
    proc = run("compile", model, "-o", tmp_path / "gen", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["arena_bytes"] > 0 and summary["weights_bytes"] > 0
    assert summary["ops"].count("CONV_2D") == 5
    generated = {p.name for p in (tmp_path / "gen").iterdir()}
    assert generated == {"model.c", "model.h", "model_weights.c", "model_weights.h"}

    x = np.random.default_rng(3).integers(-128, 128, (7, 49, 10, 1), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    proc = run("infer", model, "--inputs", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert proc.returncode == 0, proc.stderr
    y = np.load(tmp_path / "y.npy")
    want = np.stack([tm.run_reference(model.read_bytes(), [x[i:i + 1]])[0][0] for i in range(7)])
    assert y.dtype == np.int8 and y.shape == (7, 12) and np.array_equal(y, want)


def _two_subgraphs(model: schema.ModelT) -> None:
    model.subgraphs = model.subgraphs * 2


def _dynamic_shape(model: schema.ModelT) -> None:
    model.subgraphs[0].tensors[0].shapeSignature = np.array([1, -1], dtype=np.int32)


def _unsupported_op(model: schema.ModelT) -> None:
    model.operatorCodes[0].builtinCode = schema.BuiltinOperator.LSTM
    model.operatorCodes[0].deprecatedBuiltinCode = schema.BuiltinOperator.LSTM


@pytest.mark.parametrize("name, make, message", [
    ("float", lambda: small_model(tm.FLOAT32, np.float32), "computes in float32"),
    ("hybrid", lambda: small_model(tm.FLOAT32, np.int8), "computes in float32"),
    ("unsupported", lambda: repack(small_model(), _unsupported_op), r"operator 0 \(LSTM\), version 4: .*not supported"),
    ("subgraphs", lambda: repack(small_model(), _two_subgraphs), "has 2 subgraphs"),
    ("dynamic", lambda: repack(small_model(), _dynamic_shape), "dynamic shape"),
    ("truncated", lambda: small_model()[:100], "corrupted or truncated|not a TFLite"),
    ("text", lambda: b"hello, I am not a model\n" * 4, "not a TFLite flatbuffer"),
])
def test_bad_models_are_refused(name: str, make, message: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(make())
    proc = run("compile", path, "-o", tmp_path / "out")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), proc.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 5), np.int8), r"must have shape \(N, 4\)"),
    (np.zeros((2, 4), np.float32), "must be int8"),
])
def test_bad_inputs_are_refused(array: np.ndarray, message: str, tmp_path: Path) -> None:
    (tmp_path / "m.tflite").write_bytes(small_model())
    np.save(tmp_path / "x.npy", array)
    proc = run("infer", tmp_path / "m.tflite", "--inputs", tmp_path / "x.npy", "--output", tmp_path / "y.npy")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "x.npy") in proc.stderr and re.search(message, proc.stderr)
    assert not (tmp_path / "y.npy").exists()


def test_missing_inputs_file(tmp_path: Path) -> None:
    (tmp_path / "m.tflite").write_bytes(small_model())
    proc = run("infer", tmp_path / "m.tflite", "--inputs", tmp_path / "nope.npy", "--output", tmp_path / "y.npy")
    assert proc.returncode == 2 and "no such file" in proc.stderr
