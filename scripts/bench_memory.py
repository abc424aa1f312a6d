"""Memory benchmark: TFLite Micro's minimum tensor arena for each reference model.

Usage: python scripts/bench_memory.py [MODEL.tflite ...]
(default: the four MLPerf Tiny reference models in ../shared/models/mlperf-tiny/)

TFLite Micro's minimum arena is the smallest `arena_size` for which the `tflite-micro` Python package's
interpreter allocates the model and runs one inference, found by bisection to the byte.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
MLPERF_TINY_DIR = REPO_DIR.parent / "shared" / "models" / "mlperf-tiny"
MLPERF_TINY_MODELS = ("kws.tflite", "vww.tflite", "ic.tflite", "ad.tflite")
_MAX_ARENA = 64 << 20


# One allocation attempt, run in a child process: TFLite Micro's Python interpreter crashes (segmentation fault)
# instead of raising for some too-small arenas, e.g. when a kernel's scratch-buffer request fails during prepare.
_PROBE = """
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime
path, arena_size, num_inputs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
try:
    interpreter = runtime.Interpreter.from_file(path, arena_size=arena_size)
    for index in range(num_inputs):
        detail = interpreter.get_input_details(index)
        interpreter.set_input(np.zeros(detail["shape"], detail["dtype"]), index)
    interpreter.invoke()
except RuntimeError:
    sys.exit(1)
"""


def _num_inputs(model_path: Path) -> int:
    """Number of inputs of the model's first subgraph."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(model_path.read_bytes(), 0)
    return model.Subgraphs(0).InputsLength()


def _tflm_runs(model_path: Path, arena_size: int, num_inputs: int) -> bool:
    """True if TFLite Micro allocates the model in `arena_size` bytes and invokes it on zero inputs."""
    probe = subprocess.run([sys.executable, "-c", _PROBE, str(model_path), str(arena_size), str(num_inputs)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    return probe.returncode == 0


def tflm_min_arena(model_path: str | os.PathLike[str]) -> int:
    """Smallest `arena_size` (bytes) with which TFLite Micro's Python interpreter allocates and invokes the model."""
    path = Path(model_path).resolve()
    num_inputs = _num_inputs(path)
    high = 1024
    while not _tflm_runs(path, high, num_inputs):
        if high >= _MAX_ARENA:
            raise RuntimeError(f"{path}: TFLite Micro fails even with a {_MAX_ARENA}-byte arena")
        high *= 2
    low = high // 2 if high > 1024 else 0  # invariant: `low` fails (or is 0), `high` works
    while high - low > 1:
        mid = (low + high) // 2
        if _tflm_runs(path, mid, num_inputs):
            high = mid
        else:
            low = mid
    return high


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path,
                        default=[MLPERF_TINY_DIR / name for name in MLPERF_TINY_MODELS])
    args = parser.parse_args(argv)
    width = max(len(path.name) for path in args.models)
    print(f"{'model':<{width}}  {'TFLM arena (B)':>14}")
    for path in args.models:
        print(f"{path.name:<{width}}  {tflm_min_arena(path):>14}", flush=True)


if __name__ == "__main__":
    main()
