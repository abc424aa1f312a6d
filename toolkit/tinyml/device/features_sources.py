"""The model's feature extractor for a firmware image: the C sources and include folders that compute the model's
input on the chip from raw sensor samples (firmware/features, API in `firmware/features/tm_features.h`).

    found = feature_sources(model_path, compiled.inputs, work / "features")
    if found is not None:                    # the model has a features.json
        sources, include_dirs = found        # add both to the image; the app includes "tm_features.h"

The tables and settings (`tm_features_config.h`, `tm_features_tables.c`) are generated into `out_dir` from the
features.json beside the model (`<model>.features.json`, written by `tinyml quantize`, else the folder's
`features.json`, written by `tinyml train`) by `tinyml.compiler.codegen.features`; the static code is shared by
every model. A model without features.json (the MLPerf Tiny files, a user's .tflite) has none: None.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tinyml.compiler.codegen import TensorInfo
from tinyml.compiler.codegen.features import TABLES_C, generate_features
from tinyml.errors import BAD_INPUT, TinymlError
from tinyml.paths import FIRMWARE_DIR

FEATURES_DIR = FIRMWARE_DIR / "features"
STATIC_SOURCES = tuple(FEATURES_DIR / name for name in ("tm_fft.c", "tm_features_frame.c", "tm_features.c"))
PARITY_HARNESS = FEATURES_DIR / "parity_harness.c"  # scripts/feature_parity.py's main, never in an app


def features_json(model_path: Path) -> Path | None:
    """The features.json that belongs to the model at `model_path` (a .tflite file or a model folder), or None."""
    model_path = Path(model_path)
    candidates = ([model_path / "features.json"] if model_path.is_dir() else
                  [model_path.with_suffix(".features.json"), model_path.parent / "features.json"])
    return next((p for p in candidates if p.is_file()), None)


def read_features(path: Path) -> dict:
    """A features.json as a dict, or one clear error."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise TinymlError(f"{path}: not a readable features.json ({exc})", BAD_INPUT) from exc
    if not isinstance(data, dict):
        raise TinymlError(f"{path}: a features.json holds one JSON object, got {type(data).__name__}", BAD_INPUT)
    return data


def feature_sources(model_path: Path, compiled_inputs: Sequence[TensorInfo],
                    out_dir: Path) -> tuple[list[Path], list[Path]] | None:
    """(C sources, include folders) of the model's feature extractor, the tables generated into `out_dir`; None
    when the model has no features.json. `compiled_inputs`: the compiled model's inputs (`CompileResult.inputs`);
    the extractor feeds the only one. Refuses (BAD_INPUT) a features.json the device extractor cannot serve."""
    path = features_json(model_path)
    if path is None:
        return None
    if len(compiled_inputs) != 1:
        raise TinymlError(f"{path}: the model has {len(compiled_inputs)} inputs; the device feature extractor feeds "
                          "a model with one input", BAD_INPUT)
    generated = generate_features(read_features(path), compiled_inputs[0], Path(out_dir), str(path))
    return [*(p for p in generated if p.name == TABLES_C), *STATIC_SOURCES], [Path(out_dir), FEATURES_DIR]
