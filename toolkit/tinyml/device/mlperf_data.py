"""The MLPerf Tiny runner's data sets (mlcommons/tiny benchmark/runner/datasets.py) and its accuracy metrics.

A data set is a folder of binary sample files and `y_labels.csv`, one row per file without a header:
`file name, class count, label`, and for ad01 two more columns, `bytes to send, stride`: the file is then a stream
of float32 values cut into windows of `bytes to send` bytes, `stride` bytes apart, each window one inference (the
runner's accuracy script; its performance script uses the first window only). The runner looks for
`<datasets>/<model id>/y_labels.csv`; both that root and the model's own folder are accepted here.

Accuracy: Top-1 is the share of files whose largest result is the label. For ad01 the score of a file is the mean of
its windows' anomaly scores, and the metric is the ROC AUC of those scores against the labels (1 = anomaly).
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml.errors import BAD_INPUT, TinymlError

LABELS_FILE = "y_labels.csv"


@dataclass(frozen=True)
class Sample:
    file: Path
    classes: int
    label: int
    windows: tuple[bytes, ...]   # what one `db load` each carries: the whole file, or ad01's windows


def find_labels(data_dir: Path, model_id: str) -> Path:
    """`data_dir/y_labels.csv`, or the runner's layout `data_dir/<model id>/y_labels.csv`."""
    for candidate in (data_dir / LABELS_FILE, data_dir / model_id / LABELS_FILE):
        if candidate.is_file():
            return candidate
    raise TinymlError(f"{data_dir}: no {LABELS_FILE} here or in {data_dir / model_id} (the MLPerf Tiny runner's "
                      "data set layout: sample files and y_labels.csv rows 'file, classes, label')", BAD_INPUT)


def read_dataset(data_dir: Path, model_id: str, sample_bytes: int, limit: int | None = None) -> list[Sample]:
    """The samples of `data_dir` (at most `limit`), each checked against the bytes one `db load` takes."""
    labels = find_labels(Path(data_dir), model_id)
    samples: list[Sample] = []
    with labels.open(newline="") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            row = [cell.strip() for cell in row]
            if not any(row):
                continue
            if limit is not None and len(samples) == limit:
                break
            samples.append(_sample(labels, line_no, row, sample_bytes))
    if not samples:
        raise TinymlError(f"{labels}: no samples", BAD_INPUT)
    return samples


def _sample(labels: Path, line_no: int, row: list[str], sample_bytes: int) -> Sample:
    where = f"{labels} line {line_no}"
    if len(row) not in (3, 5):
        raise TinymlError(f"{where}: expected 'file, classes, label' (and for ad01 'bytes to send, stride'), got "
                          f"{len(row)} columns", BAD_INPUT)
    try:
        classes, label, *window = (int(cell) for cell in row[1:])
    except ValueError:
        raise TinymlError(f"{where}: classes, label, bytes to send and stride must be integers: {row[1:]}",
                          BAD_INPUT) from None
    if classes < 1 or not 0 <= label < max(classes, 2):
        raise TinymlError(f"{where}: label {label} is not one of {classes} classes", BAD_INPUT)
    path = labels.parent / row[0]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TinymlError(f"{path}: cannot read the sample named in {where} ({exc.strerror})", BAD_INPUT) from exc
    size, stride = window if window else (len(data), len(data) or 1)
    if size != sample_bytes or stride < 1 or len(data) < size:
        raise TinymlError(f"{path}: {len(data)} bytes" + (f" in windows of {size}, stride {stride}" if window else "")
                          + f"; the model's input takes {sample_bytes} bytes per inference", BAD_INPUT)
    windows = tuple(data[start:start + size] for start in range(0, len(data) - size + 1, stride))
    return Sample(file=path, classes=classes, label=label, windows=windows)


def top1(results: Sequence[Sequence[float]], labels: Sequence[int]) -> float:
    """The share of samples whose largest result (the first, on a tie) is the label."""
    hits = sum(int(np.argmax(r)) == label for r, label in zip(results, labels, strict=True))
    return hits / len(labels)


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve of `scores` (higher = class 1), as the Mann-Whitney U statistic; ties count half."""
    scores_arr, labels_arr = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    positives, negatives = scores_arr[labels_arr == 1], scores_arr[labels_arr != 1]
    if not len(positives) or not len(negatives):
        raise TinymlError("the AUC needs samples of both labels (0 normal, 1 anomaly)", BAD_INPUT)
    greater = (positives[:, None] > negatives[None, :]).sum()
    equal = (positives[:, None] == negatives[None, :]).sum()
    return float((greater + 0.5 * equal) / (len(positives) * len(negatives)))
