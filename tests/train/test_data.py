"""Data sets: deterministic, versioned by content hash, stratified splits, user data (.npz, WAV folder)."""
from __future__ import annotations

import wave

import numpy as np
import pytest

from tinyml.errors import TinymlError
from tinyml.features import FeatureParams, extract
from tinyml.train.data import load_dataset


@pytest.mark.parametrize("name, shape", [("digits", (16, 16, 1)), ("gesture", (128, 3)), ("vibration", (640,)),
                                         ("kws", (49, 10, 1))])
def test_builtin_is_deterministic_and_split(name, shape, train_cache):
    a = load_dataset(name, seed=3, small=True)
    b = load_dataset(name, seed=3, small=True)
    assert a.input_shape == shape
    assert a.content_hash == b.content_hash and np.array_equal(a.x_test, b.x_test)
    info = a.info()
    assert info["seed"] == 3 and info["content_hash"] == a.content_hash
    total = sum(info["sizes"].values())
    assert info["sizes"]["test"] >= 0.12 * total
    if a.task == "classification":                       # stratified: every class in every split
        for y in (a.y_train, a.y_val, a.y_test):
            assert set(np.unique(y)) == set(range(a.num_classes))
    else:
        assert (a.y_train == 0).all() and set(np.unique(a.y_test)) == {0, 1}
    c = load_dataset(name, seed=4, small=True)
    assert c.content_hash == a.content_hash and not np.array_equal(c.x_test, a.x_test)


def test_npz_and_wav_folder(tmp_path, train_cache):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(60, 5)).astype(np.float32), y=np.repeat([0, 1, 2], 20))
    d = load_dataset(tmp_path / "d.npz")
    assert d.input_shape == (5,) and d.num_classes == 3 and len(d.y_train) + len(d.y_val) + len(d.y_test) == 60
    np.savez(tmp_path / "s.npz", x_train=np.zeros((20, 4)), y_train=np.arange(20) % 2, x_test=np.ones((6, 4)),
             y_test=np.arange(6) % 2)
    s = load_dataset(tmp_path / "s.npz")
    assert len(s.y_test) == 6 and (s.x_test == 1).all() and len(s.y_val) == 3
    for cls, freq in (("low", 300), ("high", 2000)):
        (tmp_path / "wavs" / cls).mkdir(parents=True)
        for i in range(4):
            t = np.arange(8000) / 8000
            pcm = (0.5 * np.sin(2 * np.pi * (freq + 10 * i) * t) * 32767).astype("<i2")
            with wave.open(str(tmp_path / "wavs" / cls / f"{i}.wav"), "wb") as w:
                w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(pcm.tobytes())
    wv = load_dataset(tmp_path / "wavs")
    assert wv.classes == ["high", "low"] and wv.input_shape == (49, 10, 1) and wv.features["n_mfcc"] == 10
    with pytest.raises(TinymlError, match="neither a built-in"):
        load_dataset(tmp_path / "missing")


def test_feature_extractor_params_roundtrip():
    p = FeatureParams(mean=1.5, std=2.0)
    assert FeatureParams.from_json(p.to_json()) == p
    x = extract(np.zeros(16000), p)
    assert x.shape == (1, 49, 10, 1) and x.dtype == np.float32


def test_wav_folder_groups_and_npz_groups(tmp_path, train_cache):
    t = np.arange(8000) / 8000
    for cls, freq in (("low", 300), ("high", 2000)):
        for speaker in ("ann", "bob", "cy", "dee"):
            (tmp_path / "wavs" / cls / speaker).mkdir(parents=True)
            for i in range(2):
                pcm = (0.5 * np.sin(2 * np.pi * (freq + 10 * i) * t) * 32767).astype("<i2")
                with wave.open(str(tmp_path / "wavs" / cls / speaker / f"{i}.wav"), "wb") as w:
                    w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(pcm.tobytes())
    wv = load_dataset(tmp_path / "wavs")
    assert wv.group_kind == "folder" and wv.scheme == "group" and wv.info()["n_groups"] == 4
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "g.npz", x=rng.normal(size=(60, 5)), y=np.arange(60) % 3, groups=np.arange(60) % 10)
    g = load_dataset(tmp_path / "g.npz")
    assert g.scheme == "group" and not set(g.groups["train"]) & set(g.groups["test"])
    assert load_dataset(tmp_path / "g.npz", split="random").leakage().groups    # the random split shares groups
    np.savez(tmp_path / "bad.npz", x=np.zeros((6, 2)), y=np.zeros(6, int), groups=np.zeros(5))
    with pytest.raises(TinymlError, match="one group per sample"):
        load_dataset(tmp_path / "bad.npz")
    with pytest.raises(TinymlError, match="names no groups"):
        load_dataset("digits", split="group")
