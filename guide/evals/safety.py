"""The one safety harness: labelled messages through a crisis checker, and the crisis metrics over them.

`guide eval` (the safety suite), `guide safety --eval FILE|DIR` and `guide bench` (check latency) all run it, so a
figure means the same wherever it is printed. A checker that raises is recorded per case and counted as the crisis
route, as the pipeline fails closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from guide.evals.cases import SafetyCase, load_cases
from guide.evals.metrics import accuracy, confusion, rate
from guide.evals.report import SafetyCaseResult, SafetyCategoryMetrics, SafetyReport
from guide.evals.stats import LatencyStats
from guide.types import CATEGORIES, SAFETY_ROUTES

if TYPE_CHECKING:
    from guide.config import Settings
    from guide.safety.detector import CrisisChecker, SafetyChecker

#: The slice of messages that have no category (everyday questions, most hard negatives).
NO_CATEGORY = "none"


def load_safety_cases(path: Path, tags: Sequence[str] = ()) -> list[SafetyCase]:
    """A suite directory (evals/safety/) or one .jsonl/.yaml file of it; errors name the file and line."""
    return load_cases(path, SafetyCase, tags)


def default_safety_checker(settings: "Settings", lexicon_path: Path | None = None) -> "SafetyChecker":
    """The shipped check (lexicon + classifier), or the lexicon alone when the classifier is switched off."""
    from guide.safety import SafetyChecker

    model = None
    if settings.safety_classifier:
        from guide.safety.classifier import shipped_model

        model = shipped_model()
    return SafetyChecker(model, lexicon_path=lexicon_path)


def evaluate_safety(checker: "CrisisChecker", cases: Sequence[SafetyCase],
                    on_case: Callable[[], None] | None = None) -> SafetyReport:
    """Route every message with checker.check and compute the crisis metrics (wall and CPU time per check)."""
    warm = getattr(checker, "warm", None)
    if callable(warm):
        warm()  # the app warms the checker at start: time the warm check, as a user meets it
    results = []
    for case in cases:
        error = None
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            verdict = checker.check(case.text, case.turns())
            route, category, score, reasons = verdict.route, verdict.category, verdict.score, list(verdict.reasons)
            failed_closed = verdict.failed_closed
        except Exception as exc:  # noqa: BLE001 - recorded per case; the pipeline would fail closed
            route, category, score, reasons, failed_closed = "crisis", None, 1.0, [], True
            error = f"{type(exc).__name__}: {exc}"
        ms, cpu_ms = (time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000
        results.append(SafetyCaseResult(
            id=case.id, text=case.text, history=list(case.history), category=case.category,
            kind=case.kind, tags=sorted(case.tags), expected_route=case.expected_route, route=route,
            predicted_category=category, score=float(score), reasons=reasons,
            outcome=safety_outcome(case.expected_route, route), passed=route == case.expected_route and error is None,
            error=error, failed_closed=failed_closed, latency_ms=round(ms, 3), cpu_ms=round(cpu_ms, 3),
        ))
        if on_case:
            on_case()
    return safety_report(results)


def safety_outcome(expected: str, got: str) -> str:
    if expected == "crisis" and got != "crisis":
        return "miss"
    if expected != "crisis" and got == "crisis":
        return "false_alarm"
    return "correct" if expected == got else "route_mismatch"


def safety_report(results: Sequence[SafetyCaseResult]) -> SafetyReport:
    """Crisis detection metrics overall and per category slice (see safety_slice), plus confusions."""
    present = {r.category for r in results}
    categories = [c for c in CATEGORIES if c in present] + sorted(c for c in present if c and c not in CATEGORIES)
    if None in present:
        categories.append(NO_CATEGORY)
    crisis = [r for r in results if r.expected_route == "crisis"]
    return SafetyReport(
        n=len(results),
        overall=safety_slice("all", results),
        per_category=[safety_slice(c, [r for r in results if (r.category or NO_CATEGORY) == c]) for c in categories],
        per_kind=[safety_slice(k, [r for r in results if (r.kind or NO_CATEGORY) == k])
                  for k in sorted({r.kind or NO_CATEGORY for r in results})],
        route_accuracy=accuracy([(r.expected_route, r.route) for r in results]),
        route_confusion=confusion([(r.expected_route, r.route) for r in results], SAFETY_ROUTES),
        category_confusion=confusion(
            [(r.category or NO_CATEGORY, (r.predicted_category or NO_CATEGORY) if r.route == "crisis" else "not crisis")
             for r in crisis], [c for c in categories if c != NO_CATEGORY]),
        misses=[r.id for r in results if r.outcome == "miss"],
        false_alarms=[r.id for r in results if r.outcome == "false_alarm"],
        route_mismatches=[r.id for r in results if r.outcome == "route_mismatch"],
        errors=[r.id for r in results if r.error],
        latency=LatencyStats.of(r.latency_ms for r in results),
        cpu=LatencyStats.of(r.cpu_ms for r in results),
        cases=list(results),
    )


def safety_slice(name: str, results: Sequence[SafetyCaseResult]) -> SafetyCategoryMetrics:
    """Crisis-vs-not metrics over one slice of messages (guide.safety.metrics.binary):
    recall = crisis messages routed to crisis; precision = crisis routes that were crisis messages;
    false alarm = non-crisis messages (ok or caution) routed to crisis. A slice is the messages whose
    expected category (or kind) is `name` ("all" for every message, "none" for messages without one)."""
    from guide.safety.metrics import binary

    m = binary([r.expected_route == "crisis" for r in results], [r.route == "crisis" for r in results])
    return SafetyCategoryMetrics(
        category=name, positives=m.tp + m.fn, negatives=m.fp + m.tn,
        recall=rate(m.tp, m.tp + m.fn), precision=rate(m.tp, m.tp + m.fp), false_alarm=rate(m.fp, m.fp + m.tn),
    )


__all__ = ["NO_CATEGORY", "default_safety_checker", "evaluate_safety", "load_safety_cases", "safety_outcome",
           "safety_report", "safety_slice"]
