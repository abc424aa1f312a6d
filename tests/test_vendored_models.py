"""The vendored MLPerf Tiny models are the official files: their SHA-256 matches the manifest shipped beside them."""
from __future__ import annotations

import hashlib

from tests.conftest import MLPERF_MODELS


def test_vendored_models_match_their_checksums(mlperf_dir):
    manifest = dict(reversed(line.split()) for line in (mlperf_dir / "SHA256SUMS").read_text().splitlines())
    assert sorted(manifest) == sorted(f"{name}.tflite" for name in MLPERF_MODELS)
    for name, digest in manifest.items():
        assert hashlib.sha256((mlperf_dir / name).read_bytes()).hexdigest() == digest, name
