"""The training wing's commands: `train`, `quantize`, `fit`, `prune` and `distill` (need `pip install .[train]`)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from tinyml.cli.lifecycle import no_track_option, record
from tinyml.cli.output import emit, pct
from tinyml.errors import TinymlError


@click.command()
@click.argument("recipe")
@click.option("--data", "data_spec", help="Built-in data set (digits, kws, vibration, gesture), a .npz file or a "
                                          "folder of WAV files (one sub-folder per class). Default: the recipe's.")
@click.option("--epochs", type=int, help="Training epochs (default: the recipe's).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the split, initialisation, shuffling.")
@click.option("--width", type=float, help="Width multiplier (or RECIPE:WIDTH).")
@click.option("--depth", type=float, default=1.0, show_default=True, help="Depth multiplier.")
@click.option("--small-data", is_flag=True, help="Use the reduced built-in data set (fast tests).")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for model.keras, metrics.json, tinyml.json (and features.json).")
@click.option("--split", type=click.Choice(["auto", "group", "random"]), default="auto", show_default=True,
              help="auto: by group (voice, machine, subject, the data's groups) where the data has groups, else "
                   "stratified at random.")
@click.option("--allow-leakage", is_flag=True, help="Train even if a sample, a near copy or a group is in two "
                                                    "splits (recorded in metrics.json).")
@click.option("--cv", "cv", type=int, help="K-fold grouped cross-validation: K trainings, mean and spread of the "
                                           "test metric in metrics.json (no model is saved).")
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json.")
@no_track_option
def train(recipe: str, data_spec: str | None, epochs: int | None, seed: int, width: float | None, depth: float,
          small_data: bool, out_dir: Path, split: str, allow_leakage: bool, cv: int | None, as_json: bool,
          no_track: bool) -> None:
    """Train RECIPE (kws, image, resnet8, anomaly, gesture; RECIPE:WIDTH) and save it with its metrics."""
    from tinyml.train.metrics import describe
    from tinyml.train.trainer import cross_validate
    from tinyml.train.trainer import train as run

    if cv is not None:
        m = cross_validate(recipe, out_dir, cv, data_spec=data_spec, epochs=epochs, seed=seed, width=width,
                           depth=depth, small_data=small_data, progress=True, allow_leakage=allow_leakage)
        emit(m, as_json, f"{m['recipe']} on {m['dataset']['name']} [{m['dataset']['content_hash']}], {cv} folds "
                          f"by {m['groups'] or 'sample'}: float test {m['metric']} mean {pct(m['float_test_mean'])}"
                          f" ± {100 * m['float_test_std']:.2f} (folds "
                          f"{', '.join(pct(f['float_test']) for f in m['folds'])}); pooled "
                          f"{describe(m['float_test_pooled'], m['test_samples'], m['metric'])} -> {out_dir}")
        record("train", m, [out_dir / "metrics.json"])
        return
    result = run(recipe, out_dir, data_spec=data_spec, epochs=epochs, seed=seed, width=width, depth=depth,
                 small_data=small_data, progress=True, split=split, allow_leakage=allow_leakage)
    m = result.metrics
    d = m["dataset"]
    emit(m, as_json, f"{m['recipe']} (width {m['width']:g}, depth {m['depth']:g}, {m['params']} params) on "
                      f"{d['name']} [{d['content_hash']}], {d['split_scheme']} split"
                      f"{' by ' + d['groups'] if d['split_scheme'] == 'group' else ''}, seed {m['seed']}: float "
                      f"{m['metric']} val {describe(m['float_val'], d['sizes']['val'], m['metric'])}, test "
                      f"{describe(m['float_test'], m['test_samples'], m['metric'])} -> {out_dir}"
                      + (f"\n  warning: leaked split allowed: {m['leakage']['exact_duplicates']} exact, "
                         f"{m['leakage']['near_duplicates']} near duplicates, {m['leakage']['shared_groups']} "
                         "shared groups" if m["leakage"]["allowed"] else ""))
    record("train", m, [out_dir])


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--calib", "calib_spec", help="Calibration/evaluation data (built-in name, .npz, WAV folder); "
                                            "default: the data the model was trained on (its tinyml.json). Inputs "
                                            "only (a .npz with just x, or a folder of .npy inputs): calibrated "
                                            "without labels, int8 compared with float.")
@click.option("--seed", type=int, help="Split seed (default: the model's training seed).")
@click.option("-o", "--output", "out_path", required=True, type=click.Path(path_type=Path),
              help="The int8 .tflite to write (a .json report is written beside it).")
@click.option("--verbose", is_flag=True, help="Show TensorFlow's and the converter's log lines (by default they "
                                              "go to quantize.log beside the output).")
@click.option("--activations", type=click.Choice(["int8", "int16"]), default="int8", show_default=True,
              help="int16: 16x8 quantization (int16 activations, input and output; int8 weights; int64 bias), "
                   "for models that lose accuracy at int8 (audio front ends, regression).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@no_track_option
def quantize(model: Path, calib_spec: str | None, seed: int | None, out_path: Path, verbose: bool,
             activations: str, as_json: bool, no_track: bool) -> None:
    """Full-integer int8 (or, with --activations int16, 16x8) PTQ of MODEL (.keras, model dir, SavedModel dir or
    .onnx); reports float, quantized (TFLite) and compiled-C (host) accuracy on the test split."""
    from tinyml.train.metrics import describe
    from tinyml.train.quantize import CalibrationReport
    from tinyml.train.quantize import quantize as run

    r = run(model, out_path, calib_spec, seed=seed, verbose=verbose, activations=activations)
    kind = "16x8" if activations == "int16" else "int8"
    onnx_line = (f"\n  ONNX {r.onnx['onnx_input']} {r.onnx['onnx_input_shape']} -> int8 input "
                 f"{r.onnx['tflite_input']} {r.onnx['tflite_input_shape']}; data read as {r.onnx['data_layout']}"
                 if r.onnx else "")
    if isinstance(r, CalibrationReport):
        emit(r.to_json(), as_json,
             f"{out_path}: {r.tflite_bytes} B; calibrated on {r.calib_samples} unlabelled inputs; {kind} vs float on "
             f"{r.check_samples}: "
             + (f"top-1 agreement {pct(r.top1_agreement)}, " if r.top1_agreement is not None else "")
             + f"max error {pct(r.max_error_vs_float)} of the output range; compiled C on host "
             f"{'bit-exact with TFLite' if r.host_equals_tflite else 'DIFFERS'}" + onnx_line)
    else:
        emit(r.to_json(), as_json,
             f"{out_path}: {r.tflite_bytes} B; test {r.metric}: float "
             f"{describe(r.float_accuracy, r.test_samples, r.metric)}, {kind} TFLite "
             f"{describe(r.int8_accuracy, r.test_samples, r.metric)}, compiled C on host "
             f"{describe(r.host_c_accuracy, r.test_samples, r.metric)} "
             f"({'bit-exact with TFLite' if r.host_equals_tflite else 'DIFFERS'})" + onnx_line)
    record("quantize", r.to_json(), [out_path, out_path.with_suffix(".features.json")])


@click.command()
@click.option("--board", "board_name", required=True, help="Board name (see `tinyml boards`) or a .toml profile.")
@click.option("--recipe", "recipe", required=True, help="Recipe to search (kws, image, resnet8, anomaly, gesture).")
@click.option("--max-ram-kb", type=float, help="RAM budget (KB; default and upper bound: the board's).")
@click.option("--max-flash-kb", type=float, help="Flash budget (KB; default and upper bound: the board's).")
@click.option("--max-latency-ms", type=float, help="Latency budget per inference (ms at the board's clock).")
@click.option("--max-energy-uj", type=float, help="Energy budget per inference (uJ, board power model).")
@click.option("--min-accuracy", type=float, help="Minimum int8 validation accuracy (AUC for anomaly), 0..1.")
@click.option("--data", "data_spec", help="Data instead of the recipe's (built-in name, .npz, WAV folder).")
@click.option("--epochs", type=int, help="Training epochs per candidate (default: the recipe's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-train", type=int, default=8, show_default=True, help="Train at most this many candidates.")
@click.option("--device-samples", type=int, help="Test samples to run in the emulator (default: the whole split).")
@click.option("--widths", help="Comma-separated width multipliers (default: the recipe's grid).")
@click.option("--depths", help="Comma-separated depth multipliers (default: the recipe's grid).")
@click.option("--prune-ratios", default="0.25,0.5", show_default=True,
              help="Channel fractions to prune from the most accurate trained candidate (fine-tuned); 'none': no "
                   "pruned candidates.")
@click.option("--distill/--no-distill", default=True, show_default=True,
              help="Add a narrower student distilled from the largest trained candidate (classifiers).")
@click.option("--small-data", is_flag=True, help="Use the reduced built-in data set (fast tests).")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path),
              help="Work and result directory (default: fit-RECIPE-BOARD).")
@click.option("--executor", type=click.Choice(["serial", "ray"]), default="serial", show_default=True,
              help="Size and train the candidates in this process, or as Ray tasks (a local Ray: 2 CPUs, loopback).")
@click.option("--address", help="With --executor ray: the Ray cluster to join (HOST:PORT of `ray start --head`).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@no_track_option
def fit(board_name: str, recipe: str, max_ram_kb: float | None, max_flash_kb: float | None,
        max_latency_ms: float | None, max_energy_uj: float | None, min_accuracy: float | None,
        data_spec: str | None, epochs: int | None, seed: int, max_train: int, device_samples: int | None,
        widths: str | None, depths: str | None, prune_ratios: str, distill: bool, small_data: bool,
        out_dir: Path | None, executor: str, address: str | None, as_json: bool, no_track: bool) -> None:
    """Search RECIPE's width/depth grid, plus channel-pruned and distilled models derived from the trained
    candidates, for the most accurate int8 model within the board's budgets, build it and run it in the board's
    emulator. Exit code 3 if nothing fits."""
    from tinyml.train.fit import fit as run

    def floats(text: str | None, name: str) -> tuple[float, ...] | None:
        try:
            return tuple(float(v) for v in text.split(",")) if text else None
        except ValueError:
            raise TinymlError(f"{name} takes comma-separated numbers, got '{text}'") from None

    out_dir = out_dir or Path(f"fit-{recipe}-{Path(board_name).stem}")
    r = run(recipe, board_name, out_dir, max_ram_kb=max_ram_kb, max_flash_kb=max_flash_kb,
            max_latency_ms=max_latency_ms, max_energy_uj=max_energy_uj, min_accuracy=min_accuracy,
            epochs=epochs, data_spec=data_spec, seed=seed, small_data=small_data, max_train=max_train,
            device_samples=device_samples, widths=floats(widths, "--widths"), depths=floats(depths, "--depths"),
            prune_ratios=() if prune_ratios.strip().lower() in ("", "none") else floats(prune_ratios,
                                                                                        "--prune-ratios"),
            distill=distill, progress=True, executor=executor, address=address)
    record("fit", r.to_json(), [out_dir / "fit.json", r.chosen["model"] if r.chosen else None, r.pareto_plot])
    if as_json:
        click.echo(json.dumps(r.to_json(), indent=2))
        return
    from tinyml.train.metrics import describe

    metric = r.chosen["metric"] if r.chosen else "accuracy"
    w = max([12, *(len(c["tag"]) for c in r.table)])
    trained = [c for c in r.table if c["trained"]]
    if trained:
        click.echo(f"{metric}: % with its 95% Wilson interval; {trained[0]['val_samples']} validation, "
                   f"{trained[0]['test_samples']} test samples" if metric == "accuracy" else
                   f"{metric.upper()} over {trained[0]['val_samples']} validation, {trained[0]['test_samples']} test "
                   "samples")
    click.echo(f"{'candidate':{w}} {'params':>8} {'MACs':>10} {'flash B':>8} {'RAM B':>7} {'ms est':>9} "
               f"{'uJ est':>9} {'int8 val':>18} {'int8 test':>18}  fits")
    for c in r.table:
        click.echo(f"{c['tag']:{w}} {c['params']:>8} {c['macs']:>10} {c['flash_bytes']:>8} {c['ram_bytes']:>7} "
                   f"{c['latency_ms_estimate']:>9.2f} {c['energy_uj_estimate']:>9.2f} "
                   f"{_score(c['int8_val'], c['int8_val_interval']):>18} "
                   f"{_score(c['int8_test'], c['int8_test_interval']):>18}  "
                   f"{'yes' if c['fits'] else '; '.join(c['violations'])}")
    ch = r.chosen
    click.echo(f"chosen {ch['candidate']} for {r.board}: int8 test {metric} "
               f"{describe(ch['accuracy_int8'], ch['test_samples'], metric)} (compiled C "
               f"{describe(ch['accuracy_host_c'], ch['test_samples'], metric)}), flash {ch['flash_bytes']} B, RAM "
               f"{ch['ram_bytes']} B, ~{ch['latency_ms_estimate']:.2f} ms, ~{ch['energy_uj_estimate']:.2f} uJ -> "
               f"{ch['model']}")
    if r.device:
        d = r.device
        click.echo(f"QEMU: {d['samples']} test samples, {metric} {describe(d['accuracy'], d['samples'], metric)}, "
                   "outputs "
                   f"{'match' if d['outputs_match_reference'] else 'DIFFER from'} the reference, "
                   f"{d['instructions_per_inference']:,} instructions per inference (estimated "
                   f"{d['instructions_estimate']:,})")
    click.echo(f"Pareto plot: {r.pareto_plot}")


def _score(value: float | None, interval: list[float] | None) -> str:
    """A table cell: "91.2 [88.1,93.6]" (an accuracy in %, its 95% interval), "0.9712" (an AUC), "-" (untrained)."""
    if value is None:
        return "-"
    if interval is None:
        return f"{value:.4f}"
    return f"{100 * value:.1f} [{100 * interval[0]:.1f},{100 * interval[1]:.1f}]"


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--sparsity", type=float, help="Magnitude pruning: fraction of each kernel's weights set to zero.")
@click.option("--channels", type=float, help="Structured pruning: fraction of channels removed per prunable layer.")
@click.option("--epochs", type=int, help="Fine-tuning epochs (default: a third of the recipe's).")
@click.option("--data", "data_spec", help="Data (default: the model's training data).")
@click.option("--board", "board_name", default="mps2-an386", show_default=True,
              help="Board for flash/arena sizes and emulator instruction counts.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for the pruned model.keras, model.tflite and metrics.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@no_track_option
def prune(model: Path, sparsity: float | None, channels: float | None, epochs: int | None, data_spec: str | None,
          board_name: str, out_dir: Path, as_json: bool, no_track: bool) -> None:
    """Prune a trained MODEL (magnitude --sparsity or structured --channels), fine-tune, report before/after."""
    from tinyml.train.prune import prune as run

    r = run(model, out_dir, sparsity=sparsity, channels=channels, epochs=epochs, data_spec=data_spec,
            board_name=board_name, progress=True)
    record("prune", r.to_json(), [out_dir])
    if as_json:
        click.echo(json.dumps(r.to_json(), indent=2))
        return
    click.echo(f"{r.mode} pruning {r.amount:g} of {model} ({r.fine_tune_epochs} fine-tuning epochs), on {r.board}:")
    from tinyml.train.metrics import describe

    click.echo(f"{'':10} {'params':>8} {'non-zero':>8} {'MACs':>10} {'flash B':>8} {'arena B':>8} "
               f"{'instructions':>13}")
    for name, s in (("before", r.before), ("after", r.after)):
        click.echo(f"{name:10} {s.params:>8} {s.nonzero_params:>8} {s.macs:>10} {s.flash_bytes:>8} "
                   f"{s.arena_bytes:>8} {s.instructions if s.instructions is not None else '-':>13}")
    for name, s in (("before", r.before), ("after", r.after)):
        click.echo(f"{name} test {r.metric}: float {describe(s.float_accuracy, s.test_samples, r.metric)}, int8 "
                   f"{describe(s.int8_accuracy, s.test_samples, r.metric)}, compiled C "
                   f"{describe(s.host_c_accuracy, s.test_samples, r.metric)}")
    click.echo(f"note: {r.note}")


@click.command()
@click.option("--teacher", "teacher", required=True, type=click.Path(path_type=Path),
              help="Trained teacher (model directory from `tinyml train`, or .keras).")
@click.option("--student", "student", required=True, help="Student recipe, RECIPE[:WIDTH] (e.g. kws:0.25).")
@click.option("--temperature", type=float, default=4.0, show_default=True)
@click.option("--alpha", type=float, default=0.7, show_default=True, help="Weight of the distillation term.")
@click.option("--epochs", type=int, help="Epochs for both students (default: the recipe's).")
@click.option("--seeds", default="0", show_default=True, help="Comma-separated seeds (e.g. 0,1,2).")
@click.option("--data", "data_spec", help="Data (default: the teacher's training data).")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@no_track_option
def distill(teacher: Path, student: str, temperature: float, alpha: float, epochs: int | None, seeds: str,
            data_spec: str | None, out_dir: Path, as_json: bool, no_track: bool) -> None:
    """Distill a student recipe from a teacher; compare with the same student trained alone (same data, epochs,
    seeds)."""
    from tinyml.train.distill import distill as run

    try:
        seed_list = tuple(int(s) for s in seeds.split(","))
    except ValueError:
        raise TinymlError(f"--seeds takes comma-separated integers, got '{seeds}'") from None
    r = run(teacher, student, out_dir, temperature=temperature, alpha=alpha, epochs=epochs, seeds=seed_list,
            data_spec=data_spec, progress=True)
    record("distill", r.to_json(), [out_dir])
    if as_json:
        click.echo(json.dumps(r.to_json(), indent=2))
        return
    from tinyml.train.metrics import describe

    n = r.seeds[0].test_samples
    click.echo(f"teacher {r.teacher_params} params, float test {describe(r.teacher_float, n)}; student {r.student} "
               f"width {r.width:g} ({r.student_params} params), T={r.temperature:g}, alpha={r.alpha:g}, "
               f"{r.epochs} epochs")
    for s in r.seeds:
        click.echo(f"  seed {s.seed}: alone int8 {describe(s.alone_int8, n)}, distilled int8 "
                   f"{describe(s.distilled_int8, n)} (compiled C {describe(s.distilled_host_c, n)})")
    click.echo(f"mean int8 test {r.metric} over {len(r.seeds)} seeds (pooled test predictions): alone "
               f"{describe(r.alone_int8_mean, n * len(r.seeds))}, distilled "
               f"{describe(r.distilled_int8_mean, n * len(r.seeds))}")


COMMANDS = (train, quantize, fit, prune, distill)
