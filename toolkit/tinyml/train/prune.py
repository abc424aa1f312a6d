"""`tinyml prune`: magnitude (unstructured) pruning and structured channel pruning, both fine-tuned.

- `--sparsity S`: the fraction S of each Conv/Depthwise/Dense kernel's smallest-magnitude weights is set to zero
  and kept at zero while fine-tuning. tinyml's int8 kernels are dense: zeros are stored and multiplied like any
  other weight, so flash, arena and instruction counts do not change. Only the count of non-zero parameters does
  (useful for compression, not for this runtime). The report says so instead of claiming a saving.
- `--channels F`: removes the fraction F of output channels (smallest L1 norm) of every Conv/Dense layer whose
  output is neither the model's output nor part of a residual addition, together with the matching BatchNorm
  channels, depthwise channels and input rows of the next layer. The result is a smaller dense model (fewer
  parameters, MACs, flash, arena and instructions), then fine-tuned.
Fine-tuning (`FineTune`, `fine_tune`) takes a third of the training epochs at a third of the learning rate;
`tinyml fit` prunes its candidates with the same rule (`prune_channels`).
Both report parameters, MACs, flash, arena, instructions per inference (QEMU) and int8 accuracy before and after.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import TinymlError

DENSE_KERNEL_NOTE = ("unstructured sparsity saves nothing with tinyml's dense int8 kernels: zero weights are still "
                     "stored in flash and multiplied, so flash, arena and instructions are unchanged; only the "
                     "number of non-zero parameters drops")
PASS_THROUGH = ("BatchNormalization", "ReLU", "Activation", "Dropout", "MaxPooling2D", "AveragePooling2D",
                "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
                "GlobalMaxPooling1D", "GlobalMaxPooling2D", "DepthwiseConv2D")
PRUNABLE = ("Conv2D", "Conv1D", "Dense")


def _producers(layer) -> list:
    node = layer._inbound_nodes[0]
    return [t._keras_history.operation for t in node.input_tensors]


def _kernel_layers(model) -> list:
    return [layer for layer in model.layers if type(layer).__name__ in (*PRUNABLE, "DepthwiseConv2D")]


def magnitude_masks(model, sparsity: float) -> dict[str, np.ndarray]:
    masks = {}
    for layer in _kernel_layers(model):
        w = layer.get_weights()[0]
        k = int(round(sparsity * w.size))
        mask = np.ones(w.size, bool)
        if k:
            mask[np.argsort(np.abs(w).ravel(), kind="stable")[:k]] = False
        masks[layer.name] = mask.reshape(w.shape)
    return masks


def apply_masks(model, masks: dict[str, np.ndarray]) -> None:
    for layer in model.layers:
        if layer.name in masks:
            weights = layer.get_weights()
            weights[0] = weights[0] * masks[layer.name]
            layer.set_weights(weights)


def _mask_callback(masks):
    import keras

    class KeepZero(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            apply_masks(self.model, masks)

    return KeepZero()


MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum")


def channel_prune(model, ratio: float):
    """A new, smaller Keras model with the fraction `ratio` of prunable channels removed, weights copied."""
    keep, in_keep = _kept_channels(model, ratio, _frozen_layers(model))
    return _copy_kept(model, keep, in_keep)


def _frozen_layers(model) -> set[str]:
    """The prunable layers whose channels must stay: the outputs, and every branch into a residual addition."""
    frozen = {t._keras_history.operation.name for t in model.outputs}
    for layer in model.layers:
        if type(layer).__name__ in (*MERGES, "Concatenate"):
            stack = list(_producers(layer))
            while stack:
                p = stack.pop()
                if type(p).__name__ in PRUNABLE:
                    frozen.add(p.name)
                elif type(p).__name__ in PASS_THROUGH:
                    stack += _producers(p)
    return frozen


def _kept_channels(model, ratio: float, frozen: set[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """layer name -> kept indices along its output's last axis (the largest L1 norms), and along its input's."""
    keep: dict[str, np.ndarray] = {}
    in_keep: dict[str, np.ndarray] = {}
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            keep[layer.name] = np.arange(layer.output.shape[-1])
            continue
        prods = _producers(layer)
        src = keep[prods[0].name]
        in_keep[layer.name] = src
        if kind in PRUNABLE:
            w = layer.get_weights()[0]
            n_out = w.shape[-1]
            if layer.name in frozen or ratio <= 0:
                keep[layer.name] = np.arange(n_out)
            else:
                norms = np.abs(np.take(w, src, axis=-2)).reshape(-1, n_out).sum(axis=0)
                k = max(1, int(round(n_out * (1 - ratio))))
                keep[layer.name] = np.sort(np.argsort(-norms, kind="stable")[:k])
        elif kind in PASS_THROUGH or kind in MERGES:
            keep[layer.name] = src
        elif kind == "Flatten":
            spatial = int(np.prod(prods[0].output.shape[1:-1])) if len(prods[0].output.shape) > 2 else 1
            channels = prods[0].output.shape[-1]
            keep[layer.name] = np.array([s * channels + c for s in range(spatial) for c in src])
        else:
            if len(src) != prods[0].output.shape[-1]:
                raise TinymlError(f"channel pruning cannot pass through layer {layer.name} ({kind})")
            keep[layer.name] = np.arange(layer.output.shape[-1])
    return keep, in_keep


def _copy_kept(model, keep: dict[str, np.ndarray], in_keep: dict[str, np.ndarray]):
    """A clone of `model` with the kept channels only, and their weights."""
    import keras

    def clone(layer):
        cfg = layer.get_config()
        kind = type(layer).__name__
        if kind in ("Conv2D", "Conv1D"):
            cfg["filters"] = len(keep[layer.name])
        elif kind == "Dense":
            cfg["units"] = len(keep[layer.name])
        return layer.__class__.from_config(cfg)

    new = keras.models.clone_model(model, clone_function=clone)
    for old_l, new_l in zip(model.layers, new.layers):
        kind = type(old_l).__name__
        weights = old_l.get_weights()
        if not weights:
            continue
        src, out = in_keep.get(old_l.name), keep[old_l.name]
        if kind in PRUNABLE:
            w = np.take(np.take(weights[0], src, axis=-2), out, axis=-1)
            new_l.set_weights([w] + [b[out] for b in weights[1:]])
        elif kind == "DepthwiseConv2D":
            new_l.set_weights([np.take(weights[0], src, axis=-2)] + [b[src] for b in weights[1:]])
        elif kind == "BatchNormalization":
            new_l.set_weights([v[src] for v in weights])
        else:
            new_l.set_weights(weights)
    return new


@dataclass(frozen=True)
class FineTune:
    """How a pruned model is fine-tuned."""
    epochs: int
    learning_rate: float
    batch_size: int

    @classmethod
    def after(cls, epochs: int, learning_rate: float, batch_size: int) -> FineTune:
        """The rule: a third of the training's epochs (at least one) at a third of its learning rate."""
        return cls(max(1, epochs // 3), learning_rate / 3, batch_size)


def fine_tune(model, data, schedule: FineTune, *, seed: int, progress: bool, label: str,
              callbacks: list | None = None) -> list[dict]:
    """Fine-tunes a pruned `model` in place (best validation epoch kept); returns the per-epoch history."""
    from tinyml.train.trainer import fit_model

    return fit_model(model, data, epochs=schedule.epochs, batch_size=schedule.batch_size,
                     learning_rate=schedule.learning_rate, seed=seed, progress=progress, label=label,
                     callbacks=callbacks)


def prune_channels(model, ratio: float, data, schedule: FineTune, *, seed: int, progress: bool, label: str):
    """`channel_prune` then `fine_tune`: the smaller, fine-tuned Keras model (`model` is left as it was)."""
    pruned = channel_prune(model, ratio)
    fine_tune(pruned, data, schedule, seed=seed, progress=progress, label=label)
    return pruned


@dataclass
class Side:
    params: int
    nonzero_params: int
    macs: int
    flash_bytes: int
    arena_bytes: int
    ram_bytes: int
    instructions: int | None
    float_accuracy: float
    int8_accuracy: float
    host_c_accuracy: float
    test_samples: int = 0


ACCURACY_KEYS = ("float_accuracy", "int8_accuracy", "host_c_accuracy")


@dataclass
class PruneReport:
    model: str
    output: str
    mode: str                  # "magnitude" or "channels"
    amount: float
    board: str
    metric: str
    before: Side
    after: Side
    fine_tune_epochs: int
    note: str

    def to_json(self) -> dict[str, Any]:
        """The report; each side's accuracies with their 95 % Wilson intervals (`<key>_interval`) when the metric is
        an accuracy, and `test_samples`."""
        from tinyml.train.metrics import accuracy_interval

        out = asdict(self)
        if self.metric == "accuracy":
            for side in ("before", "after"):
                n = out[side]["test_samples"]
                out[side] |= {f"{k}_interval": accuracy_interval(out[side][k], n) for k in ACCURACY_KEYS}
        return out


def measure(model, data, tflite_path: Path, board, instructions: bool = True) -> Side:
    from tinyml.compiler.stats import model_stats
    from tinyml.device.bench import measure_instructions
    from tinyml.device.build import build_firmware
    from tinyml.train.quantize import convert_int8, evaluate_int8
    from tinyml.train.trainer import evaluate_keras

    calib = data.x_train[np.random.default_rng(0).permutation(len(data.x_train))[:200]]
    tflite_path.write_bytes(convert_int8(model, calib))
    stats = model_stats(tflite_path)
    ev = evaluate_int8(tflite_path, data.x_test, data.y_test, data.task)
    with tempfile.TemporaryDirectory(prefix="tinyml-prune-") as tmp:
        build = build_firmware(tflite_path, board, Path(tmp) / "fw")
    count = measure_instructions(tflite_path, board) if instructions and build.fits and board.emulator else None
    return Side(int(model.count_params()), stats.nonzero_params, stats.macs, build.flash_bytes, build.arena_bytes,
                build.ram_bytes, count, evaluate_keras(model, data.x_test, data.y_test, data.task), ev.int8,
                ev.host_c, len(data.y_test))


def prune(model_path: Path, out_dir: Path, *, sparsity: float | None = None, channels: float | None = None,
          epochs: int | None = None, data_spec: str | None = None, board_name: str = "mps2-an386",
          progress: bool = True) -> PruneReport:
    from tinyml.device.boards import get_board
    from tinyml.train.recipes import get_recipe
    from tinyml.train.trainer import data_for, load_trained, metric_name, save_trained, setup_tf

    if (sparsity is None) == (channels is None):
        raise TinymlError("give exactly one of --sparsity S (magnitude) or --channels F (structured)")
    amount = sparsity if sparsity is not None else channels
    if not 0 < amount < 1:
        raise TinymlError(f"the pruning fraction must be in (0, 1), got {amount}")
    model, meta = load_trained(model_path)
    data = data_for(meta, data_spec)
    board = get_board(board_name)
    seed = int(meta.get("seed", 0))
    recipe = get_recipe(meta["recipe"])[0] if meta.get("recipe") else None
    schedule = FineTune.after(recipe.epochs if recipe else 9, recipe.learning_rate if recipe else 1e-3,
                              recipe.batch_size if recipe else 32)
    if epochs is not None:
        schedule = replace(schedule, epochs=epochs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    before = measure(model, data, out_dir / "before.tflite", board)
    setup_tf(seed)
    if sparsity is not None:
        masks = magnitude_masks(model, sparsity)
        apply_masks(model, masks)
        pruned, callbacks = model, [_mask_callback(masks)]
    else:
        pruned, callbacks = channel_prune(model, channels), []
    fine_tune(pruned, data, schedule, seed=seed, progress=progress, label="fine-tune", callbacks=callbacks)
    if sparsity is not None:
        apply_masks(pruned, masks)
    after = measure(pruned, data, out_dir / "model.tflite", board)
    mode = "magnitude" if sparsity is not None else "channels"
    note = (DENSE_KERNEL_NOTE if mode == "magnitude" else
            "structured channel pruning removes whole channels: the pruned model is smaller and dense")
    report = PruneReport(str(model_path), str(out_dir), mode, amount, board.name, metric_name(data.task), before,
                         after, schedule.epochs, note)
    save_trained(pruned, out_dir, data, {**meta, "pruned": {"mode": mode, "amount": amount}}, report.to_json())
    return report
