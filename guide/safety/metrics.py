"""Pure evaluation arithmetic, generic over (expected, predicted) label lists: rates with 95% Wilson intervals,
per-label recall / precision / false-alarm and a confusion table (percentiles: guide.evals.stats).

Shared by `guide safety --eval` and the answer evals; nothing here knows about safety or I/O.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from guide.evals.markdown import markdown_table


@dataclass(frozen=True)
class Rate:
    """k successes out of n, with a 95% Wilson score interval (sane at 0/n and n/n, unlike the normal one)."""

    k: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def format(self, digits: int = 3) -> str:
        if not self.n:
            return "n/a"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}] ({self.k}/{self.n})"

    def as_dict(self) -> dict[str, float | int | None]:
        return {"value": None if not self.n else round(self.value, 6), "k": self.k, "n": self.n,
                "low": round(self.low, 6), "high": round(self.high, 6)}


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval for k/n (Wilson 1927); (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def rate(k: int, n: int) -> Rate:
    low, high = wilson_interval(k, n)
    return Rate(k, n, low, high)


@dataclass(frozen=True)
class BinaryMetrics:
    """Positive-class metrics: recall = TP/(TP+FN), precision = TP/(TP+FP), false alarm = FP/(FP+TN)."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def recall(self) -> Rate:
        return rate(self.tp, self.tp + self.fn)

    @property
    def precision(self) -> Rate:
        return rate(self.tp, self.tp + self.fp)

    @property
    def false_alarm(self) -> Rate:
        return rate(self.fp, self.fp + self.tn)


def binary(expected: Sequence[bool], predicted: Sequence[bool]) -> BinaryMetrics:
    """Count TP/FP/FN/TN for paired boolean lists."""
    _same_length(expected, predicted)
    c = Counter(zip(map(bool, expected), map(bool, predicted), strict=True))
    return BinaryMetrics(tp=c[(True, True)], fp=c[(False, True)], fn=c[(True, False)], tn=c[(False, False)])


@dataclass(frozen=True)
class LabelMetrics:
    label: Hashable
    support: int
    recall: Rate
    precision: Rate
    false_alarm: Rate


def per_label(
    expected: Sequence[Hashable], predicted: Sequence[Hashable], labels: Iterable[Hashable] | None = None
) -> dict[Hashable, LabelMetrics]:
    """One-vs-rest metrics for each label: false alarm = predicted as the label among items that are not it."""
    _same_length(expected, predicted)
    wanted = list(labels) if labels is not None else sorted(set(expected) | set(predicted), key=str)
    out: dict[Hashable, LabelMetrics] = {}
    for label in wanted:
        m = binary([e == label for e in expected], [p == label for p in predicted])
        out[label] = LabelMetrics(label, m.tp + m.fn, m.recall, m.precision, m.false_alarm)
    return out


@dataclass(frozen=True)
class Confusion:
    """counts[(expected, predicted)]; rows are expected labels, columns predicted labels."""

    labels: tuple[Hashable, ...]
    counts: dict[tuple[Hashable, Hashable], int]

    def format(self, corner: str = "expected \\ predicted") -> str:
        headers = [corner, *map(str, self.labels), "total"]
        rows = []
        for e in self.labels:
            cells = [self.counts.get((e, p), 0) for p in self.labels]
            rows.append([str(e), *map(str, cells), str(sum(cells))])
        return markdown_table(headers, rows, aligned=True)


def confusion(
    expected: Sequence[Hashable], predicted: Sequence[Hashable], labels: Iterable[Hashable] | None = None
) -> Confusion:
    _same_length(expected, predicted)
    wanted = tuple(labels) if labels is not None else tuple(sorted(set(expected) | set(predicted), key=str))
    return Confusion(wanted, dict(Counter(zip(expected, predicted, strict=True))))


def _same_length(a: Sequence[object], b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise ValueError(f"expected and predicted differ in length ({len(a)} vs {len(b)})")
