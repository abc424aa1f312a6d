"""What the field app's statistics cost on a Cortex-M: RAM (from the ELF) and instructions per inference (in QEMU).

Usage: python scripts/field_cost.py [--model models/mlperf-tiny/kws.tflite] [--board mps2-an386] [--inferences 20]
                                    [--json]

Builds the model's field firmware (`tinyml build --app field`), streams `--inferences` random int8 input tensors
into it in QEMU (a model with features.json gets one random int16 clip per inference instead, after a stream
restart) and reads the device's counters (FIELD_INFO): the ticks spent in `tm_model_invoke()` and in the
statistics (`tm_stats_add_input` before it, `tm_stats_add_outputs` after it), measured on the device's tick counter
around exactly those calls. Under `-icount shift=0` ticks are instructions (`ticks_to_instructions`), so the
figures are exact whatever the host's load. RAM: the size of the `tm_field_stats` symbol and of the feature
extractor's data in the linked ELF (build.json's "field").

Acceptance (issue 10) for the KWS model: statistics at most 1 KB of RAM and at most 2% of the inference's
instructions.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from tinyml.device.boards import get_board
from tinyml.device.build import build_firmware
from tinyml.device.field_app import FieldOptions
from tinyml.device.field_device import FieldDevice
from tinyml.device.targets.qemu import ticks_to_instructions

ROOT = Path(__file__).resolve().parents[1]
STATS_RAM_LIMIT = 1024
STATS_SHARE_LIMIT = 0.02


def measure(model: Path, board_name: str, inferences: int, work: Path) -> dict:
    board = get_board(board_name)
    build = build_firmware(model, board, work / "field", app="field",
                           field=FieldOptions(report_every=max(inferences, 1)))
    field = build.field or {}
    rng = np.random.default_rng(0)
    with FieldDevice(build.out_dir, board, b"cost", boot=1) as dev:
        tensor_bytes = dev.info().device.inputs[0].bytes
        for _ in range(inferences):
            if field["features_on_chip"]:
                dev.restart_stream()
                dev.feed((rng.normal(size=16000) * 3000).astype(np.int16))
            else:
                dev.feed(rng.integers(-128, 128, tensor_bytes, dtype=np.int8))
        counters = dev.info().field
    if counters.inferences != inferences:
        raise SystemExit(f"the device ran {counters.inferences} inferences, {inferences} were streamed")
    model_instr = ticks_to_instructions(board, counters.model_ticks) / inferences
    stats_instr = ticks_to_instructions(board, counters.stats_ticks) / inferences
    return {"model": str(model), "board": board.name, "inferences": inferences,
            "stats_bytes": field["stats_bytes"], "features_bytes": field["features_bytes"],
            "identity_bytes": field["identity_bytes"], "arena_bytes": build.arena_bytes,
            "ram_bytes": build.ram_bytes, "flash_bytes": build.flash_bytes,
            "instructions_per_inference_without_stats": round(model_instr),
            "instructions_per_inference_with_stats": round(model_instr + stats_instr),
            "stats_instructions_per_inference": round(stats_instr),
            "stats_share": stats_instr / model_instr,
            "tick_instructions": ticks_to_instructions(board, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "mlperf-tiny" / "kws.tflite")
    parser.add_argument("--board", default="mps2-an386")
    parser.add_argument("--inferences", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="field-cost-") as tmp:
        r = measure(args.model, args.board, args.inferences, Path(tmp))
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"| model | board | statistics RAM | feature extractor RAM | instructions / inference without "
              f"statistics | with statistics | statistics share |\n|---|---|---|---|---|---|---|\n"
              f"| {Path(r['model']).name} | {r['board']} | {r['stats_bytes']} B | {r['features_bytes']} B | "
              f"{r['instructions_per_inference_without_stats']:,} | {r['instructions_per_inference_with_stats']:,} "
              f"| {100 * r['stats_share']:.2f}% |")
        print(f"(mean over {r['inferences']} inferences; one device tick = {r['tick_instructions']} instructions)")
    ok = r["stats_bytes"] <= STATS_RAM_LIMIT and r["stats_share"] <= STATS_SHARE_LIMIT
    print("within the issue-10 bounds (<= 1 KB, <= 2%)" if ok else "OVER the issue-10 bounds (1 KB, 2%)",
          file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
