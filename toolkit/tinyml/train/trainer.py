"""Training and evaluation shared by `tinyml train`, `quantize`, `prune`, `distill` and `fit`.

A trained model directory holds `model.keras` (free batch axis), `tinyml.json` (recipe, width, depth, data spec,
seed: enough to rebuild the data and the architecture), `metrics.json` and, for audio and vibration data,
`features.json` (the feature extractor's parameters, so a device computes the same features).

Metrics: classification -> accuracy on the split; anomaly (autoencoder) -> ROC AUC of the reconstruction error
(normal vs anomalous), reported under the same "accuracy" keys with `"metric": "auc"`. An accuracy carries its 95 %
Wilson interval (`*_interval`) and `test_samples` (`tinyml.train.metrics`).

Every training first checks the split for leakage (`Dataset.leakage()`: the same or nearly the same sample, or the
same group, in two splits) and refuses a leaked split with one line, unless `allow_leakage` (then recorded in
metrics.json). `cross_validate` trains on K grouped folds and reports their mean and spread.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import TinymlError
from tinyml.train.data import Dataset, load_dataset
from tinyml.train.metrics import accuracy_interval

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def setup_tf(seed: int) -> None:
    import keras
    import tensorflow as tf

    threads = int(os.environ.get("TINYML_THREADS", "2"))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised in this process
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()  # same seed, same weights: `tinyml reproduce` relies on it


def metric_name(task: str) -> str:
    return "auc" if task == "anomaly" else "accuracy"


def score(task: str, y: np.ndarray, outputs: np.ndarray, inputs: np.ndarray | None = None) -> float:
    """Accuracy (argmax) or, for an autoencoder, ROC AUC of the per-sample reconstruction MSE."""
    if task == "anomaly":
        from sklearn.metrics import roc_auc_score
        err = ((outputs.reshape(len(y), -1) - inputs.reshape(len(y), -1)) ** 2).mean(axis=1)
        return float(roc_auc_score(y, err)) if len(set(y.tolist())) == 2 else float("nan")
    return float((np.argmax(outputs.reshape(len(y), -1), axis=1) == y).mean())


def evaluate_keras(model, x: np.ndarray, y: np.ndarray, task: str) -> float:
    out = np.asarray(model.predict(x, batch_size=256, verbose=0))
    return score(task, y, out, x)


class _Progress:
    """A Keras callback: one line per epoch on stderr; keeps and restores the best validation weights."""

    def __new__(cls, *args, **kwargs):
        import keras

        class Progress(keras.callbacks.Callback):
            def __init__(self, data: Dataset, task: str, show: bool, label: str) -> None:
                super().__init__()
                self.data, self.task, self.show, self.label = data, task, show, label
                self.best, self.best_weights, self.history = -1.0, None, []
                self.t0 = time.monotonic()

            def on_epoch_end(self, epoch, logs=None):
                val = evaluate_keras(self.model, self.data.x_val, self.data.y_val, self.task)
                self.history.append({"epoch": epoch + 1, "loss": float(logs.get("loss", float("nan"))),
                                     f"val_{metric_name(self.task)}": val})
                if val > self.best:
                    self.best, self.best_weights = val, self.model.get_weights()
                if self.show:
                    print(f"[{self.label}] epoch {epoch + 1}/{self.params['epochs']}: loss "
                          f"{logs.get('loss', float('nan')):.4f}, val {metric_name(self.task)} {val:.4f} "
                          f"({time.monotonic() - self.t0:.0f} s)", file=sys.stderr, flush=True)

            def on_train_end(self, logs=None):
                if self.best_weights is not None:
                    self.model.set_weights(self.best_weights)

        return Progress(*args, **kwargs)


def compile_for(model, task: str, learning_rate: float, loss=None) -> None:
    import keras
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=loss or ("mse" if task == "anomaly" else "sparse_categorical_crossentropy"))


def fit_model(model, data: Dataset, *, epochs: int, batch_size: int, learning_rate: float, seed: int,
              progress: bool, label: str, y_train: np.ndarray | None = None, loss=None,
              callbacks: list | None = None) -> list[dict]:
    """Trains in place (best validation epoch kept); returns the per-epoch history."""
    setup_tf(seed)
    compile_for(model, data.task, learning_rate, loss)
    cb = _Progress(data, data.task, progress, label)
    targets = data.x_train if data.task == "anomaly" else (data.y_train if y_train is None else y_train)
    model.fit(data.x_train, targets, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
              callbacks=[*(callbacks or []), cb])
    return cb.history


@dataclass
class Trained:
    out_dir: Path
    metrics: dict[str, Any]


def _write_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)


def save_trained(model, out_dir: Path, data: Dataset, meta: dict, metrics: dict) -> Trained:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / "model.keras")
    _write_json(out_dir / "tinyml.json", {**meta, "split": split_of(data)})
    if data.features:
        _write_json(out_dir / "features.json", data.features)
    _write_json(out_dir / "metrics.json", metrics)
    return Trained(out_dir, metrics)


def split_of(data: Dataset) -> str:
    """How `data_for` splits this data again: `group` or `random` (`auto` for a pre-split file)."""
    return data.scheme if data.scheme in ("group", "random") else "auto"


def checked_split(data: Dataset, allow_leakage: bool) -> dict:
    """The split's leakage report; a leaked split is refused (one line) unless `allow_leakage`."""
    leak = data.leakage()
    if leak.found and not allow_leakage:
        raise TinymlError(f"data {data.name}@{data.content_hash} ({data.scheme} split, seed {data.seed}) leaks: "
                          f"{leak.line()}; fix the data (see `tinyml data check`) or pass --allow-leakage")
    return {**leak.to_json(), "allowed": bool(allow_leakage and leak.found)}


