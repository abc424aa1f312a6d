"""The Cortex-M55's Helium (MVE) kernel variants against its DSP ones, on the four MLPerf Tiny models, in one run.

Usage: python scripts/bench_mve.py [--runs N] [--models kws,ad] [--doc docs/BENCHMARKS.md | --no-doc]

Each model is compiled twice for mps3-an547 (QEMU, `-icount shift=0`): the default build's target (Helium where a
`*_mve.c` variant exists, DSP elsewhere; the default weight layout, int8) and the same target without MVE (the DSP
variants everywhere, what the M55 ran before it had Helium kernels), built, and benchmarked through
`tinyml.device.bench` on the same random inputs (every output checked byte for byte against the host build and the
TFLite interpreter). Instructions per inference, arena, flash and peak stack of both, and the ratio Helium / DSP.
Issue 13 asks for at most 0.5x on the M55.

The Markdown is printed and written into the document between `<!-- bench_mve:begin -->` and
`<!-- bench_mve:end -->`; if any output differs, the document is left alone and the exit code is 1.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

from doc_sections import replace_section

from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.target import Target
from tinyml.device.bench import BenchReport, bench, random_inputs
from tinyml.device.boards import get_board
from tinyml.device.build import build_compiled
from tinyml.device.weight_layouts import DEFAULT_WEIGHTS, WEIGHT_LAYOUTS

REPO_DIR = Path(__file__).resolve().parents[1]
MLPERF_TINY_DIR = REPO_DIR / "models" / "mlperf-tiny"
BOARD = "mps3-an547"
MAX_RATIO = 0.5


def measure(model: Path, mve: bool, runs: int) -> BenchReport:
    """The model built for the M55 with or without its Helium variants, benchmarked on `runs` random inputs (the
    same ones whatever the build: `random_inputs`' fixed seed)."""
    board = get_board(BOARD)
    target = dataclasses.replace(Target.for_board(board), mve=mve, wide_fc=WEIGHT_LAYOUTS[DEFAULT_WEIGHTS])
    with tempfile.TemporaryDirectory(prefix="bench-mve-") as tmp:
        build = Path(tmp)
        compiled = compile_model(model, build / "model", target=target)
        build_compiled(compiled, board, build)
        return bench(model, board, inputs=random_inputs(compiled.inputs, runs), build_dir=build)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default="kws,vww,ic,ad")
    parser.add_argument("--doc", type=Path, default=REPO_DIR / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)
    rows, exact = [], True
    for name in args.models.split(","):
        model = MLPERF_TINY_DIR / f"{name}.tflite"
        dsp, mve = measure(model, False, args.runs), measure(model, True, args.runs)
        exact &= all(r.outputs_match == r.outputs_total and not r.mismatched_samples for r in (dsp, mve))
        ratio = mve.count_per_inference / dsp.count_per_inference
        rows.append(f"| {name.upper()} | {dsp.count_per_inference:,} | {mve.count_per_inference:,} | {ratio:.2f}× "
                    f"{'✓' if ratio <= MAX_RATIO else '✗'} | {dsp.arena_bytes:,} / {mve.arena_bytes:,} | "
                    f"{dsp.flash_bytes:,} / {mve.flash_bytes:,} | {dsp.stack_peak_bytes:,} / "
                    f"{mve.stack_peak_bytes:,} | {mve.outputs_match}/{mve.outputs_total} |")
        print(rows[-1], flush=True)
    table = "\n".join([
        f"| model | DSP variants: instructions | Helium where it has a variant: instructions | Helium / DSP "
        f"(issue 13: <= {MAX_RATIO}) | arena DSP / Helium (B) | flash DSP / Helium (B) | peak stack DSP / Helium "
        "(B) | outputs exact |",
        "|---|---|---|---|---|---|---|---|", *rows,
        "", f"{BOARD} (Cortex-M55) in QEMU, {args.runs} random int8 inputs per model, the same for both builds "
            "(both with the default int8 weight layout); Helium variants so far: fully connected "
            "(`fully_connected_s8_mve.c`), pointwise convolution (`conv2d_1x1_s8_mve.c`, the same kernel over the "
            "pixels) and the other convolutions at dilation 1 with at least 16 bytes per filter row "
            "(`conv2d_s8_mve.c`); depthwise and the first layers (1-3 input channels) run their DSP variants in both "
            "columns. (`python scripts/bench_mve.py`)"])
    print(table)
    if not exact:
        print("outputs differ: the document is left alone", file=sys.stderr)
        return 1
    if not args.no_doc:
        replace_section(args.doc, "bench_mve", table, heading="## Helium (MVE) on the Cortex-M55")
    return 0


if __name__ == "__main__":
    sys.exit(main())
