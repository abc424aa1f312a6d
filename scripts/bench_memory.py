"""Memory benchmark: tinyml's arena against TFLite Micro's minimum tensor arena, per model.

Usage: python scripts/bench_memory.py [--write-docs] [--no-reference] [MODEL.tflite ...]
(default: the four MLPerf Tiny reference models in models/mlperf-tiny/ and our four Keras reference
architectures written by scripts/make_reference_models.py)

For each model: tinyml's arena (`arena_bytes` of `tinyml compile`: activations and every scratch buffer) for the
host/portable kernels and for the Cortex-M4 build (`target="cortex-m4"`, its DSP kernel variants), TFLite Micro's
minimum arena, the ratio, and the weights bytes. TFLite Micro's minimum arena is the smallest `arena_size` for
which the `tflite-micro` Python package's interpreter allocates the model and runs one inference, found by
bisection to the byte. `--write-docs` writes the table into docs/BENCHMARKS.md between the markers
`<!-- memory:begin -->` and `<!-- memory:end -->` (the rest of the file is left alone).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
MLPERF_TINY_DIR = REPO_DIR / "models" / "mlperf-tiny"
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


BUDGET_RATIO = 0.6  # issue 5: tinyml's peak RAM for activations and scratch <= 0.6x TFLite Micro's arena
DOCS = REPO_DIR / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- memory:begin -->", "<!-- memory:end -->"


def reference_models(out_dir: Path) -> list[Path]:
    """Our four Keras reference architectures as int8 .tflite (scripts/make_reference_models.py)."""
    subprocess.run([sys.executable, str(REPO_DIR / "scripts" / "make_reference_models.py"), "-o", str(out_dir)],
                   check=True, capture_output=True)
    return sorted(out_dir.glob("*.tflite"))


def ours(model_path: Path, target: str | None) -> tuple[int, int]:
    """(arena bytes, weights bytes) of tinyml's compilation of the model for `target`."""
    import tempfile

    from tinyml.compiler.codegen import compile_model

    with tempfile.TemporaryDirectory(prefix="tinyml-bench-memory-") as tmp:
        result = compile_model(model_path, Path(tmp), target=target)
    return result.arena_bytes, result.weights_bytes


def measure(models: list[tuple[str, Path]]) -> list[dict]:
    rows = []
    for label, path in models:
        host_arena, weights = ours(path, None)
        m4_arena, _ = ours(path, "cortex-m4")
        tflm = tflm_min_arena(path)
        rows.append({"model": label, "arena": host_arena, "arena_m4": m4_arena, "tflm": tflm, "weights": weights})
        print(f"{label}: tinyml {host_arena} B (Cortex-M4 build {m4_arena} B), TFLM {tflm} B, weights {weights} B",
              file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| model | tinyml arena, portable (B) | tinyml arena, Cortex-M4 build (B) | TFLM arena (B) | ratio portable "
        "| ratio M4 | weights (B) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['arena']:,} | {r['arena_m4']:,} | {r['tflm']:,} | "
                     f"{r['arena'] / r['tflm']:.3f} | {r['arena_m4'] / r['tflm']:.3f} | {r['weights']:,} |")
    return "\n".join(lines)


def docs_section(rows: list[dict]) -> str:
    return "\n".join([
        BEGIN,
        "## Memory: tinyml arena vs TFLite Micro",
        "",
        "Written by `scripts/bench_memory.py --write-docs`. tinyml arena = `arena_bytes` of `tinyml compile` (every",
        "activation and scratch buffer; no interpreter, no tensor metadata), for the portable kernels and for the",
        "Cortex-M4 build (DSP kernel variants). TFLM arena = the smallest `arena_size` with which the `tflite-micro`",
        "Python interpreter (host build, x86-64: its own pointer-sized metadata counts) allocates and runs the model,",
        "bisected to the byte. Issue 5 asks for <= 0.6x the arena TFLM needs on a Cortex-M4 (KWS 22,820 B, VWW",
        "100,708 B, IC 54,996 B, AD 3,024 B, measured in QEMU). MLPerf Tiny models: the official int8 files;",
        "reference models: our Keras architectures (scripts/make_reference_models.py, random weights).",
        "",
        table(rows),
        END,
    ])


def write_docs(rows: list[dict], path: Path = DOCS) -> None:
    """Replace the memory section of docs/BENCHMARKS.md (or append it); other sections stay as they are."""
    section = docs_section(rows)
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        start, stop = text.index(BEGIN), text.index(END) + len(END)
        text = text[:start] + section + text[stop:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--no-reference", action="store_true", help="skip our Keras reference architectures")
    parser.add_argument("--write-docs", action="store_true", help=f"write the table into {DOCS.relative_to(REPO_DIR)}")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO_DIR / "toolkit"))
    with tempfile.TemporaryDirectory(prefix="tinyml-reference-") as tmp:
        if args.models:
            models = [(p.stem, p) for p in args.models]
        else:
            models = [(f"MLPerf {name.split('.')[0].upper()}", MLPERF_TINY_DIR / name) for name in MLPERF_TINY_MODELS]
            if not args.no_reference:
                models += [(f"reference {p.stem}", p) for p in reference_models(Path(tmp))]
        rows = measure(models)
    print(table(rows))
    if args.write_docs:
        write_docs(rows)


if __name__ == "__main__":
    main()
