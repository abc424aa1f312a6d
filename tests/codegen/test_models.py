"""Whole models byte for byte against the TFLite reference: the official MLPerf Tiny int8 models, our Keras
reference architectures converted by the TFLite converter, and random networks built independently of the
compiler (random architectures, odd shapes, wide scale ranges)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MLPERF_MODELS, REPO
from tests.host_batch import BatchCase, run_batch
from tests.tflite_models import random_network, run_reference
from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.target import Target
from tinyml.device.targets.host import run_host

SAMPLES = 100
RANDOM_NETWORKS = 60


def varied_inputs(shape: tuple[int, ...], n: int, rng: np.random.Generator) -> np.ndarray:
    """int8 samples with a random offset and contrast each, so deep models see diverse activations."""
    centre = rng.integers(-100, 100, size=(n,) + (1,) * (len(shape) - 1))
    spread = rng.uniform(5, 128, size=(n,) + (1,) * (len(shape) - 1))
    x = centre + spread * rng.standard_normal((n, *shape[1:]))
    return np.clip(np.rint(x), -128, 127).astype(np.int8)


def assert_matches_reference(model_path: Path, tmp_path: Path, target=None) -> None:
    result = compile_model(model_path, tmp_path / "gen", target=target)
    rng = np.random.default_rng(len(model_path.name))
    x = varied_inputs(result.inputs[0].shape, SAMPLES, rng)
    ours = run_host(result, [x])[0]
    data = model_path.read_bytes()
    want = np.stack([run_reference(data, [x[i:i + 1]])[0][0] for i in range(SAMPLES)])
    mismatched = [i for i in range(SAMPLES) if not np.array_equal(ours[i], want[i])]
    assert not mismatched, f"{model_path.name}: samples {mismatched[:10]} differ from TFLite"
    assert len({ours[i].tobytes() for i in range(SAMPLES)}) > 1, "outputs do not depend on the input"


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_model_bit_exact(name: str, mlperf_dir: Path, tmp_path: Path) -> None:
    assert_matches_reference(mlperf_dir / f"{name}.tflite", tmp_path)


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_model_bit_exact_dsp_variants(name: str, mlperf_dir: Path, tmp_path: Path) -> None:
    """The Cortex-M4 build's generated code (DSP variants, in place, low-scratch modes on the peak) on the host."""
    assert_matches_reference(mlperf_dir / f"{name}.tflite", tmp_path, Target("host", dsp=True, flash_bytes=4 << 20))


@pytest.fixture(scope="session")
def reference_models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("reference-models")
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_reference_models.py"), "-o", str(out)],
                   check=True, capture_output=True)
    return sorted(out.glob("*.tflite"))


@pytest.mark.slow
def test_reference_architectures_bit_exact(reference_models: list[Path], tmp_path: Path) -> None:
    assert len(reference_models) == 4
    for path in reference_models:
        assert_matches_reference(path, tmp_path / path.stem)


def test_random_networks_bit_exact() -> None:
    rng = np.random.default_rng(2026)
    cases = [random_network(rng) for _ in range(RANDOM_NETWORKS)]
    batch = []
    for case in cases:
        inputs = []
        for x in case.inputs:
            if x.dtype == np.int8:
                inputs.append(np.stack([x] + [varied_inputs((1, *x.shape), 1, rng)[0] for _ in range(7)]))
            else:
                inputs.append(np.stack([x] + [(x * rng.uniform(0.5, 1.5, x.shape)).astype(x.dtype) for _ in range(7)]))
        batch.append(BatchCase(case.model, inputs))
    outputs = run_batch(batch)
    for case, item, got in zip(cases, batch, outputs):
        for i in range(8):
            want = run_reference(case.model, [x[i] for x in item.inputs])
            for w, g in zip(want, got):
                assert np.array_equal(w.view(np.uint8), g[i].view(np.uint8)), f"{case.op} {case.params} sample {i}"