def test_metrics(model, data: Dataset) -> dict:
    """float_val, float_test, test_samples and, for an accuracy, their Wilson intervals."""
    out = {"float_val": evaluate_keras(model, data.x_val, data.y_val, data.task),
           "float_test": evaluate_keras(model, data.x_test, data.y_test, data.task), "test_samples": len(data.y_test)}
    if data.task != "anomaly":
        out["float_val_interval"] = accuracy_interval(out["float_val"], len(data.y_val))
        out["float_test_interval"] = accuracy_interval(out["float_test"], len(data.y_test))
    return out


def train(recipe_spec: str, out_dir: Path, *, data_spec: str | None = None, epochs: int | None = None,
          seed: int = 0, width: float | None = None, depth: float = 1.0, small_data: bool = False,
          progress: bool = True, split: str = "auto", allow_leakage: bool = False) -> Trained:
    """`tinyml train`: build RECIPE[:width], train on its data (or `data_spec`), save into `out_dir`."""
    from tinyml.train.recipes import build_model, get_recipe

    recipe, spec_width = get_recipe(recipe_spec)
    width = spec_width if width is None else width
    epochs = recipe.epochs if epochs is None else epochs
    if epochs < 1:
        raise TinymlError(f"--epochs must be at least 1, got {epochs}")
    data = load_dataset(data_spec or recipe.dataset, seed=seed, small=small_data, task=recipe.task, split=split)
    leakage = checked_split(data, allow_leakage)
    setup_tf(seed)
    model = build_model(recipe, data.input_shape, data.num_classes, width, depth)
    t0 = time.monotonic()
    history = fit_model(model, data, epochs=epochs, batch_size=recipe.batch_size,
                        learning_rate=recipe.learning_rate, seed=seed, progress=progress,
                        label=f"{recipe.name} w{width:g} d{depth:g}")
    meta = {"recipe": recipe.name, "width": width, "depth": depth, "data": data_spec or recipe.dataset,
            "small_data": small_data, "seed": seed, "epochs": epochs, "task": data.task,
            "split": split_of(data)}
    metrics = {**meta, "metric": metric_name(data.task), "dataset": data.info(), "leakage": leakage,
               "params": int(model.count_params()), "train_seconds": round(time.monotonic() - t0, 1),
               **test_metrics(model, data), "history": history}
    return save_trained(model, out_dir, data, meta, metrics)


