"""The compiler wing's commands: `compile` (TFLite to C) and `infer` (the generated C run on the host)."""
from __future__ import annotations

from pathlib import Path

import click

from tinyml.cli.output import emit


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for model.c, model.h, model_weights.c/.h.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def compile(model: Path, out_dir: Path, as_json: bool) -> None:  # noqa: A001 - the verb users type
    """Compile MODEL (.tflite, full-integer int8) into C sources in OUTPUT."""
    from tinyml.compiler.codegen import compile_model

    result = compile_model(model, out_dir)
    summary = {**result.summary(), "out_dir": str(result.out_dir),
               "runtime_sources": [str(p) for p in result.sources[2:]]}
    emit(summary, as_json, f"{model}: {len(result.ops)} operators, arena {result.arena_bytes} B, "
                            f"weights {result.weights_bytes} B -> {out_dir}")


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--inputs", "inputs_path", required=True, type=click.Path(path_type=Path),
              help=".npy of N samples in the input's dtype (.npz: one array per model input): (N, *input_shape[1:]), "
                   "or (N, *input_shape) if the input's first dimension is not 1.")
@click.option("--output", "output_path", required=True, type=click.Path(path_type=Path),
              help="Where to write the outputs (.npy; .npz for several outputs).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def infer(model: Path, inputs_path: Path, output_path: Path, as_json: bool) -> None:
    """Run MODEL on the host through the generated C (compiled with the host compiler, cached)."""
    from tinyml import npyio
    from tinyml.device.targets.host import infer as run

    inputs = npyio.load_inputs(inputs_path)
    outputs = run(model, inputs, source=str(inputs_path))
    npyio.save_outputs(output_path, outputs)
    n = outputs[0].shape[0] if outputs else 0
    emit({"model": str(model), "samples": n, "output": str(output_path),
           "output_shapes": [list(o.shape) for o in outputs]}, as_json,
          f"{model}: {n} samples -> {output_path}")


COMMANDS = (compile, infer)
