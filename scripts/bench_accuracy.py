#!/usr/bin/env python3
"""Accuracy benchmark: trains every recipe on its built-in data, quantizes it and measures float, int8 (TFLite),
compiled C (host) and on-device (QEMU) accuracy on the test split; prunes one model (structured and magnitude);
distills a small KWS student against the same student alone over several seeds. Writes the tables into
docs/BENCHMARKS.md between <!-- accuracy:begin --> and <!-- accuracy:end -->.

Also measures keyword spotting honestly: the kws recipe trained and tested on the voice-grouped split (no voice in
two splits, the default) beside the random split (the same voices in train and test), over the seeds, and a
3-fold voice-grouped cross-validation; every accuracy with its 95 % Wilson interval and test sample count. That
table goes between <!-- kws-splits:begin --> and <!-- kws-splits:end --> of docs/BENCHMARKS.md and docs/DATA.md.

    python scripts/bench_accuracy.py [--quick] [--board lm3s6965evb] [--seeds 0,1,2] [--only-splits]
--quick: reduced data and 2 epochs (a smoke test of the script, not a benchmark).
--only-splits: only the grouped-vs-random kws table.
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
DATA_DOC = REPO / "docs" / "DATA.md"
BEGIN, END = "<!-- accuracy:begin -->", "<!-- accuracy:end -->"
SPLITS_BEGIN, SPLITS_END = "<!-- kws-splits:begin -->", "<!-- kws-splits:end -->"
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


def ci(value: float, n: int, metric: str = "accuracy") -> str:
    """"0.9630 [0.9410, 0.9780]" (an AUC: the value alone)."""
    from tinyml.train.metrics import accuracy_interval

    if metric != "accuracy":
        return f"{value:.4f}"
    low, high = accuracy_interval(value, n)
    return f"{value:.4f} [{low:.4f}, {high:.4f}]"


def replace_block(doc: Path, begin: str, end: str, block: str, heading: str) -> None:
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + f"\n\n{heading}\n\n" + block + "\n"
    tmp = doc.with_name(f".{doc.name}.tmp")
    tmp.write_text(text)
    tmp.replace(doc)
    print(f"wrote {doc}", file=sys.stderr)


def kws_splits(work: Path, seeds: tuple[int, ...], quick: bool) -> str:
    """The kws recipe on the voice-grouped and the random split, per seed, and a 3-fold grouped CV: a table."""
    from tinyml.train.trainer import cross_validate, train

    t0 = time.monotonic()
    epochs = 2 if quick else None
    rows = []
    for seed in seeds:
        for split in ("group", "random"):
            m = train("kws", work / f"kws-{split}-s{seed}", epochs=epochs, seed=seed, small_data=quick,
                      progress=False, split=split, allow_leakage=split == "random").metrics
            rows.append((split, seed, m))
            print(f"kws {split} seed {seed}: {m['float_test']:.4f} of {m['test_samples']}", file=sys.stderr)
    cv = cross_validate("kws", work / "kws-cv", 3, epochs=epochs, seed=0, small_data=quick, progress=False)
    d = rows[0][2]["dataset"]
    lines = [SPLITS_BEGIN, "", f"Made by `python scripts/bench_accuracy.py{' --quick' if quick else ''} "
             f"--only-splits` ({time.monotonic() - t0:.0f} s on this machine): the kws recipe (DS-CNN, "
             f"{rows[0][2]['params']} params, {rows[0][2]['epochs']} epochs), float test accuracy with its 95 % "
             f"Wilson interval, on {d['name']} ({d['content_hash']}, {d['n_groups']} voice groups: 96 espeak-ng "
             "voice/variant combinations, minus those never drawn, plus one group per `_silence_` clip).", "",
             "| split | seed | test samples | groups in two splits | float test accuracy [95 % CI] |",
             "| --- | --- | --- | --- | --- |"]
    for split, seed, m in rows:
        shared = m["leakage"]["shared_groups"]
        lines.append(f"| {'voice-grouped' if split == 'group' else 'random'} | {seed} | {m['test_samples']} | "
                     f"{shared} | "
                     f"{ci(m['float_test'], m['test_samples'])} |")
    for split in ("group", "random"):
        ms = [m for s, _, m in rows if s == split]
        k = sum(round(m["float_test"] * m["test_samples"]) for m in ms)
        n = sum(m["test_samples"] for m in ms)
        acc = np.array([m["float_test"] for m in ms])
        lines.append(f"| {'voice-grouped' if split == 'group' else 'random'} | all ({len(ms)} seeds) | {n} | | "
                     f"mean {acc.mean():.4f} ± {acc.std():.4f}; pooled {ci(k / n, n)} |")
    folds = ", ".join(f"{f['float_test']:.4f} of {f['test_samples']}" for f in cv["folds"])
    lines += ["", f"Voice-grouped 3-fold cross-validation (`tinyml train kws --cv 3`): mean "
              f"{cv['float_test_mean']:.4f} ± {cv['float_test_std']:.4f} (folds {folds}); pooled over all "
              f"{cv['test_samples']} samples {ci(cv['float_test_pooled'], cv['test_samples'])}.", "", SPLITS_END]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--board", default="mps2-an386")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--work", type=Path)
    ap.add_argument("--only-splits", action="store_true")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="tinyml-bench-acc-"))
    seeds = tuple(int(s) for s in args.seeds.split(","))
    splits = kws_splits(work / "splits", seeds, args.quick)
    for doc, heading in ((DOC, "## Keyword spotting: voice-grouped against random splits"),
                         (DATA_DOC, "## Honest accuracy: voice-grouped against random splits")):
        replace_block(doc, SPLITS_BEGIN, SPLITS_END, splits, heading)
    if args.only_splits:
        return 0
    from tinyml.device.boards import get_board
    from tinyml.train.distill import distill
    from tinyml.train.prune import prune
    from tinyml.train.quantize import quantize
    from tinyml.train.trainer import data_for, train

    board = get_board(args.board)
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
    ds = distill(work / "kws", "kws:0.25", work / "distill", seeds=seeds, epochs=epochs, progress=False)

    lines = [BEGIN, "", f"Made by `python scripts/bench_accuracy.py{' --quick' if args.quick else ''}` "
             f"({time.monotonic() - t0:.0f} s on this machine; on-device = {board.name} in QEMU, whole test "
             "split). Test-split metric: accuracy with its 95 % Wilson interval, or ROC AUC for the anomaly "
             "autoencoder; default (grouped where the data has groups) splits.", "",
             "| recipe | architecture | data (hash) | params | test samples | float | int8 (TFLite) | "
             "compiled C (host) | on device (QEMU) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    from tinyml.train.recipes import RECIPES as R
    for name, m, q, dev, match in rows:
        lines.append(f"| {name} | {R[name].architecture} | {m['dataset']['name']} ({m['dataset']['content_hash']}) "
                     f"| {m['params']} | {q.test_samples} | {ci(q.float_accuracy, q.test_samples, q.metric)} | "
                     f"{ci(q.int8_accuracy, q.test_samples, q.metric)} | "
                     f"{ci(q.host_c_accuracy, q.test_samples, q.metric)} | "
                     f"{ci(dev, q.test_samples, q.metric)}{'' if match else ' (outputs DIFFER)'} |")
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
    replace_block(DOC, BEGIN, END, "\n".join(lines), "## Accuracy (training recipes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
