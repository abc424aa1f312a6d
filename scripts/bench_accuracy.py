#!/usr/bin/env python3
"""Accuracy benchmark: trains every recipe on its built-in data, quantizes it and measures float, int8 (TFLite),
compiled C (host) and on-device (QEMU) accuracy on the test split; prunes one model (structured and magnitude);
distills a small KWS student against the same student alone over several seeds. Writes the tables into
docs/BENCHMARKS.md between <!-- accuracy:begin --> and <!-- accuracy:end -->.

    python scripts/bench_accuracy.py [--quick] [--board lm3s6965evb] [--seeds 0,1,2]
--quick: reduced data and 2 epochs (a smoke test of the script, not a benchmark).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- accuracy:begin -->", "<!-- accuracy:end -->"
RECIPES = ("kws", "image", "resnet8", "anomaly", "gesture")


def device_accuracy(tflite: Path, data, board) -> tuple[float, bool]:
    from tinyml.device.bench import bench
    from tinyml.train.quantize import io_quant, quantize_inputs
    from tinyml.train.trainer import score

    (si, zi), (so, zo) = io_quant(tflite.read_bytes())
    xq = quantize_inputs(data.x_test, si, zi)
    rep = bench(tflite, board, inputs=[xq])
    out = (rep.outputs[0].astype(np.float32) - zo) * so
    return score(data.task, data.y_test, out, (xq.astype(np.float32) - zi) * si), not rep.mismatched_samples


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--work", type=Path)
    args = ap.parse_args()
    from tinyml.device.boards import get_board
    from tinyml.train.distill import distill
    from tinyml.train.prune import prune
    from tinyml.train.quantize import quantize
    from tinyml.train.trainer import data_for, train

    board = get_board(args.board)
    work = args.work or Path(tempfile.mkdtemp(prefix="tinyml-bench-acc-"))
    epochs = 2 if args.quick else None
    t0 = time.monotonic()
    rows = []
    for name in RECIPES:
        tr = train(name, work / name, epochs=epochs, small_data=args.quick, progress=False)
        q = quantize(work / name, work / name / "model.tflite")
        data = data_for(json.loads((work / name / "tinyml.json").read_text()), None)
        dev, match = device_accuracy(work / name / "model.tflite", data, board)
        rows.append((name, tr.metrics, q, dev, match))
        print(f"{name}: float {q.float_accuracy:.4f} int8 {q.int8_accuracy:.4f} C {q.host_c_accuracy:.4f} "
              f"device {dev:.4f}", file=sys.stderr)
    pr = [prune(work / "resnet8", work / f"resnet8-{m}", board_name=args.board, progress=False,
                **{m: 0.5}) for m in ("channels", "sparsity")]
    seeds = tuple(int(s) for s in args.seeds.split(","))
    ds = distill(work / "kws", "kws:0.25", work / "distill", seeds=seeds, epochs=epochs, progress=False)

    lines = [BEGIN, "", f"Made by `python scripts/bench_accuracy.py{' --quick' if args.quick else ''}` "
             f"({time.monotonic() - t0:.0f} s on this machine; on-device = {board.name} in QEMU, whole test "
             "split). Test-split metric: accuracy, or ROC AUC for the anomaly autoencoder.", "",
             "| recipe | architecture | data (hash) | params | test samples | float | int8 (TFLite) | compiled C (host) "
             "| on device (QEMU) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    from tinyml.train.recipes import RECIPES as R
    for name, m, q, dev, match in rows:
        lines.append(f"| {name} | {R[name].architecture} | {m['dataset']['name']} ({m['dataset']['content_hash']}) "
                     f"| {m['params']} | {q.test_samples} | {q.float_accuracy:.4f} | {q.int8_accuracy:.4f} | "
                     f"{q.host_c_accuracy:.4f} | {dev:.4f}{'' if match else ' (outputs DIFFER)'} |")
    lines += ["", f"Pruning resnet8 (fraction 0.5, fine-tuned {pr[0].fine_tune_epochs} epochs; instructions per "
              f"inference on {pr[0].board} in QEMU):", "",
              "| pruning | | params | non-zero | MACs | flash B | arena B | instructions | int8 accuracy |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in pr:
        for side in ("before", "after"):
            s = getattr(r, side)
            lines.append(f"| {r.mode} | {side} | {s.params} | {s.nonzero_params} | {s.macs} | {s.flash_bytes} | "
                         f"{s.arena_bytes} | {s.instructions} | {s.int8_accuracy:.4f} |")
    lines += ["", "Magnitude (unstructured) sparsity saves nothing with tinyml's dense int8 kernels: the zeros are "
              "stored and multiplied, as the unchanged flash and instruction counts show.", "",
              f"Distillation: teacher = the kws model above ({ds.teacher_params} params, float "
              f"{ds.teacher_float:.4f}); student kws width {ds.width:g} ({ds.student_params} params), T="
              f"{ds.temperature:g}, alpha={ds.alpha:g}, {ds.epochs} epochs, same data and seeds; int8 test accuracy:",
              "", "| seed | student alone | distilled |", "| --- | --- | --- |"]
    for s in ds.seeds:
        lines.append(f"| {s.seed} | {s.alone_int8:.4f} | {s.distilled_int8:.4f} |")
    alone = [s.alone_int8 for s in ds.seeds]
    dist = [s.distilled_int8 for s in ds.seeds]
    lines += [f"| mean ± std | {np.mean(alone):.4f} ± {np.std(alone):.4f} | {np.mean(dist):.4f} ± "
              f"{np.std(dist):.4f} |", "", END]
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n## Accuracy (training recipes)\n\n" + block + "\n"
    DOC.write_text(text)
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
