"""The runner's data set layout (y_labels.csv + sample files) and the accuracy metrics, without a device."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tinyml.device.mlperf_data import find_labels, read_dataset, roc_auc, top1
from tinyml.errors import TinymlError


def write_set(folder: Path, rows: list[str], files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "y_labels.csv").write_text("".join(row + "\n" for row in rows))
    return folder


def test_reads_rows_in_order_and_limits(tmp_path: Path) -> None:
    write_set(tmp_path, ["a.bin,12,3", "", "b.bin, 12, 11"], {"a.bin": b"\1" * 490, "b.bin": b"\2" * 490})
    samples = read_dataset(tmp_path, "kws01", 490)
    assert [(s.file.name, s.classes, s.label, len(s.windows)) for s in samples] == [("a.bin", 12, 3, 1),
                                                                                    ("b.bin", 12, 11, 1)]
    assert len(read_dataset(tmp_path, "kws01", 490, limit=1)) == 1


def test_runner_root_layout(tmp_path: Path) -> None:
    write_set(tmp_path / "ic01", ["x.bin,10,0"], {"x.bin": bytes(3072)})
    assert find_labels(tmp_path, "ic01") == tmp_path / "ic01" / "y_labels.csv"


def test_ad_windows_follow_bytes_to_send_and_stride(tmp_path: Path) -> None:
    stream = np.arange(640 + 3 * 128, dtype="<f4").tobytes()   # 8 frames of 128 floats
    write_set(tmp_path, ["n.bin,2,0,2560,512"], {"n.bin": stream})
    (sample,) = read_dataset(tmp_path, "ad01", 2560)
    assert len(sample.windows) == 4
    assert sample.windows[1] == stream[512:512 + 2560]


@pytest.mark.parametrize("rows, files, message", [
    (["a.bin,12"], {"a.bin": bytes(490)}, "line 1: expected 'file, classes, label'"),
    (["a.bin,12,x"], {"a.bin": bytes(490)}, "must be integers"),
    (["a.bin,12,12"], {"a.bin": bytes(490)}, "label 12 is not one of 12 classes"),
    (["missing.bin,12,1"], {}, "missing.bin: cannot read the sample named in"),
    (["a.bin,12,1"], {"a.bin": bytes(400)}, "a.bin: 400 bytes; the model's input takes 490 bytes"),
    ([], {}, "no samples"),
])
def test_bad_data_sets_name_the_file(tmp_path: Path, rows: list[str], files: dict[str, bytes], message: str) -> None:
    write_set(tmp_path, rows, files)
    with pytest.raises(TinymlError, match=message) as info:
        read_dataset(tmp_path, "kws01", 490)
    assert info.value.exit_code == 2 and "\n" not in info.value.message


def test_no_labels_file(tmp_path: Path) -> None:
    with pytest.raises(TinymlError, match="no y_labels.csv"):
        read_dataset(tmp_path, "kws01", 490)


def test_top1_takes_the_first_of_equal_maxima() -> None:
    assert top1([[0.1, 0.7, 0.2], [0.5, 0.5, 0.0], [0.0, 0.2, 0.2]], [1, 1, 1]) == pytest.approx(2 / 3)


def test_auc_counts_every_pair() -> None:
    rng = np.random.default_rng(1)
    scores, labels = rng.integers(0, 5, 30).astype(float), rng.integers(0, 2, 30)
    labelled = list(zip(scores, labels, strict=True))
    pairs = [(1.0 if a > b else 0.5 if a == b else 0.0)
             for (a, la), (b, lb) in itertools.product(labelled, repeat=2) if la == 1 and lb == 0]
    assert roc_auc(scores, labels) == pytest.approx(sum(pairs) / len(pairs))
    with pytest.raises(TinymlError, match="both labels"):
        roc_auc([1.0, 2.0], [0, 0])
