"""Compare two eval runs: metric deltas, and which cases newly fail or newly pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guide.evals.report import CaseChange, Comparison, MetricDelta

if TYPE_CHECKING:
    from guide.evals.report import RunReport


def compare(previous: "RunReport", current: "RunReport", previous_path: str = "") -> Comparison:
    """What changed from `previous` to `current`. Cases new in `current` that fail count as newly failing."""
    before = previous.case_status()
    after = current.case_status()
    newly_failing: list[CaseChange] = []
    newly_passing: list[CaseChange] = []
    for key, (passed, detail) in sorted(after.items()):
        suite, case_id = key
        old = before.get(key)
        if not passed and (old is None or old[0]):
            newly_failing.append(CaseChange(suite=suite, id=case_id, before="absent" if old is None else "pass",
                                            after="fail", detail=detail))
        elif passed and old is not None and not old[0]:
            newly_passing.append(CaseChange(suite=suite, id=case_id, before="fail", after="pass", detail=old[1]))
    metrics = []
    for name in sorted(set(previous.metrics) | set(current.metrics)):
        b, a = previous.metrics.get(name), current.metrics.get(name)
        metrics.append(MetricDelta(metric=name, before=b, after=a,
                                   delta=None if a is None or b is None else round(a - b, 6)))
    settings = {k: [previous.run.settings.get(k), current.run.settings.get(k)]
                for k in sorted(set(previous.run.settings) | set(current.run.settings))
                if previous.run.settings.get(k) != current.run.settings.get(k)}
    if previous.run.corpus_hash != current.run.corpus_hash:
        settings["corpus_hash"] = [previous.run.corpus_hash[:12], current.run.corpus_hash[:12]]
    inputs = sorted(p for p in set(previous.run.inputs) | set(current.run.inputs)
                    if previous.run.inputs.get(p) != current.run.inputs.get(p))
    return Comparison(
        previous_run_id=previous.run.id,
        previous_path=previous_path,
        previous_git_commit=previous.run.git_commit,
        newly_failing=newly_failing,
        newly_passing=newly_passing,
        added_cases=sorted(f"{s}:{i}" for s, i in set(after) - set(before)),
        removed_cases=sorted(f"{s}:{i}" for s, i in set(before) - set(after)),
        metrics=metrics,
        changed_settings=settings,
        changed_inputs=inputs,
    )


def changed_metrics(comparison: Comparison, min_abs: float = 1e-9) -> list[MetricDelta]:
    """Metrics whose value moved (or appeared/disappeared): quality metrics first, biggest moves first, then
    latencies that moved by at least 1 ms and 5% (smaller shifts are timing noise)."""

    def moved(m: MetricDelta) -> bool:
        if m.delta is None:
            return m.before is not None or m.after is not None
        if m.metric.endswith("_ms"):
            return abs(m.delta) >= max(1.0, 0.05 * abs(m.before or 0.0))
        return abs(m.delta) > min_abs

    return sorted((m for m in comparison.metrics if moved(m)),
                  key=lambda m: (m.metric.endswith("_ms"), -abs(m.delta) if m.delta is not None else 0.0))
