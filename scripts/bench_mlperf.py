"""Speed and size of the four MLPerf Tiny models on every emulated Cortex-M core, and on the M4 beside TFLite Micro.

Usage: python scripts/bench_mlperf.py [--runs N] [--models kws,ic] [--cores M4,M4-auto,M7] [--no-cycles] [--jobs N]
                                      [--doc docs/BENCHMARKS.md | --no-doc]

For each model and each emulated core (M3 mps2-an385, M4 mps2-an386, M7 mps2-an500, M33 mps2-an505, M55
mps3-an547), through `tinyml.device.bench` (every output checked byte for byte against our host build and the TFLite
interpreter): instructions per inference in QEMU (`-icount shift=0`), MACs per instruction (MACs of the conv,
depthwise and fully connected layers, counted from the graph), on the M4 and M7 the estimated cycles of one traced
inference and MACs per cycle (`tinyml.device.targets.cycle_estimate`: Cortex-M4 timings, zero wait states), arena bytes,
peak stack, flash excluding the weights. The M4 twice: the default build (int8 weights, no widened copies) and
"M4-auto" (`tinyml build --weights auto`: int16 weight copies where the doubled weights fit in half the flash, the
speed build for a user with flash to spare). On the M4 the same figures beside the TFLM figures of issue 5
(measured for this project the same way) as ratios ours / TFLM, with the issue's acceptance bounds.

Bounded time: the emulator runs the inferences in well under a second each; the wall time goes into streaming the
inputs through QEMU's UART (~12 KB/s: 2.3 s per VWW input) and tracing one inference per model on M4/M7 (about
10 s for VWW). The whole table (4 models x 5 cores, 3 runs) takes about 1.5 minutes with --jobs 2. Each QEMU
session is bounded by `tinyml.device.bench`'s timeouts, so a hung kernel fails its cell instead of the script.

The Markdown is printed and written into the document between the markers below (other scripts own other
sections of the same file); if any output differs or any cell fails, the document is left alone and the exit code
is 1.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tinyml.compiler.codegen import compile_model
from tinyml.compiler.codegen.target import Target
from tinyml.compiler.ir.graph import Graph
from tinyml.compiler.ir.reader import read_tflite
from tinyml.device.bench import CYCLE_ESTIMATE_CORES, bench
from tinyml.device.boards import get_board
from tinyml.device.weight_layouts import DEFAULT_WEIGHTS, WEIGHT_LAYOUTS
from tinyml.npyio import write_atomically

REPO_DIR = Path(__file__).resolve().parents[1]
MLPERF_TINY_DIR = REPO_DIR / "models" / "mlperf-tiny"
REFERENCE_BOARD = "mps2-an386"
CORES = {"M3": "mps2-an385", "M4": "mps2-an386", "M7": "mps2-an500", "M33": "mps2-an505", "M55": "mps3-an547"}
# The M4 is measured twice: the default build (int8 weights) and the `tinyml build --weights auto` one (int16 weight
# copies when the doubled weights fit in half the flash: fewer instructions, more flash).
BUILDS = {**{core: (board, DEFAULT_WEIGHTS) for core, board in CORES.items()}, "M4-auto": ("mps2-an386", "auto")}
BEGIN, END = "<!-- bench_mlperf:begin -->", "<!-- bench_mlperf:end -->"


@dataclass(frozen=True)
class Tflm:
    """TFLite Micro on mps2-an386 (issue 5): reference kernels, CMSIS-NN kernels, arena, flash without the model."""

    reference_instructions: int
    cmsis_instructions: int
    arena_bytes: int
    cmsis_flash_bytes: int


TFLM = {"kws": Tflm(43_039_920, 7_697_920, 22_820, 55_248), "vww": Tflm(100_241_160, 24_101_960, 100_708, 55_248),
        "ic": Tflm(107_406_120, 29_861_720, 54_996, 53_052), "ad": Tflm(1_952_360, 583_000, 3_024, 29_648)}
# Issue 5's acceptance on the M4: instructions <= 0.5x TFLM+CMSIS-NN, est. MAC/cycle >= 0.6 (KWS, VWW, IC),
# arena <= 0.6x the TFLM arena, flash excluding weights <= 0.5x TFLM+CMSIS-NN.
MAX_INSTRUCTIONS_RATIO, MIN_MAC_PER_CYCLE, MAX_ARENA_RATIO, MAX_FLASH_RATIO = 0.5, 0.6, 0.6, 0.5
MAC_PER_CYCLE_MODELS = ("kws", "vww", "ic")


def count_macs(graph: Graph) -> int:
    """Multiply-accumulates of the conv, depthwise conv and fully connected layers (one per weight use)."""
    total = 0
    for op in graph.operators:
        if op.opcode not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        outputs = math.prod(graph.tensors[op.outputs[0]].shape)
        weights = graph.tensors[op.inputs[1]].shape
        if op.opcode == "CONV_2D":        # filter (out, kh, kw, in): kh * kw * in per output
            total += outputs * math.prod(weights[1:])
        elif op.opcode == "DEPTHWISE_CONV_2D":  # filter (1, kh, kw, out): kh * kw per output
            total += outputs * weights[1] * weights[2]
        else:                             # weights (units, in): in per output
            total += outputs * weights[-1]
    return total


@dataclass(frozen=True)
class Cell:
    """One model on one core (picklable: measured in a worker process)."""

    model: str
    core: str
    board: str
    weights: str
    macs: int
    instructions: int = 0
    cycles_estimate: int | None = None
    arena_bytes: int = 0
    stack_peak_bytes: int = 0
    flash_bytes: int = 0
    weights_bytes: int = 0
    relayout_bytes: int = 0      # extra weight bytes of this core's kernel variants (re-arranged, widened copies)
    outputs_match: int = 0
    outputs_total: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def flash_excl_weights(self) -> int:
        return self.flash_bytes - self.weights_bytes

    @property
    def exact(self) -> bool:
        return self.error is None and self.outputs_total > 0 and self.outputs_match == self.outputs_total


def measure(model: str, core: str, runs: int, cycles: bool, models_dir: Path) -> Cell:
    path = models_dir / f"{model}.tflite"
    board_name, weights = BUILDS[core]
    board = get_board(board_name)
    macs = count_macs(read_tflite(path))
    start = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-mlperf-") as tmp:
            target = dataclasses.replace(Target.for_board(board), wide_fc=WEIGHT_LAYOUTS[weights])
            relayout = compile_model(path, Path(tmp), target=target).weights_bytes
        report = bench(path, board, runs=runs, cycles=cycles and board.core in CYCLE_ESTIMATE_CORES, weights=weights)
    except Exception as exc:   # one failing cell must not lose the others; the script still fails at the end
        message = getattr(exc, "message", None) or "".join(traceback.format_exception_only(exc)).strip()
        return Cell(model, core, board.name, weights, macs, seconds=time.monotonic() - start, error=message)
    return Cell(model, core, board.name, weights, macs, instructions=report.count_per_inference,
                cycles_estimate=report.cycles_estimate, arena_bytes=report.arena_bytes,
                stack_peak_bytes=report.stack_peak_bytes, flash_bytes=report.flash_bytes,
                weights_bytes=report.weights_bytes, relayout_bytes=relayout - report.weights_bytes,
                outputs_match=report.outputs_match, outputs_total=report.outputs_total,
                seconds=time.monotonic() - start)


def _ratio(ours: float, theirs: float, bound: float | None = None, at_least: bool = False) -> str:
    r = ours / theirs
    if bound is None:
        return f"{r:.2f}×"
    ok = r >= bound if at_least else r <= bound
    return f"{r:.2f}× {'✓' if ok else '✗'}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(names: list[str]) -> list[str]:
    return [_row(names), "|" + "---|" * len(names)]


def cores_table(cells: list[Cell]) -> list[str]:
    lines = _header(["model", "core (board)", "MACs", "instr/inference", "MAC/instr", "est. cycles", "est. MAC/cycle",
                     "arena (B)", "peak stack (B)", "flash excl. weights (B)", "of which weight re-layout (B)",
                     "outputs exact"])
    for c in cells:
        if c.error:
            lines.append(_row([c.model.upper(), f"{c.core} ({c.board})", f"{c.macs:,}",
                               f"failed: {c.error[:120]}", *[""] * 8]))
            continue
        cyc = c.cycles_estimate
        lines.append(_row([c.model.upper(), f"{c.core} ({c.board})", f"{c.macs:,}", f"{c.instructions:,}",
                           f"{c.macs / c.instructions:.3f}", f"{cyc:,}" if cyc else "—",
                           f"{c.macs / cyc:.3f}" if cyc else "—", f"{c.arena_bytes:,}", f"{c.stack_peak_bytes:,}",
                           f"{c.flash_excl_weights:,}", f"{c.relayout_bytes:,}",
                           f"{c.outputs_match}/{c.outputs_total}"]))
    return lines


def tflm_table(cells: list[Cell]) -> list[str]:
    lines = _header(["model", "weights", "instr/inference", "vs TFLM ref. kernels", "vs TFLM+CMSIS-NN (≤ 0.50)",
                     "est. cycles", "est. MAC/cycle (≥ 0.6)", "arena (B)", "vs TFLM arena (≤ 0.60)",
                     "flash excl. weights (B)", "vs TFLM+CMSIS-NN flash (≤ 0.50)", "outputs exact"])
    for c in cells:
        if c.error or c.model not in TFLM:
            continue
        tflm, cyc = TFLM[c.model], c.cycles_estimate
        if cyc:
            mpc = f"{c.macs / cyc:.3f}"
            mpc += (" ✓" if c.macs / cyc >= MIN_MAC_PER_CYCLE else " ✗") if c.model in MAC_PER_CYCLE_MODELS else ""
        lines.append(_row([c.model.upper(), c.weights, f"{c.instructions:,}",
                           _ratio(c.instructions, tflm.reference_instructions),
                           _ratio(c.instructions, tflm.cmsis_instructions, MAX_INSTRUCTIONS_RATIO),
                           f"{cyc:,}" if cyc else "—", mpc if cyc else "—", f"{c.arena_bytes:,}",
                           _ratio(c.arena_bytes, tflm.arena_bytes, MAX_ARENA_RATIO), f"{c.flash_excl_weights:,}",
                           _ratio(c.flash_excl_weights, tflm.cmsis_flash_bytes, MAX_FLASH_RATIO),
                           f"{c.outputs_match}/{c.outputs_total}"]))
    return lines


def render(cells: list[Cell], runs: int) -> str:
    m4 = [c for c in cells if c.board == REFERENCE_BOARD]
    notes = (f"QEMU 7.2, `-icount shift=0`, {runs} random int8 inputs per model and core, each output compared byte "
             "for byte with our host build and the TFLite interpreter. Instructions are SysTick ticks converted "
             "exactly (× 40 on MPS2, × 50 on AN505, × 31.25 on AN547; one tick of resolution), the mean over the "
             "runs. MACs: conv, depthwise and fully connected layers, from the graph. Estimated cycles: one more "
             "inference traced in QEMU and costed with the Cortex-M4 instruction timings of its TRM (zero wait "
             "states; `tinyml.device.targets.cycle_estimate`); given on the M4 and, with the same single-issue table, "
             "on the dual-issue M7, where it leans pessimistic; no timing model for M3, M33, M55. Arena: every "
             "activation and scratch buffer of the plan. Peak stack: the harness's whole stack (protocol "
             "included) from stack painting. Flash excluding weights = the image's flash bytes minus the model's "
             "constant tensors as stored in the .tflite; what remains is code, runtime, startup, libc, protocol "
             "harness, the model's tables and the weight copies the core's kernel variants re-arrange or widen "
             "(int16 copies in the `auto` build), given separately as \"of which weight re-layout\" (the variants' "
             "`weights_bytes` minus the .tflite's).")
    tflm_notes = ("Ratios are ours / TFLM (issue 5's figures, measured the same way in QEMU `mps2-an386`; below 1 "
                  "is better); ✓/✗ against the issue's acceptance bounds in the column headers. Weights: `int8` is "
                  "the default build, `auto` the `--weights auto` build of the same model (int16 weight copies "
                  "where the doubled weights fit in half the flash: fewer instructions, more flash).")
    generated = (f"Generated by `python scripts/bench_mlperf.py --runs {runs}` on {time.strftime('%Y-%m-%d')}.")
    return "\n".join(["## MLPerf Tiny on every emulated core", "", notes, "", *cores_table(cells), "",
                      "## Cortex-M4 (mps2-an386) against TFLite Micro", "", tflm_notes, "", *tflm_table(m4), "",
                      generated])


def write_section(doc: Path, section: str) -> None:
    """Replace the text between the markers (appending them if absent); the rest of the file is kept."""
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{section}\n{END}"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + f"\n\n{block}\n"
    write_atomically(doc, text.encode())


def _names(value: str, known: list[str], what: str) -> list[str]:
    """The names in a comma-separated `value`, matched to `known` regardless of case."""
    by_case = {k.lower(): k for k in known}
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    wrong = [v for v in chosen if v.lower() not in by_case]
    if wrong or not chosen:
        raise argparse.ArgumentTypeError(f"unknown {what} {', '.join(wrong) or '(none)'}; expected {', '.join(known)}")
    return [by_case[v.lower()] for v in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="random inputs per model and core (default 3)")
    parser.add_argument("--models", type=lambda v: _names(v, list(TFLM), "model"), default=list(TFLM),
                        help="comma-separated subset of kws,vww,ic,ad")
    parser.add_argument("--cores", type=lambda v: _names(v, list(BUILDS), "core"), default=list(BUILDS),
                        help="comma-separated subset of " + ",".join(BUILDS))
    parser.add_argument("--no-cycles", action="store_true", help="skip the traced cycle estimate on M4/M7")
    parser.add_argument("--jobs", type=int, default=2, help="QEMU sessions in parallel (default 2)")
    parser.add_argument("--models-dir", type=Path, default=MLPERF_TINY_DIR)
    parser.add_argument("--doc", type=Path, default=REPO_DIR / "docs" / "BENCHMARKS.md")
    parser.add_argument("--no-doc", action="store_true", help="print the tables only")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.jobs < 1:
        parser.error("--runs and --jobs must be at least 1")
    jobs = [(m, c) for m in args.models for c in args.cores]
    start = time.monotonic()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(measure, m, c, args.runs, not args.no_cycles, args.models_dir) for m, c in jobs]
        cells = []
        for future in futures:
            cell = future.result()
            cells.append(cell)
            status = cell.error or (f"{cell.instructions:,} instructions, "
                                    f"{cell.outputs_match}/{cell.outputs_total} exact")
            print(f"[{time.monotonic() - start:6.1f} s] {cell.model} on {cell.core}: {status} ({cell.seconds:.1f} s)",
                  file=sys.stderr)
    section = render(cells, args.runs)
    print(section)
    failed = [f"{c.model}/{c.core}" for c in cells if not c.exact]
    if failed:
        print(f"not written: {', '.join(failed)} failed or differ from the reference", file=sys.stderr)
        return 1
    if not args.no_doc:
        write_section(args.doc, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
