"""`tinyml infer` and `tinyml bench` on models whose input or output tensors do not start with a batch of one: a
sample is the tensor without its first dimension when that is 1, else the whole tensor
(`tinyml.device.targets.host.sample_shape`).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import tflite_models as tm

SAMPLES = 6
UNITS = 5


def _tinyml(*args: str | Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TINYML_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "tinyml.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def fc_model(*in_shapes: tuple[int, ...]) -> bytes:
    """One input per shape, each into its own FULLY_CONNECTED without keep_num_dims: [1, n, d] gives [n, UNITS],
    [b, d] gives [b, UNITS]."""
    rng = np.random.default_rng(7)
    b = tm.GraphBuilder()
    for shape in in_shapes:
        x = b.input(shape, tm.QParams.per_tensor(0.05, 3))
        weights = rng.integers(-127, 128, (UNITS, shape[-1]))
        b.output(tm.fully_connected(b, x, weights, [0.01], None, tm.QParams.per_tensor(0.08, -4)))
    return b.to_bytes()


def tflite_outputs(model: bytes, inputs: list[np.ndarray], in_shapes: list[tuple[int, ...]],
                   out_samples: list[tuple[int, ...]]) -> list[np.ndarray]:
    """The interpreter's outputs for each sample, stacked: (N, *out_samples[k]) per output k."""
    runs = [tm.run_reference(model, [x[i].reshape(s) for x, s in zip(inputs, in_shapes)])
            for i in range(len(inputs[0]))]
    return [np.stack([r[k].reshape(s) for r in runs]) for k, s in enumerate(out_samples)]


@pytest.mark.parametrize("in_shape, in_sample, out_sample", [
    ((1, 3, 4), (3, 4), (3, UNITS)),    # output [3, UNITS]: its first dimension is not a batch
    ((2, 8), (2, 8), (2, UNITS)),       # input [2, 8] and output [2, UNITS]: a sample is the whole tensor
])
def test_infer_whole_tensors(in_shape: tuple[int, ...], in_sample: tuple[int, ...], out_sample: tuple[int, ...],
                             tmp_path: Path) -> None:
    model = fc_model(in_shape)
    (tmp_path / "m.tflite").write_bytes(model)
    x = np.random.default_rng(1).integers(-128, 128, (SAMPLES, *in_sample), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    proc = _tinyml("infer", tmp_path / "m.tflite", "--inputs", tmp_path / "x.npy", "--output", tmp_path / "y.npy",
                   "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["output_shapes"] == [[SAMPLES, *out_sample]]
    (want,) = tflite_outputs(model, [x], [in_shape], [out_sample])
    assert len(np.unique(want)) > 10                      # the samples and their rows tell apart
    assert np.array_equal(np.load(tmp_path / "y.npy"), want)


@pytest.mark.parametrize("array, message", [
    (np.zeros((SAMPLES, 8), np.int8), r"input 't0' must have shape \(N, 2, 8\) \(a sample is the whole \[2, 8\] "
                                      r"tensor\), got \(6, 8\)"),
    (np.zeros((1, SAMPLES, 2, 8), np.int8), r"input 't0' must have shape \(N, 2, 8\) .*, got \(1, 6, 2, 8\)"),
    (np.zeros((2, 8), np.int8), r"input 't0' must have shape \(N, 2, 8\) .*, got \(2, 8\)"),
])
def test_infer_refuses_wrong_sample_shape(array: np.ndarray, message: str, tmp_path: Path) -> None:
    (tmp_path / "m.tflite").write_bytes(fc_model((2, 8)))
    np.save(tmp_path / "x.npy", array)
    proc = _tinyml("infer", tmp_path / "m.tflite", "--inputs", tmp_path / "x.npy", "--output", tmp_path / "y.npy",
                   cache=tmp_path / "cache")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"error: {tmp_path / 'x.npy'}: "), proc.stderr
    assert re.search(message, proc.stderr), proc.stderr
    assert not (tmp_path / "y.npy").exists()


@pytest.mark.qemu
def test_bench_whole_tensors(tmp_path: Path) -> None:
    """Both kinds at once in the emulator: outputs [2, UNITS] and [3, UNITS] match the host and TFLite."""
    in_shapes, in_samples, out_samples = [(2, 8), (1, 3, 4)], [(2, 8), (3, 4)], [(2, UNITS), (3, UNITS)]
    model = fc_model(*in_shapes)
    (tmp_path / "m.tflite").write_bytes(model)
    rng = np.random.default_rng(2)
    inputs = [rng.integers(-128, 128, (2, *s), dtype=np.int8) for s in in_samples]
    np.savez(tmp_path / "x.npz", *inputs)
    proc = _tinyml("bench", tmp_path / "m.tflite", "--board", "mps2-an385", "--inputs", tmp_path / "x.npz",
                   "--runs", "2", "--output", tmp_path / "y.npz", "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["references"] == ["host", "tflite"]
    assert report["outputs_match"] == report["outputs_total"] == 4
    with np.load(tmp_path / "y.npz") as got:
        for y, want in zip([got[k] for k in got.files], tflite_outputs(model, inputs, in_shapes, out_samples),
                           strict=True):
            assert np.array_equal(y, want)
