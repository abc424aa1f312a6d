"""Parity of the device's feature extractor (firmware/features + the tables generated from features.json) with the
host's numpy extractor (`tinyml.features.extract`), as int8 model inputs.

Usage: python scripts/feature_parity.py [--qemu-clips 6] [--boards mps2-an386,mps2-an385]
                                        [--model kws=PATH.tflite] [--model vibration=PATH.tflite] [--write-docs]

For each built-in data set (kws, vibration) the whole test split, split as `tinyml train` splits it (grouped,
seed 0), is turned into int16 sensor clips (full scale 32768 = 1.0; the vibration signals reach 6.5 units, so
they are streamed at a gain of 1/8, exact in binary, so that no sample clips). The host reference is `extract()`
on those very int16 samples (/ 32768.0), normalised with the data set's features.json and quantized with
`tinyml.train.quantize.quantize_inputs`. The device side streams each clip, after `tm_features_reset()`, through
the C extractor in chunks of varying length: built with the host `cc` for the whole split, and in QEMU on the
Cortex-M4 (`mps2-an386`, FPU) and Cortex-M3 (`mps2-an385`, soft float) for the first `--qemu-clips` clips. A
stress row repeats the host run with an input step 8 times finer (counting only the values the host does not clamp),
so the float32-versus-float64 error shows.

The model input's quantization is a trained model's (`--model NAME=PATH.tflite`, whose features.json is used
too) or, by default, the one TFLite's calibration gives an int8 input: the range of the training split's
features (widened to hold 0) over 255 steps. `--write-docs` writes the tables into docs/FIELD.md between
`<!-- features:begin -->` and `<!-- features:end -->`.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tinyml.compiler.codegen import TensorInfo
from tinyml.compiler.codegen.features import generate_features
from tinyml.compiler.ir.reader import read_tflite
from tinyml.device.boards import get_board
from tinyml.device.build import FirmwareSources
from tinyml.device.features_run import (
    build_board,
    build_host,
    calibrated_input,
    compare,
    host_features,
    run_board,
    run_host,
    to_int16,
)
from tinyml.device.features_sources import FEATURES_DIR, STATIC_SOURCES, features_json, read_features
from tinyml.device.targets.qemu import ticks_to_instructions
from tinyml.features import FeatureParams
from tinyml.train.data import builtin_signals, load_dataset
from tinyml.train.quantize import quantize_inputs

REPO_DIR = Path(__file__).resolve().parents[1]
GAINS = {"kws": 1.0, "vibration": 0.125}   # raw signal units -> int16 full scale
FINER = 8                                  # the stress row: an input step this much finer shows the float32 error


@dataclass(frozen=True)
class Stream:
    name: str
    features: dict
    model_input: TensorInfo
    clips: np.ndarray          # (n, clip_samples) int16
    reference: np.ndarray      # (n, input bytes) int8: the host's features


def model_input(tflite: Path) -> TensorInfo:
    graph = read_tflite(tflite)
    t = graph.tensors[graph.inputs[0]]
    return TensorInfo(t.name, t.dtype, t.shape, t.scale, t.zero_point)


def stream(name: str, model: Path | None) -> Stream:
    data = load_dataset(name)
    signals, _, _ = builtin_signals(name)
    clips = to_int16(signals[data.index["test"]], GAINS[name])
    if model is not None:
        found = features_json(model)
        if found is None:
            sys.exit(f"{model}: no features.json beside it")
        features, info = read_features(found), model_input(model)
    else:
        features = data.features
        calib = host_features(to_int16(signals[data.index["train"]], GAINS[name]), FeatureParams.from_json(features))
        info = calibrated_input(calib, (1, *data.input_shape))
    p = FeatureParams.from_json(features)
    reference = quantize_inputs(host_features(clips, p), info.scale, info.zero_point).reshape(len(clips), -1)
    return Stream(name, features, info, clips, reference)


def object_sizes(s: Stream, board_name: str, work: Path) -> tuple[int, int]:
    """(RAM, flash) bytes of the extractor alone, its objects built with the board's flags (FPU or soft float):
    .data + .bss, and .text (code and constant tables) + .data, from arm-none-eabi-size. Library code it calls
    (logf, rintf, soft-float routines on a core without FPU) is not counted."""
    board = get_board(board_name)
    work.mkdir(parents=True, exist_ok=True)
    generate_features(s.features, s.model_input, work, "features.json")
    flags = FirmwareSources([], [work, FEATURES_DIR], work / "unused.ld").compile_flags(board)
    objects = []
    for src in [work / "tm_features_tables.c", *STATIC_SOURCES]:
        obj = work / f"{src.stem}.{board_name}.o"
        subprocess.run(["arm-none-eabi-gcc", *flags, "-c", str(src), "-o", str(obj)], check=True)
        objects.append(str(obj))
    out = subprocess.run(["arm-none-eabi-size", "--totals", *objects], check=True, capture_output=True,
                         text=True).stdout.splitlines()[-1].split()
    text, data, bss = (int(v) for v in out[:3])
    return data + bss, text + data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qemu-clips", type=int, default=6)
    parser.add_argument("--boards", default="mps2-an386,mps2-an385")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="use this quantized model's input quantization and features.json for data set NAME")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    models = {k: Path(v) for k, v in (m.split("=", 1) for m in args.model)}
    boards = [b for b in args.boards.split(",") if b]
    rows, costs = [], []
    with tempfile.TemporaryDirectory(prefix="tinyml-feature-parity-") as tmp:
        for name in GAINS:
            s = stream(name, models.get(name))
            p = FeatureParams.from_json(s.features)
            host = build_host(s.features, s.model_input, Path(tmp) / name / "host")
            rows.append((name, "host cc (x86-64)", compare(run_host(host, s.clips), s.reference, p.frames)))
            print(_row(*rows[-1]), flush=True)
            fine = replace(s.model_input, scale=float(np.float32(s.model_input.scale / FINER)))
            fine_ref = quantize_inputs(host_features(s.clips, p), fine.scale, fine.zero_point).reshape(len(s.clips), -1)
            fine_run = run_host(build_host(s.features, fine, Path(tmp) / name / "fine"), s.clips)
            rows.append((name, f"host cc, stress: input step / {FINER}, unclamped values only",
                         compare(fine_run, fine_ref, p.frames, unsaturated=True)))
            print(_row(*rows[-1]), flush=True)
            for board_name in boards:
                board = get_board(board_name)
                elf = build_board(s.features, s.model_input, board, Path(tmp) / name / board_name)
                run = run_board(elf, board, s.clips[:args.qemu_clips])
                fpu = "soft float" if board.fpu == "none" else "FPU"
                rows.append((name, f"QEMU {board_name} ({board.core}, {fpu})", compare(run, s.reference, p.frames)))
                print(_row(*rows[-1]), flush=True)
                per_frame = np.mean([ticks_to_instructions(board, int(t)) for t in run.ticks]) / p.frames
                ram, flash = object_sizes(s, board_name, Path(tmp) / name / f"{board_name}-objects")
                costs.append(f"| {name} | {board_name} ({board.core}) | {ram:,} | {flash:,} | {per_frame:,.0f} |")
                print(costs[-1], flush=True)
    quant = ", ".join(f"{n}: {'model ' + str(models[n]) if n in models else 'calibrated on the training split'}"
                      for n in GAINS)
    text = "\n".join([
        "| data set | extractor run | clips | int8 values | identical | off by 1 LSB | max abs diff |",
        "|---|---|---|---|---|---|---|", *(_row(*r) for r in rows), "",
        f"Input quantization: {quant}.", "",
        "| data set | board | RAM (bytes) | flash (bytes, tables included) | instructions per frame |",
        "|---|---|---|---|---|", *costs])
    print(text)
    if args.write_docs:
        from doc_sections import replace_section  # beside this script

        replace_section(REPO_DIR / "docs" / "FIELD.md", "features", text, heading="## Features on the device")
    worst = max(r[2]["max_diff"] for r in rows)
    return 0 if worst <= 1 else 1


def _row(name: str, where: str, r: dict) -> str:
    return (f"| {name} | {where} | {r['clips']:,} | {r['values']:,} | {100 * r['identical']:.4f} % | "
            f"{100 * r['off_by_one']:.4f} % | {r['max_diff']} |")


if __name__ == "__main__":
    sys.exit(main())
