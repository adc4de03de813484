"""Compare two eval runs (metric deltas, which cases newly fail or newly pass), and one suite under two set-ups
(the same deltas, plus answers side by side and a paired test)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from guide.evals.report import CaseChange, Comparison, MetricDelta

if TYPE_CHECKING:
    from guide.evals.report import RunReport, SetupComparison
    from guide.evals.setups import Setup


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


def compare_setups(a: "RunReport", b: "RunReport", setup_a: "Setup", setup_b: "Setup") -> "SetupComparison":
    """The same suite answered under two set-ups: per-case pairs with what changed, pass rates with Wilson
    intervals, and the exact McNemar test on the cases both have expectations for."""
    from guide.errors import InputError
    from guide.evals.metrics import mcnemar_exact, rate
    from guide.evals.report import CasePair, McNemar, SetupComparison
    from guide.evals.stats import LatencyStats

    if a.answers is None or b.answers is None:
        raise InputError("Comparing set-ups needs the conversations suite (or an own suite) in both runs.")
    by_id = {c.id: c for c in b.answers.cases}
    pairs: list[CasePair] = []
    disc_b = disc_c = 0
    for ca in a.answers.cases:
        cb = by_id.get(ca.id)
        if cb is None:
            continue
        cites_a = list(dict.fromkeys(c.doc_id for c in ca.citations))
        cites_b = list(dict.fromkeys(c.doc_id for c in cb.citations))
        changed = [name for name, differs in (("route", ca.route != cb.route), ("citations", cites_a != cites_b),
                                              ("verdict", ca.verdict != cb.verdict), ("answer", ca.text != cb.text))
                   if differs]
        if not ca.ungraded:
            disc_b += ca.passed and not cb.passed
            disc_c += cb.passed and not ca.passed
        pairs.append(CasePair(id=ca.id, question=" || ".join(ca.turns), verdict_a=ca.verdict, verdict_b=cb.verdict,
                              route_a=ca.route, route_b=cb.route, citations_a=cites_a, citations_b=cites_b,
                              latency_a_ms=ca.latency_ms, latency_b_ms=cb.latency_ms, text_a=ca.text, text_b=cb.text,
                              changed=changed))
    paired = {p.id for p in pairs}
    graded_a = [c for c in a.answers.cases if c.id in paired and not c.ungraded]
    graded_b = [c for c in b.answers.cases if c.id in paired and not c.ungraded]
    return SetupComparison(
        label_a=setup_a.label, label_b=setup_b.label,
        overrides_a=dict(setup_a.overrides), overrides_b=dict(setup_b.overrides), answers_b=b.answers,
        pass_rate_a=rate(sum(c.passed for c in graded_a), len(graded_a)),
        pass_rate_b=rate(sum(c.passed for c in graded_b), len(graded_b)),
        latency_a=LatencyStats.of(p.latency_a_ms for p in pairs), latency_b=LatencyStats.of(p.latency_b_ms for p in pairs),
        mcnemar=McNemar(b=disc_b, c=disc_c, n=disc_b + disc_c, p_value=mcnemar_exact(disc_b, disc_c)),
        pairs=pairs, comparison=compare(a, b, f"set-up {setup_a.label}"),
    )
