"""`tinyml distill`: knowledge distillation of a recipe's student from a trained teacher, against the same student
trained alone on the same data, epochs and seeds.

Loss (Hinton et al.): (1 - alpha) * cross-entropy(labels, student) + alpha * T^2 * KL(teacher_T || student_T),
where x_T = softmax(log(p) / T). The teacher's probabilities on the training split are computed once. Both
students are quantized to int8 and scored on the test split (TFLite interpreter; compiled C checked equal).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import TinymlError


def kd_loss(temperature: float, alpha: float, classes: int):
    from keras import ops

    def loss(y_true, y_pred):
        hard, soft = y_true[:, :classes], y_true[:, classes:]
        logp = ops.log(ops.clip(y_pred, 1e-7, 1.0))
        ce = -ops.sum(hard * logp, axis=-1)
        logp_t = ops.log_softmax(logp / temperature, axis=-1)
        kl = ops.sum(soft * (ops.log(ops.clip(soft, 1e-7, 1.0)) - logp_t), axis=-1)
        return (1 - alpha) * ce + alpha * temperature ** 2 * kl

    return loss


def soften(probs: np.ndarray, temperature: float) -> np.ndarray:
    z = np.log(np.clip(probs, 1e-7, 1.0)) / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class KD:
    """Knowledge-distillation settings: the softmax temperature and the weight of the teacher's term."""
    temperature: float = 4.0
    alpha: float = 0.7


def train_student(student, teacher, data, kd: KD, *, epochs: int, batch_size: int, learning_rate: float, seed: int,
                  progress: bool, label: str) -> list[dict]:
    """Trains the classifier `student` in place on `data` with `kd_loss` against `teacher`'s softened
    probabilities on the training split (computed once); returns the per-epoch history (`trainer.fit_model`)."""
    from tinyml.train.trainer import fit_model

    soft = soften(np.asarray(teacher.predict(data.x_train, batch_size=256, verbose=0)), kd.temperature)
    hard = np.eye(data.num_classes, dtype=np.float32)[data.y_train]
    return fit_model(student, data, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                     progress=progress, label=label, y_train=np.concatenate([hard, soft], axis=1),
                     loss=kd_loss(kd.temperature, kd.alpha, data.num_classes))


@dataclass
class SeedResult:
    seed: int
    alone_float: float
    alone_int8: float
    distilled_float: float
    distilled_int8: float
    distilled_host_c: float
    test_samples: int = 0


SEED_ACCURACIES = ("alone_float", "alone_int8", "distilled_float", "distilled_int8", "distilled_host_c")


@dataclass
class DistillReport:
    teacher: str
    student: str
    width: float
    temperature: float
    alpha: float
    epochs: int
    metric: str
    teacher_float: float
    teacher_params: int
    student_params: int
    seeds: list[SeedResult]
    alone_int8_mean: float
    distilled_int8_mean: float
    output: str

    def to_json(self) -> dict[str, Any]:
        """The report with `test_samples` and the 95 % Wilson interval (`<key>_interval`) of every accuracy; a mean
        over seeds gets the interval of the seeds' pooled test predictions (every seed's test samples counted; the
        seeds share samples, so it is narrower than independent samples would give)."""
        from tinyml.train.metrics import accuracy_interval

        out = asdict(self)
        n = self.seeds[0].test_samples if self.seeds else 0
        out["test_samples"] = n
        out["teacher_float_interval"] = accuracy_interval(self.teacher_float, n)
        for row in out["seeds"]:
            row |= {f"{k}_interval": accuracy_interval(row[k], n) for k in SEED_ACCURACIES}
        pooled = n * len(self.seeds)
        out["alone_int8_mean_interval"] = accuracy_interval(self.alone_int8_mean, pooled)
        out["distilled_int8_mean_interval"] = accuracy_interval(self.distilled_int8_mean, pooled)
        out["pooled_test_samples"] = pooled
        return out


def distill(teacher_path: Path, student_spec: str, out_dir: Path, *, temperature: float = 4.0, alpha: float = 0.7,
            epochs: int | None = None, seeds: tuple[int, ...] = (0,), data_spec: str | None = None,
            depth: float = 1.0, progress: bool = True) -> DistillReport:
    from tinyml.train.recipes import get_recipe
    from tinyml.train.trainer import data_for, evaluate_keras, load_trained, metric_name

    if temperature <= 0 or not 0 <= alpha <= 1:
        raise TinymlError(f"--temperature must be > 0 and --alpha in [0, 1] (got {temperature}, {alpha})")
    if not seeds:
        raise TinymlError("give at least one seed")
    recipe, width = get_recipe(student_spec)
    if recipe.task != "classification":
        raise TinymlError(f"distillation needs a classifier; recipe {recipe.name} is an {recipe.task} model")
    teacher, meta = load_trained(teacher_path)
    out_dir = Path(out_dir)
    epochs = epochs or recipe.epochs
    results = []
    for seed in seeds:
        data = data_for(meta, data_spec, seed)
        if tuple(teacher.input_shape[1:]) != data.input_shape:
            raise TinymlError(f"the teacher expects {teacher.input_shape[1:]}, data {data.name} has {data.input_shape}")
        teacher_float = evaluate_keras(teacher, data.x_test, data.y_test, data.task)
        meta_out = {"recipe": recipe.name, "width": width, "depth": depth, "data": data_spec or meta.get("data"),
                    "small_data": bool(meta.get("small_data")) and not data_spec, "seed": seed, "epochs": epochs,
                    "task": data.task}
        alone, _ = _student(recipe, None, data, None, meta_out, out_dir / f"alone-seed{seed}", progress)
        distilled, student = _student(recipe, teacher, data, KD(temperature, alpha), meta_out,
                                      out_dir / f"distilled-seed{seed}", progress)
        results.append(SeedResult(seed, alone[0], alone[1], *distilled, len(data.y_test)))
    report = DistillReport(str(teacher_path), recipe.name, width, temperature, alpha, epochs,
                           metric_name("classification"), teacher_float, int(teacher.count_params()),
                           int(student.count_params()), results,
                           float(np.mean([r.alone_int8 for r in results])),
                           float(np.mean([r.distilled_int8 for r in results])), str(out_dir))
    (out_dir / "distill.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    return report


def _student(recipe, teacher, data, kd: KD | None, meta: dict, out_dir: Path, progress: bool):
    """One student, trained alone (`kd` None) or distilled from `teacher`, saved in `out_dir` with its int8 model:
    ((float, int8, compiled-C test accuracy), the Keras model)."""
    from tinyml.train.quantize import convert_int8, evaluate_int8
    from tinyml.train.recipes import build_model
    from tinyml.train.trainer import evaluate_keras, fit_model, save_trained, setup_tf

    mode, seed = "alone" if kd is None else "distilled", meta["seed"]
    setup_tf(seed)
    student = build_model(recipe, data.input_shape, data.num_classes, meta["width"], meta["depth"])
    schedule = {"epochs": meta["epochs"], "batch_size": recipe.batch_size, "learning_rate": recipe.learning_rate,
                "seed": seed, "progress": progress, "label": f"{mode} seed {seed}"}
    if kd is None:
        fit_model(student, data, **schedule)
    else:
        train_student(student, teacher, data, kd, **schedule)
    save_trained(student, out_dir, data, meta, {**meta, "mode": mode})
    tfl = out_dir / "model.tflite"
    tfl.write_bytes(convert_int8(student, data.x_train[:200]))
    ev = evaluate_int8(tfl, data.x_test, data.y_test, data.task)
    return (evaluate_keras(student, data.x_test, data.y_test, data.task), ev.int8, ev.host_c), student
