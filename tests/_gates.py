"""The eval gate's levels for tests, read from evals/thresholds.yaml by the project's own loader: a test holds the
level the gate holds, never a copy of the number that drifts from it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from guide.evals.thresholds import THRESHOLDS_FILE, Threshold, load_thresholds

SHIPPED = Path(__file__).resolve().parent.parent / "evals" / THRESHOLDS_FILE


@cache
def _shipped() -> dict[str, Threshold]:
    return {t.metric: t for t in load_thresholds(SHIPPED)}


def gate(metric: str) -> Threshold:
    """The shipped threshold on `metric`, named exactly as in the file (a glob such as `safety.*.recall` included)."""
    try:
        return _shipped()[metric]
    except KeyError:
        raise KeyError(f"{SHIPPED} has no threshold on {metric!r}: add it there, not as a number in a test") from None


def assert_meets_gate(metric: str, value: float, detail: object = "") -> None:
    """Fail, naming the metric, value and bound, when `value` breaches the shipped threshold on `metric`."""
    t = gate(metric)
    assert t.holds(value), f"{metric} = {value:.4f} breaches the gate ({t.op} {t.bound:g}, {SHIPPED.name}). {detail}"