def cross_validate(recipe_spec: str, out_dir: Path, folds: int, *, data_spec: str | None = None,
                   epochs: int | None = None, seed: int = 0, width: float | None = None, depth: float = 1.0,
                   small_data: bool = False, progress: bool = True, allow_leakage: bool = False) -> dict:
    """`tinyml train --cv K`: K trainings, fold I of K grouped folds as the test split (a grouped sixth of the
    other folds validates);
    writes `metrics.json` (per fold, mean and spread of the test metric; no model) into `out_dir`."""
    from tinyml.train.recipes import build_model, get_recipe

    if folds < 2:
        raise TinymlError(f"--cv needs at least 2 folds, got {folds}")
    recipe, spec_width = get_recipe(recipe_spec)
    width = spec_width if width is None else width
    epochs = recipe.epochs if epochs is None else epochs
    rows = []
    for fold in range(folds):
        data = load_dataset(data_spec or recipe.dataset, seed=seed, small=small_data, task=recipe.task,
                            cv=(fold, folds))
        leakage = checked_split(data, allow_leakage)
        setup_tf(seed)
        model = build_model(recipe, data.input_shape, data.num_classes, width, depth)
        fit_model(model, data, epochs=epochs, batch_size=recipe.batch_size, learning_rate=recipe.learning_rate,
                  seed=seed, progress=progress, label=f"{recipe.name} fold {fold + 1}/{folds}")
        rows.append({"fold": fold, "manifest": data.manifest, "leakage": leakage, **test_metrics(model, data)})
    tests = np.array([r["float_test"] for r in rows])
    n = sum(r["test_samples"] for r in rows)
    pooled = float(sum(r["float_test"] * r["test_samples"] for r in rows) / n)
    metrics = {"recipe": recipe.name, "width": width, "depth": depth, "data": data_spec or recipe.dataset,
               "small_data": small_data, "seed": seed, "epochs": epochs, "task": data.task,
               "metric": metric_name(data.task), "cv": folds, "groups": data.group_kind,
               "dataset": {"name": data.name, "content_hash": data.content_hash},
               "float_test_mean": float(tests.mean()), "float_test_std": float(tests.std()),
               "float_test_pooled": pooled, "test_samples": n, "folds": rows}
    if data.task != "anomaly":
        metrics["float_test_pooled_interval"] = accuracy_interval(pooled, n)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir / "metrics.json", metrics)
    return metrics


def load_trained(path: Path):
    """(keras model, tinyml.json meta or {}) from a model directory or a .keras file."""
    import keras

    path = Path(path)
    file = path / "model.keras" if path.is_dir() else path
    if not file.exists():
        raise TinymlError(f"{path}: no Keras model (expected a .keras file or a directory with model.keras)")
    try:
        model = keras.models.load_model(file, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
        raise TinymlError(f"{file}: cannot load the Keras model ({str(exc).splitlines()[0]})") from exc
    meta_file = file.parent / "tinyml.json"
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    return model, meta


def data_for(meta: dict, data_spec: str | None, seed: int | None = None) -> Dataset:
    """The data a model was trained on (from its tinyml.json), or `data_spec` if given."""
    spec = data_spec or meta.get("data")
    if not spec:
        raise TinymlError("no data: pass --data/--calib (a built-in data set, a .npz file or a WAV folder)")
    small = bool(meta.get("small_data")) and not data_spec
    split = "auto" if data_spec else meta.get("split", "random" if meta else "auto")   # older models: random
    return load_dataset(spec, seed=meta.get("seed", 0) if seed is None else seed, small=small,
                        task=meta.get("task"), split=split)
