"""The main job, end to end: a reference model -> compile to C -> run on the host, checked byte for byte against
the TFLite interpreter -> firmware for an emulated Cortex-M4 board -> report.

Model: the official MLPerf Tiny keyword-spotting model (../shared/models/mlperf-tiny/kws.tflite) when present,
otherwise our DS-CNN reference architecture with random weights (scripts/make_reference_models.py).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED_KWS = REPO.parent / "shared" / "models" / "mlperf-tiny" / "kws.tflite"


def reference_model(work: Path) -> Path:
    if SHARED_KWS.exists():
        return SHARED_KWS
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_reference_models.py"), "-o", str(work)], check=True)
    return work / "ds_cnn_kws.tflite"


def tflite_reference(model: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(model), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    outputs = []
    for sample in x:
        it.set_tensor(inp["index"], sample[None])
        it.invoke()
        outputs.append(it.get_tensor(out["index"])[0])
    return np.stack(outputs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="mps2-an386")
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("-o", "--output", type=Path, default=REPO / "out" / "main")
    args = parser.parse_args()

    from tinyml.build import build_firmware
    from tinyml.board import get_board
    from tinyml.codegen import compile_model
    from tinyml.host import run_host

    with tempfile.TemporaryDirectory() as tmp:
        model = reference_model(Path(tmp))
        result = compile_model(model, args.output / "c")
        x = np.random.default_rng(0).integers(-128, 128, (args.samples, *result.inputs[0].shape[1:]), dtype=np.int8)
        ours = run_host(result, [x])[0]
        want = tflite_reference(model, x)
        matches = int(sum(np.array_equal(a, b) for a, b in zip(ours, want)))
        build = build_firmware(model, get_board(args.board), args.output / "firmware")
    print(f"model            {model.name} ({len(result.ops)} operators)")
    print(f"arena            {result.arena_bytes} B    weights {result.weights_bytes} B")
    print(f"host vs TFLite   {matches}/{args.samples} outputs identical")
    print(f"firmware         {args.board}: flash {build.flash_bytes} B, RAM {build.ram_bytes} B, "
          f"fits: {build.fits} -> {build.out_dir}")
    return 0 if matches == args.samples else 5


if __name__ == "__main__":
    sys.exit(main())
