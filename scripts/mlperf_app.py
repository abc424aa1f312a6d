"""What the MLPerf Tiny app (`tinyml build --app mlperf`) costs and measures, per MLPerf Tiny model on one board.

Usage: python scripts/mlperf_app.py [--board mps2-an386] [--models kws,vww,ic,ad] [--window-ms 100]

Prints a Markdown table (the numbers in docs/FIRMWARE.md, "The MLPerf Tiny app", come from it):
- flash and RAM of the bench app (the default firmware) and of the mlperf app, and the flash the mlperf app would
  take if it printed its floats with newlib-nano's `snprintf("%.6f")` linked with `-u _printf_float`;
- instructions per inference: from `tinyml bench` (SysTick around the model alone) and from a `tinyml mlperf`
  performance session (m-lap-us x 1000 under QEMU -icount shift=0: the model plus the app's input copy and counter
  poll per inference);
- the wall time of that performance session (5 windows of `--window-ms` device time, build cached).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "toolkit"))

from tinyml.device import build as fw  # noqa: E402
from tinyml.device.bench import bench  # noqa: E402
from tinyml.device.boards import get_board  # noqa: E402
from tinyml.device.mlperf import session  # noqa: E402
from tinyml.device.mlperf_app import mlperf_app  # noqa: E402

PRINTF_FORMATTER = """
#include <stdio.h>
void tm_mlperf_puts(const char *s);
void tm_mlperf_put_f32(float v) {
  char text[48];
  snprintf(text, sizeof text, "%.6f", (double)v);
  tm_mlperf_puts(text);
}
"""


def image_sizes(model: Path, board_name: str, work: Path) -> dict[str, int]:
    """Flash and RAM of the bench app, the mlperf app, and the mlperf app with printf's float formatting."""
    board = get_board(board_name)
    compiled = fw.compile_for_board(model, board, work / "model")
    app = mlperf_app(model, compiled.inputs, compiled.outputs)
    printf_c = work / "printf_f32.c"
    # Our formatter's file without its tm_mlperf_put_f32, plus a printf one.
    ours = (fw.MLPERF_DIR / "tm_mlperf_out.c").read_text()
    start = ours.index("void tm_mlperf_put_f32(float v) {")
    end = ours.index("\n}\n", start) + 3
    printf_c.write_text(ours[:start] + ours[end:] + PRINTF_FORMATTER)
    out = {}
    for name, mlperf, swap, extra in [("bench", None, False, []), ("mlperf", app, False, []),
                                      ("mlperf_printf", app, True, ["-u", "_printf_float"])]:
        image = fw.firmware_sources(compiled, board, work, mlperf)
        sources = [printf_c if swap and p.name == "tm_mlperf_out.c" else p for p in image.sources]
        elf = work / f"{name}.elf"
        subprocess.run([fw.GCC, *image.compile_flags(board), *map(str, sources), *image.link_flags(board, work),
                        *extra, "-o", str(elf), "-lm"], check=True, capture_output=True)
        sizes = fw.elf_sizes(elf, board)
        out[f"{name}_flash"], out[f"{name}_ram"] = sizes.flash_bytes, sizes.ram_bytes
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="mps2-an386")
    parser.add_argument("--models", default="kws,vww,ic,ad")
    parser.add_argument("--window-ms", type=float, default=100.0)
    args = parser.parse_args()
    board = get_board(args.board)
    print(f"{args.board}: flash / RAM in bytes; instructions per inference; session: `tinyml mlperf --window-ms "
          f"{args.window_ms:g}` wall time\n")
    print("| model | bench app flash | mlperf app flash | with printf %f | bench app RAM | mlperf app RAM | "
          "instructions (bench) | instructions (mlperf lap) | session s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        model = REPO / "models" / "mlperf-tiny" / f"{name}.tflite"
        with tempfile.TemporaryDirectory() as tmp:
            s = image_sizes(model, args.board, Path(tmp))
        instructions = bench(model, board, runs=1).count_per_inference
        session(model, board, "performance", window_ms=args.window_ms)   # build (cached) outside the timing
        started = time.monotonic()
        report = session(model, board, "performance", window_ms=args.window_ms)
        wall = time.monotonic() - started
        lap = round(1e9 / report.throughput)   # device microseconds per inference x 1000
        print(f"| {name} | {s['bench_flash']:,} | {s['mlperf_flash']:,} | {s['mlperf_printf_flash']:,} | "
              f"{s['bench_ram']:,} | {s['mlperf_ram']:,} | {instructions:,} | {lap:,} | {wall:.1f} |")


if __name__ == "__main__":
    main()
