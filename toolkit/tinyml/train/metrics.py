"""How sure an accuracy is: the 95 % Wilson score interval of k correct out of n test samples.

Wilson's interval (E. B. Wilson, 1927) stays inside [0, 1] and keeps its coverage near 0 % and 100 % where the
normal approximation does not; every accuracy tinyml prints or documents carries it and the number of test samples
("96.30% [94.10, 97.80] of 540"). A ROC AUC (the anomaly autoencoder) is not a proportion of samples and gets no
interval, only its sample count.
"""
from __future__ import annotations

from math import sqrt

Z95 = 1.959963984540054          # the 97.5 % quantile of the standard normal distribution


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """(low, high) bounds of the Wilson score interval for k successes in n trials; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_interval(accuracy: float, n: int) -> list[float]:
    """The Wilson interval of an accuracy measured on n samples, as [low, high] for JSON."""
    low, high = wilson_interval(round(accuracy * n), n)
    return [round(low, 6), round(high, 6)]


def describe(value: float, n: int, metric: str = "accuracy") -> str:
    """"96.30% [94.10, 97.80] of 540" (an AUC: "0.9712 AUC over 540")."""
    if metric != "accuracy":
        return f"{value:.4f} {metric.upper()} over {n}"
    low, high = accuracy_interval(value, n)
    return f"{100 * value:.2f}% [{100 * low:.2f}, {100 * high:.2f}] of {n}"


def per_class(y_true, y_pred, classes: list[str]) -> list[dict]:
    """Per class: `support` (test samples of the class), `predicted` (samples predicted as it), `correct`, and
    precision = correct / predicted and recall = correct / support, each with its 95 % Wilson interval (None when
    its count is 0)."""
    rows = []
    for index, name in enumerate(classes):
        truth, guess = [int(t) == index for t in y_true], [int(p) == index for p in y_pred]
        correct = sum(t and g for t, g in zip(truth, guess))
        support, predicted = sum(truth), sum(guess)
        row = {"class": str(name), "support": support, "predicted": predicted, "correct": correct}
        for key, n in (("precision", predicted), ("recall", support)):
            row[key] = round(correct / n, 6) if n else None
            row[f"{key}_interval"] = [round(v, 6) for v in wilson_interval(correct, n)] if n else None
        rows.append(row)
    return rows
