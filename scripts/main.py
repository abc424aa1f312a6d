"""The main job, end to end with the `tinyml` commands a user would type:

  train (keyword spotting on speech made offline with espeak-ng) -> quantize (full int8; float, TFLite int8 and
  our compiled C accuracies) -> build (firmware for an emulated Cortex-M4 board) -> bench (run in QEMU, every
  output checked byte for byte against the host references) -> report.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from tinyml.errors import MISMATCH, OK

REPO = Path(__file__).resolve().parent.parent
TINYML = [sys.executable, "-c", "import sys, tinyml.cli; sys.exit(tinyml.cli.main())"]


def tinyml(*args: str | Path) -> dict:
    """Run one `tinyml ... --json` command, show it, and return its JSON report; stop the job on failure."""
    cmd = [*map(str, args), "--json"]
    print(f"$ tinyml {' '.join(cmd)}", file=sys.stderr, flush=True)
    proc = subprocess.run([*TINYML, *cmd], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(proc.returncode)
    return json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="kws")
    parser.add_argument("--board", default="mps2-an386")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's)")
    parser.add_argument("--runs", type=int, default=20, help="inferences in QEMU")
    parser.add_argument("-o", "--output", type=Path, default=REPO / "out" / "main")
    args = parser.parse_args()
    out = args.output
    epochs = ["--epochs", str(args.epochs)] if args.epochs else []

    tinyml("train", args.recipe, *epochs, "-o", out / "train")
    quant = tinyml("quantize", out / "train" / "model.keras", "-o", out / "model.tflite")
    build = tinyml("build", out / "model.tflite", "--board", args.board, "-o", out / "firmware")
    bench = tinyml("bench", out / "model.tflite", "--board", args.board, "--build-dir", out / "firmware",
                   "--runs", str(args.runs))

    print(f"\ntinyml main job: recipe {args.recipe} on {args.board} (emulated)\n")
    rows = [
        ("data set", f"{quant['data']['source']}, version {quant['data']['content_hash']}, "
                     f"test split {quant['test_samples']} samples"),
        ("test accuracy", " / ".join(
            f"{what} {quant[key]:.4f}" + (" [{:.4f}, {:.4f}]".format(*quant[f"{key}_interval"])
                                          if f"{key}_interval" in quant else "")
            for what, key in (("float", "float_accuracy"), ("int8 TFLite", "int8_accuracy"),
                              ("our C on the host", "host_c_accuracy"))) + " (95 % Wilson intervals)"),
        ("flash / RAM", f"{build['flash_bytes']} B / {build['ram_bytes']} B, arena {build['arena_bytes']} B, "
                        f"fits: {build['fits']}"),
        ("QEMU outputs", f"{bench['outputs_match']}/{bench['outputs_total']} byte-identical to the host references"),
        ("instructions", f"{bench['instructions_per_inference']} per inference (deterministic, -icount shift=0)"),
        ("latency", f"{bench['latency_ms_estimate']:.2f} ms at the board clock, 1 cycle per instruction "
                    "(a lower bound)"),
        ("peak stack", f"{bench['stack_peak_bytes']} B"),
        ("energy", f"{bench['energy_uj_estimate']:.1f} uJ per inference (board power model)"),
    ]
    for name, value in rows:
        print(f"  {name:<14} {value}")
    return OK if bench["outputs_match"] == bench["outputs_total"] else MISMATCH


if __name__ == "__main__":
    sys.exit(main())
