"""Writes the four MLPerf Tiny reference architectures as full-integer int8 .tflite files.

Usage: python scripts/make_reference_models.py -o DIR

The weights are random (fixed seeds) and the calibration data synthetic: the files exercise the compiler on the
real architectures' operators, shapes and quantization, they do not classify anything. The output is
deterministic for a given TensorFlow version.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from models import ARCHITECTURES, Architecture, convert_int8, fit_batch_norm  # noqa: E402

CALIBRATION_SAMPLES = 16


def make_model(architecture: Architecture, seed: int) -> bytes:
    """The int8 .tflite bytes of `architecture` with seeded random weights and synthetic calibration data."""
    import keras

    keras.utils.set_random_seed(seed)
    model = architecture.build()
    rng = np.random.default_rng(seed)
    calib = rng.standard_normal((CALIBRATION_SAMPLES, *model.input_shape[1:])).astype(np.float32)
    fit_batch_norm(model, calib, rng)
    return convert_int8(model, calib)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for seed, architecture in enumerate(ARCHITECTURES):
        path = args.output_dir / f"{architecture.name}.tflite"
        data = make_model(architecture, seed)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        print(f"{path} ({len(data)} bytes)", flush=True)


if __name__ == "__main__":
    main()
