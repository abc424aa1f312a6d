"""Splitting a data set into train / validation / test (70 / 15 / 15), deterministically from a seed.

- `random`: stratified by label with scikit-learn's `train_test_split` (every sample on its own).
- `group`: a group (a speaker, a machine, a subject) never straddles two splits. scikit-learn's
  `StratifiedGroupKFold` (shuffled with the seed) cuts the groups into 7 folds of about 1/7 each (one per group
  when there are fewer) with label proportions as even as the groups allow; the first fold is the test split, the
  second the validation split, the rest the training split (71 / 14 / 14).
`folds(y, groups, k, seed)` gives the K grouped folds of `tinyml train --cv K`.
"""
from __future__ import annotations

import numpy as np

from tinyml.errors import TinymlError

SPLIT = (0.70, 0.15, 0.15)
GROUP_FOLDS = 7                  # 1/7 of the groups each for test and validation


def random_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 70/15/15 split of the sample indices, each sample on its own."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.bincount(y)
    strat = y if counts[counts > 0].min() >= 4 else None
    train, rest = train_test_split(idx, test_size=SPLIT[1] + SPLIT[2], random_state=seed, stratify=strat)
    strat_rest = y[rest] if strat is not None and np.bincount(y[rest])[np.bincount(y[rest]) > 0].min() >= 2 else None
    val, test = train_test_split(rest, test_size=SPLIT[2] / (SPLIT[1] + SPLIT[2]), random_state=seed,
                                 stratify=strat_rest)
    return np.sort(train), np.sort(val), np.sort(test)


def folds(y: np.ndarray, groups: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """K disjoint index sets covering every sample; no group in two of them; stratified by label."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(np.unique(groups))
    if k < 2:
        raise TinymlError(f"grouped folds need at least 2 folds (and groups), got {k}")
    if n_groups < k:
        raise TinymlError(f"{n_groups} groups cannot make {k} grouped folds; use fewer folds or more groups")
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [np.sort(test) for _, test in cv.split(np.zeros(len(y)), y, groups)]


def group_split(y: np.ndarray, groups: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grouped, stratified split of the sample indices: (train, val, test). Fewer than 7 groups: one fold per
    group (at least 3 groups: one each for test and validation, the rest to train)."""
    n_groups = len(np.unique(groups))
    if n_groups < 3:
        raise TinymlError(f"{n_groups} group(s) cannot make train, validation and test splits by group; name more "
                          "groups, or use --split random with --allow-leakage")
    parts = folds(y, groups, min(GROUP_FOLDS, n_groups), seed)
    test, val = parts[0], parts[1]
    return np.sort(np.concatenate(parts[2:])), val, test
