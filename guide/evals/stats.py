"""The one percentile and the one latency summary every report uses (`guide eval`, `guide bench`, `guide safety`).

Empty input has no percentile: `percentile([])` raises ValueError, and `LatencyStats.of([])` is n=0 with every
figure None (null in JSON, "n/a" in reports), never NaN and never a made-up 0.0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ConfigDict


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between order statistics (numpy's default)."""
    if not values:
        raise ValueError("no values: a percentile of nothing is undefined (LatencyStats.of gives None)")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds over n timed calls; every figure is None (null in JSON) when n is 0."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # report.json and benchmarks.json refuse unknown keys

    n: int
    p50_ms: float | None
    p95_ms: float | None
    mean_ms: float | None
    max_ms: float | None

    @classmethod
    def of(cls, values_ms: Iterable[float], digits: int = 3) -> LatencyStats:
        """Summarise timings, each figure rounded to `digits` (report.json keeps 3, BENCHMARKS.md 2)."""
        values = sorted(float(v) for v in values_ms)
        if not values:
            return cls(n=0, p50_ms=None, p95_ms=None, mean_ms=None, max_ms=None)
        return cls(n=len(values), p50_ms=round(percentile(values, 50), digits),
                   p95_ms=round(percentile(values, 95), digits), mean_ms=round(sum(values) / len(values), digits),
                   max_ms=round(values[-1], digits))

