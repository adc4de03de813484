"""report.md and a self-contained report.html (plotly.js inlined, no network) from a RunReport.

Both put what a reviewer needs first: the comparison with the previous run (newly failing cases at the
very top), then the gate, the headline metrics, the charts and every failing case with its details.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guide.evals.compare import changed_metrics
from guide.evals.markdown import escape, markdown_table
from guide.types import CATEGORIES as CATEGORY_ORDER

if TYPE_CHECKING:
    from guide.evals.report import AnswersReport, Rate, RunReport



def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def rate_text(r: "Rate") -> str:
    if r.value is None:
        return "n/a (0 cases)"
    return f"{pct(r.value)} ({r.k}/{r.n}; 95% CI {pct(r.low)}–{pct(r.high)})"


def metric_text(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if name.endswith("_ms"):
        return f"{value:.1f} ms"
    return f"{value:.4f}"


def delta_text(name: str, delta: float | None) -> str:
    if delta is None:
        return "new/gone"
    if name.endswith("_ms"):
        return f"{delta:+.1f} ms"
    return f"{delta:+.4f}"


#: Display names of the answer sets scored apart (guide.evals.report.ANSWER_SETS).
SET_LABELS = {"realwords_dev": "real-words dev", "realwords_test": "real-words test",
              "external_questions": "third-party questions (test)"}
#: Sets whose failing questions are counted but never listed: a test split is measured, not read case by case.
UNLISTED_SETS = frozenset({"realwords_test", "external_questions"})


def answer_set_rows(report: "RunReport") -> list[list[str]]:
    """One row per answer set: n, pass rate, follow-ups, citation validity, failing ids (dev sets only)."""
    rows = []
    for name, a in report.answer_sets.items():
        follow = a.by_kind.get("followup")
        failing = "(test split: not listed)" if name in UNLISTED_SETS else ", ".join(a.failing) or "none"
        rows.append([SET_LABELS.get(name, name), str(a.overall.n), rate_text(a.overall.pass_rate),
                     rate_text(follow.pass_rate) if follow else "—", rate_text(a.overall.citation_validity), failing])
    return rows


def retrieval_rows(report: "RunReport") -> list[list[str]]:
    """One row per retrieval mode: n, recall@k, MRR, nDCG@10, hit@k, p95 latency, the ir-measures cross-check."""
    return [[m.mode, str(m.overall.n), num(m.overall.recall_at_k), num(m.overall.mrr), num(m.overall.ndcg_at_10),
             pct(m.overall.hit_rate_at_k.value), num(m.latency.p95_ms, 1), f"{m.cross_check_max_diff:.1e}"]
            for m in report.retrieval.modes] if report.retrieval else []


def latency_rows(report: "RunReport") -> list[list[str]]:
    """One row per timed stage that has timings: n, p50, p95 and max in ms."""
    return [[stage, str(st.n), num(st.p50_ms, 1), num(st.p95_ms, 1), num(st.max_ms, 1)]
            for stage, st in report.latency.items() if st.n]


def calibration_rows(report: "RunReport") -> list[list[str]]:
    rows = []
    for sp in report.answerability:
        kinds = ", ".join(f"{k} {rate_text(r)}" for k, r in sp.answered_by_kind.items())
        rows.append([f"not covered ({sp.split})", f"precision {rate_text(sp.precision)}, recall {rate_text(sp.recall)}",
                     f"answerable refused {rate_text(sp.answerable_refused)}; unanswerable answered: {kinds}; "
                     f"{sp.crisis_routed} routed to crisis or check-in"])
    for d in report.dosing:
        rows.append([f"dosing guard ({d.split})", f"dosing declined {rate_text(d.dosing_declined)}",
                     f"safe medication questions declined {rate_text(d.safe_declined)}"])
    if report.lookalikes is not None:
        lk = report.lookalikes
        rows.append([f"look-alikes ({lk.source})", f"cited passage {rate_text(lk.cited_passage)} of those reaching the "
                     f"composer", f"{lk.reached_composer} of {lk.prompts} reached it; of all: {rate_text(lk.cited_passage_all)}"])
    return rows


def headline(report: "RunReport") -> list[tuple[str, str]]:
    """(label, value) pairs shown at the top of every rendering and in the CLI summary."""
    rows: list[tuple[str, str]] = []
    if report.safety:
        s = report.safety.overall
        rows += [("Crisis recall", rate_text(s.recall)), ("Crisis precision", rate_text(s.precision)),
                 ("False alarms, all non-crisis", rate_text(s.false_alarm)),
                 ("False alarms, hard negatives", rate_text(report.safety.false_alarm_hard_negatives))]
    if report.routing:
        rows.append(("Routing accuracy", rate_text(report.routing.accuracy)))
    if report.retrieval:
        k = report.retrieval.k
        for m in report.retrieval.modes:
            o = m.overall
            rows.append((f"Retrieval ({m.mode})", f"recall@{k} {num(o.recall_at_k)} · MRR {num(o.mrr)} · nDCG@10 {num(o.ndcg_at_10)}"))
    if report.answers:
        a = report.answers.overall
        rows += [("Answer pass rate", rate_text(a.pass_rate)), ("Citation validity", rate_text(a.citation_validity)),
                 ("Groundedness", f"{pct(a.groundedness)} (mean over {a.grounded_answers} cited answers)")]
        follow = report.answers.by_kind.get("followup")
        if follow:
            rows.append(("Follow-up pass rate", rate_text(follow.pass_rate)))
    for name, a in report.answer_sets.items():
        follow = a.by_kind.get("followup")
        rows.append((f"Answers: {SET_LABELS.get(name, name)}", rate_text(a.overall.pass_rate)
                     + (f" · follow-ups {rate_text(follow.pass_rate)}" if follow else "")))
    for sp in report.answerability:
        rows.append((f"'Not covered' ({sp.split})", f"precision {rate_text(sp.precision)} · recall {rate_text(sp.recall)}"))
    for d in report.dosing:
        rows.append((f"Dosing guard ({d.split})", f"dosing declined {rate_text(d.dosing_declined)} · safe declined "
                                                  f"{rate_text(d.safe_declined)}"))
    if report.lookalikes is not None:
        rows.append(("Look-alike prompts given a cited passage", rate_text(report.lookalikes.cited_passage)))
    total = report.latency.get("total")
    if total and total.n:
        rows.append(("Answer latency", f"p50 {total.p50_ms:.0f} ms · p95 {total.p95_ms:.0f} ms"))
    if report.setups:
        su = report.setups
        rows.append((f"Pass rate, set-up B ({su.label_b})", rate_text(su.pass_rate_b)))
        rows.append(("Paired test A vs B", mcnemar_text(su.mcnemar)))
    for g in report.grades:
        rows.append((f"Graded pass rate ({g.setup})", f"{rate_text(g.graded_pass_rate)} · regex on the same cases "
                                                      f"{rate_text(g.regex_pass_rate)} · {g.to_grade} to grade"))
    return rows


def mcnemar_text(m: Any) -> str:
    """The exact McNemar result in words (b: only A passes, c: only B passes)."""
    if m.p_value is None:
        return "no case passes under one set-up and fails under the other: nothing to test"
    return f"exact McNemar p = {m.p_value:.3g} ({m.b} pass only with A, {m.c} only with B)"


def _gate_line(report: "RunReport") -> str:
    if report.gate is None:
        return "Gate: not evaluated"
    breaches = report.gate.breaches
    if not breaches:
        return f"Gate: PASSED ({len(report.gate.checks)} checks, thresholds from {report.gate.thresholds_file})"
    return f"Gate: FAILED — {len(breaches)} threshold(s) breached ({report.gate.thresholds_file})"


def _cut(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------- markdown
def to_markdown(report: "RunReport") -> str:
    r = report.run
    out: list[str] = [f"# Recovery Guide eval — run {r.id}", ""]
    out.append(f"**{_gate_line(report)}**")
    out.append("")
    if report.comparison:
        c = report.comparison
        out += [f"## Changes since run {c.previous_run_id}", ""]
        out.append(f"**Newly failing: {len(c.newly_failing)}** · newly passing: {len(c.newly_passing)} · "
                   f"cases added: {len(c.added_cases)} · removed: {len(c.removed_cases)}")
        out.append("")
        if c.newly_failing:
            out += [markdown_table(["suite", "case", "was", "detail"],
                                   [(x.suite, f"`{x.id}`", x.before, _cut(x.detail)) for x in c.newly_failing]), ""]
        if c.newly_passing:
            out.append("Newly passing: " + ", ".join(f"`{x.id}`" for x in c.newly_passing))
            out.append("")
        moved = changed_metrics(c)
        if moved:
            out += [markdown_table(["metric", "before", "after", "Δ"], [
                (m.metric, metric_text(m.metric, m.before), metric_text(m.metric, m.after), delta_text(m.metric, m.delta))
                for m in moved[:40]]), ""]
        if c.changed_settings:
            out.append("Changed settings: " + "; ".join(f"{k}: {v[0]!r} → {v[1]!r}" for k, v in c.changed_settings.items()))
            out.append("")
        if c.changed_inputs:
            out.append("Changed inputs: " + ", ".join(f"`{p}`" for p in c.changed_inputs))
            out.append("")
    if report.gate and report.gate.breaches:
        out += ["## Threshold breaches", ""]
        for b in report.gate.breaches:
            out.append(f"- **{b.metric}** = {metric_text(b.metric, b.value)} (needs {b.op} {b.threshold:g})"
                       + (f" — failing cases: {', '.join(f'`{i}`' for i in b.failing_cases[:50])}" if b.failing_cases else ""))
        out.append("")
    out += ["## Headline", "", markdown_table(["metric", "value"], headline(report))]
    out += ["", "## Run", ""]
    out.append(f"- commit `{(r.git_commit or 'unknown')[:12]}`{' (uncommitted changes)' if r.git_dirty else ''}, "
               f"corpus `{r.corpus_hash[:12]}` ({r.documents} documents), guide {r.guide_version}, Python {r.python}")
    out.append(f"- suites: {', '.join(r.suites)}; tags: {', '.join(r.tags) or 'all'}; retrieval modes: {', '.join(r.modes)}")
    out.append(f"- cases: " + ", ".join(f"{k} {v}" for k, v in r.case_counts.items() if v))
    out.append(f"- time: {r.duration_s:.1f} s wall (" + ", ".join(f"{k} {v:.1f} s" for k, v in r.suite_seconds.items())
               + "); CPU " + ", ".join(f"{k} {v:.1f} s" for k, v in r.suite_cpu_seconds.items()))
    out.append("- settings: " + ", ".join(f"{k}={v}" for k, v in r.settings.items()))
    if report.gate:
        out += ["", "## Gate", "", markdown_table(["check", "value", "status"], [
            (f"{c.metric} {c.op} {c.threshold:g}", metric_text(c.metric, c.value), c.status.upper())
            for c in report.gate.checks])]
    out += _md_suite(report) + _md_setups(report) + _md_grades(report)
    out += _md_safety(report) + _md_routing(report) + _md_retrieval(report) + _md_answers(report) + _md_sets(report) + _md_latency(report)
    return "\n".join(out) + "\n"


def _md_suite(report: "RunReport") -> list[str]:
    su = report.suite
    if su is None:
        return []
    out = ["", f"## Own suite: {escape(su.name)}", "",
           f"{su.rows} rows read ({su.format}, sha256 `{su.sha256[:12]}`): {su.cases} ran, {len(su.problems)} not run, "
           f"{len(su.ungraded)} without expectations (graded by hand)."]
    if su.problems:
        out += ["", markdown_table(["row", "column", "what to fix", "row as read"],
                                   [(p.row, p.column, escape(p.message), escape(_cut(p.raw, 120))) for p in su.problems])]
    out += [f"- {escape(n)}" for n in su.notes]
    return out


def setup_rows(report: "RunReport") -> list[list[str]]:
    """Per case under set-ups A and B: verdicts, routes, citations, latency, and what changed."""
    su = report.setups
    if su is None:
        return []
    return [[p.id, _cut(p.question, 80), f"{p.verdict_a} → {p.verdict_b}", f"{p.route_a} → {p.route_b}",
             f"{', '.join(p.citations_a) or '—'} → {', '.join(p.citations_b) or '—'}",
             f"{p.latency_a_ms:.0f} → {p.latency_b_ms:.0f}", ", ".join(p.changed) or "nothing"] for p in su.pairs]


def setup_totals(report: "RunReport") -> list[list[str]]:
    su = report.setups
    if su is None:
        return []
    return [[f"A: {su.label_a}", rate_text(su.pass_rate_a), num(su.latency_a.p50_ms, 0), num(su.latency_a.p95_ms, 0),
             ", ".join(f"{k}={v}" for k, v in su.overrides_a.items()) or "(current settings)"],
            [f"B: {su.label_b}", rate_text(su.pass_rate_b), num(su.latency_b.p50_ms, 0), num(su.latency_b.p95_ms, 0),
             ", ".join(f"{k}={v}" for k, v in su.overrides_b.items()) or "(current settings)"]]


def _md_setups(report: "RunReport") -> list[str]:
    su = report.setups
    if su is None:
        return []
    changed = [p for p in su.pairs if p.changed]
    return ["", f"## Set-ups side by side: A {escape(su.label_a)} vs B {escape(su.label_b)}", "",
            markdown_table(["set-up", "pass rate", "p50 ms", "p95 ms", "settings"], setup_totals(report)), "",
            f"Paired test: {mcnemar_text(su.mcnemar)}. {len(changed)} of {len(su.pairs)} answers changed.", "",
            markdown_table(["case", "question", "verdict", "route", "citations", "latency ms", "changed"],
                           [[escape(c) for c in row] for row in setup_rows(report)])]


def grade_rows(report: "RunReport") -> list[list[str]]:
    return [[g.setup, str(g.n), str(g.correct), str(g.partly), str(g.wrong), rate_text(g.graded_pass_rate),
             rate_text(g.graded_ok_rate), rate_text(g.regex_pass_rate), str(g.to_grade)] for g in report.grades]


GRADE_HEADERS = ["set-up", "graded", "correct", "partly", "wrong", "graded pass rate", "correct or partly",
                 "regex pass rate (same cases)", "still to grade"]


def _md_grades(report: "RunReport") -> list[str]:
    if not report.grades:
        return []
    out = ["", "## Graded by hand", "", markdown_table(GRADE_HEADERS, grade_rows(report))]
    dis = [d for g in report.grades for d in g.disagreements]
    out += ["", f"### Regex and reviewer disagree: {len(dis)}", ""]
    if dis:
        out.append(markdown_table(["set-up", "case", "regex", "grade", "reviewer", "note"],
                                  [(d.setup, f"`{d.case_id}`", d.regex_verdict, d.grade, escape(d.reviewer),
                                    escape(_cut(d.note, 120))) for d in dis]))
    return out


def _md_safety(report: "RunReport", show: int | None = None) -> list[str]:
    s = report.safety
    if not s:
        return []
    columns = ["positives", "recall", "precision", "false-alarm rate"]
    out = ["", "## Safety", "", f"{s.n} messages. Route accuracy {rate_text(s.route_accuracy)}.", "",
           markdown_table(["category", *columns], [
               (c.category, c.positives, rate_text(c.recall), rate_text(c.precision), rate_text(c.false_alarm))
               for c in [s.overall, *s.per_category]])]
    if s.per_kind:
        out += ["", markdown_table(["kind", *columns], [
            (c.category, c.positives, rate_text(c.recall), rate_text(c.precision), rate_text(c.false_alarm))
            for c in s.per_kind])]
    out += ["", "Route confusion (rows expected, columns predicted):", "", _md_matrix(s.route_confusion)]
    by_id = {c.id: c for c in s.cases}
    for title, ids in (("Misses (crisis not caught)", s.misses), ("False alarms", s.false_alarms),
                       ("Caution/ok mix-ups", s.route_mismatches)):
        out += ["", f"### {title}: {len(ids)}", ""]
        out += [f"- `{i}` [{by_id[i].category or '-'}/{by_id[i].kind or '-'}] expected {by_id[i].expected_route}, got "
                f"{by_id[i].route}: {escape(_cut(by_id[i].text))}" for i in ids[:show]]
        if show is not None and len(ids) > show:
            out.append(f"- … and {len(ids) - show} more (report.json lists them all)")
    return out


def safety_summary(report: "RunReport", show: int = 20) -> str:
    """`guide safety --eval`: the gate, the headline, the safety gates, the latency per check and the safety
    section of the eval report (at most `show` cases per list)."""
    s = report.safety
    assert s is not None
    lat = s.latency
    out = [_gate_line(report), "", markdown_table(["metric", "value"], [
        *headline(report), ("Latency per check (warm)", f"p50 {num(lat.p50_ms, 2)} ms · p95 {num(lat.p95_ms, 2)} ms"),
        ("Failed closed", str(s.failed_closed))])]
    if report.gate:
        out += ["", markdown_table(["check", "value", "status"], [
            (f"{c.metric} {c.op} {c.threshold:g}", metric_text(c.metric, c.value), c.status.upper())
            for c in report.gate.checks if c.status != "skipped"])]
    return "\n".join(out + _md_safety(report, show))


def _md_matrix(conf: Any) -> str:
    return markdown_table(["expected \\ predicted", *conf.predicted_labels],
                          [[lab, *row] for lab, row in zip(conf.labels, conf.matrix, strict=True)])


def _md_routing(report: "RunReport") -> list[str]:
    r = report.routing
    if not r:
        return []
    out = ["", "## Routing (conversations)", "", f"Accuracy {rate_text(r.accuracy)}.", "", _md_matrix(r.confusion), ""]
    out += [f"- recall {route}: {rate_text(rate)}" for route, rate in r.per_route_recall.items()]
    return out


def _md_retrieval(report: "RunReport") -> list[str]:
    r = report.retrieval
    if not r:
        return []
    out = ["", "## Retrieval", "", f"Document level, computed with {r.library} ({', '.join(r.measures)}); "
           f"cross-checked against guide.evals.retrieval.", "",
           markdown_table(["mode", "n", f"recall@{r.k}", "MRR", "nDCG@10", f"hit@{r.k}", "p95 ms", "cross-check Δ"],
                          retrieval_rows(report))]
    by_key = {(c.id, c.mode): c for c in r.cases}
    for m in r.modes:
        if m.misses:
            out += ["", f"### Retrieval misses ({m.mode}): {len(m.misses)}", ""]
            for i in m.misses:
                c = by_key[(i, m.mode)]
                out.append(f"- `{i}` {escape(c.query)!r}: wanted {', '.join(c.relevant)}; got {', '.join(c.ranking[:r.k]) or '(nothing)'}")
    return out


def over_budget_line(a: "AnswersReport") -> str:
    """The cases over their own `max_latency_ms`: reported beside the verdicts, never one of them."""
    budgeted = [c for c in a.cases if c.latency_budget_ms is not None]
    slow = [c.id for c in budgeted if c.over_latency_budget]
    return (f"Over their latency budget (reported, not a failure: wall-clock time depends on the machine): "
            f"{len(slow)} of {len(budgeted)}" + (f" ({', '.join(slow[:20])}{', …' if len(slow) > 20 else ''})" if slow else "") + ".")


def _md_answers(report: "RunReport") -> list[str]:
    a = report.answers
    if not a:
        return []
    out = ["", "## Answers", "", f"Citation support measure: share of a sentence's content tokens found in the cited "
           f"passage ≥ {a.support_threshold}.", "", markdown_table(
               ["kind", "n", "pass rate", "citation validity", "groundedness"],
               [(kind, g.n, rate_text(g.pass_rate), rate_text(g.citation_validity), pct(g.groundedness))
                for kind, g in [("all", a.overall), *a.by_kind.items()]])]
    out += ["", over_budget_line(a)]
    failing = [c for c in a.cases if c.verdict == "fail"]
    out += ["", f"### Failing conversations: {len(failing)}", ""]
    for c in failing:
        out.append(f"- `{c.id}` [{c.kind}] " + " → ".join(f"“{escape(_cut(t, 80))}”" for t in c.turns))
        out.append(f"  - problems: {escape('; '.join([*c.failures, *c.citation_problems]))}")
        out.append(f"  - answer ({c.route}): {escape(_cut(c.text, 300))}")
        if c.citations:
            out.append("  - cited: " + ", ".join(f"[{x.n}] {x.doc_id}" for x in c.citations))
    return out


def _md_sets(report: "RunReport") -> list[str]:
    out: list[str] = []
    if report.answer_sets:
        out += ["", "## Other question sets", "", markdown_table(
            ["set", "n", "pass rate", "follow-ups", "citation validity", "failing"], answer_set_rows(report))]
    cal = calibration_rows(report)
    if cal:
        out += ["", "## Calibration", "", markdown_table(["check", "figure", "detail"], cal)]
    return out


def _md_latency(report: "RunReport") -> list[str]:
    if not report.latency:
        return []
    return ["", "## Latency", "", markdown_table(["stage", "n", "p50 ms", "p95 ms", "max ms"], latency_rows(report))]


# ---------------------------------------------------------------- html
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:0 0 4px} h2{margin-top:32px;border-bottom:1px solid #d8dde3;padding-bottom:4px}
.meta{color:#5b6775;font-size:.9rem}
.banner{padding:12px 16px;border-radius:8px;font-weight:600;margin:16px 0}
.pass{background:#e3f4e8;color:#155d2b;border:1px solid #9bd3ac} .fail{background:#fde7e7;color:#8a1c1c;border:1px solid #f0a5a5}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px}
.card{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:12px}
.card .label{color:#5b6775;font-size:.8rem;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:1.05rem;margin-top:4px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.88rem;margin:8px 0}
th,td{border:1px solid #dde2e8;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
.status-fail{color:#a11;font-weight:600} .status-pass{color:#176c32} .status-skipped{color:#777}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:12px}
.chart{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:4px}
code{background:#eef1f5;padding:1px 4px;border-radius:3px}
details{background:#fff;border:1px solid #dde2e8;border-radius:8px;padding:8px 12px;margin:6px 0}
summary{cursor:pointer}
.answer{white-space:pre-wrap}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figures(report: "RunReport") -> list[tuple[str, Any]]:
    """(title, plotly Figure) for every chart the report has data for."""
    import plotly.graph_objects as go

    figs: list[tuple[str, Any]] = []
    s = report.safety
    if s:
        cats = [c for c in sorted(s.per_category, key=lambda c: CATEGORY_ORDER.index(c.category)
                                  if c.category in CATEGORY_ORDER else 99) if c.recall.n]
        rows = [*cats, s.overall]
        x = [f"{c.category}<br>{c.recall.k}/{c.recall.n}" for c in rows]  # counts under the bars: bars sit near 1
        y = [c.recall.value for c in rows]
        fig = go.Figure(go.Bar(
            x=x, y=y, marker_color=["#2a6f97"] * len(cats) + ["#1d3557"],
            error_y={"type": "data", "symmetric": False, "array": [c.recall.high - c.recall.value for c in rows],  # type: ignore[operator]
                     "arrayminus": [c.recall.value - c.recall.low for c in rows]},  # type: ignore[operator]
            hovertemplate="%{x}: %{y:.3f}<extra></extra>",
        ))
        threshold = _threshold(report, "safety.recall")
        if threshold is not None:
            fig.add_hline(y=threshold, line_dash="dash", line_color="#c1121f", annotation_text=f"gate {threshold:g}",
                          annotation_position="bottom left")
        # zoom in on the top of the scale: the intervals near 1.0 are the story
        floor = min([c.recall.low or 0.0 for c in rows] + [threshold or 1.0])
        bottom = 0.0 if floor < 0.5 else max(0.0, round(floor - 0.1, 1))
        fig.update_layout(yaxis={"range": [bottom, 1.01], "title": "recall"}, xaxis_title="category")
        figs.append(("Crisis recall per category (95% Wilson interval)", fig))

        fa = [c for c in [*s.per_category, s.overall] if c.false_alarm.n]
        if fa:
            fig = go.Figure(go.Bar(
                x=[f"{c.category}<br>{c.false_alarm.k}/{c.false_alarm.n}" for c in fa], y=[c.false_alarm.value for c in fa],
                marker_color="#e76f51",
                error_y={"type": "data", "symmetric": False,
                         "array": [c.false_alarm.high - c.false_alarm.value for c in fa],  # type: ignore[operator]
                         "arrayminus": [c.false_alarm.value - c.false_alarm.low for c in fa]},  # type: ignore[operator]
            ))
            fig.update_layout(yaxis={"range": [0, max(0.2, max((c.false_alarm.high or 0) for c in fa) + 0.05)],
                                     "title": "false-alarm rate"}, xaxis_title="category of the non-crisis message")
            figs.append(("False-alarm rate per category (95% Wilson interval)", fig))
        figs.append(("Safety routes: expected vs predicted", _heatmap(s.route_confusion)))
    if report.routing:
        figs.append(("Conversation routes: expected vs predicted", _heatmap(report.routing.confusion)))
    if report.retrieval:
        r = report.retrieval
        fig = go.Figure()
        for label, get in ((f"recall@{r.k}", lambda o: o.recall_at_k), ("MRR", lambda o: o.mrr), ("nDCG@10", lambda o: o.ndcg_at_10)):
            fig.add_bar(name=label, x=[m.mode for m in r.modes], y=[get(m.overall) for m in r.modes],
                        text=[num(get(m.overall)) for m in r.modes], textposition="outside")
        fig.update_layout(barmode="group", yaxis={"range": [0, 1.1]})
        figs.append((f"Retrieval per mode ({r.library})", fig))
    lat = _latency_series(report)
    if lat:
        fig = go.Figure()
        for stage, values in lat.items():
            fig.add_box(y=values, name=stage, boxpoints="outliers")
        fig.update_layout(yaxis={"title": "ms", "type": "log"}, showlegend=False)
        figs.append(("Latency per pipeline stage (log scale)", fig))
    figs += _review_figures(report)
    for _, f in figs:
        f.update_layout(template="plotly_white", height=380, margin={"l": 50, "r": 20, "t": 30, "b": 50})
    return figs


def tag_pass_rates(report: "RunReport", setup: str = "A") -> dict[str, "Rate"]:
    """Answer pass rate per tag (the cases with expectations), tags with at least one such case; set-up "B" reads
    the compared set-up's answers."""
    from guide.evals.metrics import rate

    out: dict[str, Rate] = {}
    answers = report.answers if setup == "A" else report.setups.answers_b if report.setups else None
    if answers is None:
        return out
    graded = [c for c in answers.cases if not c.ungraded]
    for tag in sorted({t for c in graded for t in c.tags if "=" not in t}):
        cases = [c for c in graded if tag in c.tags]
        out[tag] = rate(sum(c.passed for c in cases), len(cases))
    return out


def _review_figures(report: "RunReport") -> list[tuple[str, Any]]:
    """The plots a reviewer reads first: pass rate by tag, answer latency distribution, change since last run."""
    import plotly.graph_objects as go

    figs: list[tuple[str, Any]] = []
    by_tag = tag_pass_rates(report)
    if len(by_tag) > 1:
        tags = list(by_tag)
        series = [("A: " + report.setups.label_a if report.setups else "pass rate", by_tag, "#2a6f97")]
        if report.setups is not None:  # both set-ups side by side, per tag
            series.append(("B: " + report.setups.label_b, tag_pass_rates(report, "B"), "#e9c46a"))
        fig = go.Figure()
        for name, rates, color in series:
            shown = [rates.get(t) for t in tags]
            fig.add_bar(
                name=name, x=[f"{t}<br>{by_tag[t].n} cases" for t in tags], marker_color=color,
                y=[r.value if r else None for r in shown], text=[f"{r.k}/{r.n}" if r else "" for r in shown],
                error_y={"type": "data", "symmetric": False,
                         "array": [(r.high - r.value) if r and r.value is not None else 0 for r in shown],  # type: ignore[operator]
                         "arrayminus": [(r.value - r.low) if r and r.value is not None else 0 for r in shown]},  # type: ignore[operator]
            )
        fig.update_layout(barmode="group", showlegend=report.setups is not None,
                          yaxis={"range": [0, 1.05], "title": "pass rate"}, xaxis_title="tag")
        figs.append(("Answer pass rate by tag (95% Wilson interval)", fig))
    if report.answers is not None and report.answers.cases:
        fig = go.Figure()
        label_a = f"A: {report.setups.label_a}" if report.setups else "answers"
        fig.add_histogram(x=[c.latency_ms for c in report.answers.cases], name=label_a, opacity=0.7)
        if report.setups is not None:
            fig.add_histogram(x=[c.latency_ms for c in report.setups.answers_b.cases],
                              name=f"B: {report.setups.label_b}", opacity=0.7)
        fig.update_layout(barmode="overlay", xaxis_title="ms per conversation", yaxis_title="cases")
        figs.append(("Answer latency distribution", fig))
    if report.comparison is not None:
        change = change_figure(report.comparison)
        if change is not None:
            figs.append(change)
    return figs


def change_figure(comparison: Any) -> tuple[str, Any] | None:
    """The quality metrics that moved since the previous run, biggest first (None when nothing moved)."""
    import plotly.graph_objects as go

    moved = [m for m in changed_metrics(comparison) if not m.metric.endswith("_ms") and m.delta is not None][:20]
    if not moved:
        return None
    fig = go.Figure(go.Bar(x=[m.delta for m in moved], y=[m.metric for m in moved], orientation="h",
                           marker_color=["#2a9d8f" if (m.delta or 0) > 0 else "#e76f51" for m in moved]))
    fig.update_layout(xaxis_title="change (after − before)", yaxis={"autorange": "reversed"}, template="plotly_white",
                      height=380, margin={"l": 50, "r": 20, "t": 30, "b": 50})
    return f"Change since run {comparison.previous_run_id}", fig


def _threshold(report: "RunReport", metric: str) -> float | None:
    if report.gate:
        for c in report.gate.checks:
            if c.metric == metric:
                return c.threshold
    return None


def _heatmap(conf: Any) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure(go.Heatmap(
        z=conf.matrix, x=conf.predicted_labels, y=conf.labels, colorscale="Blues", showscale=False,
        text=[[str(v) for v in row] for row in conf.matrix], texttemplate="%{text}",
        hovertemplate="expected %{y}, predicted %{x}: %{z}<extra></extra>",
    ))
    fig.update_layout(xaxis_title="predicted", yaxis_title="expected", yaxis_autorange="reversed")
    return fig


def _latency_series(report: "RunReport") -> dict[str, list[float]]:
    from guide.evals.runner import STAGES

    out: dict[str, list[float]] = {}
    if report.safety:
        out["safety check (suite)"] = [c.latency_ms for c in report.safety.cases]
    if report.retrieval:
        for m in report.retrieval.modes:
            out[f"retrieval {m.mode} (suite)"] = [c.latency_ms for c in report.retrieval.cases if c.mode == m.mode]
    if report.answers:
        for stage in STAGES:
            values = [c.timings_ms[stage] for c in report.answers.cases if stage in c.timings_ms]
            if values:
                out[stage] = values
        out["answer total"] = [c.latency_ms for c in report.answers.cases]
    return {k: [max(v, 0.001) for v in vs] for k, vs in out.items() if vs}


def to_html(report: "RunReport") -> str:
    r = report.run
    parts: list[str] = []
    ok = report.gate is None or report.gate.passed
    parts.append(f"<h1>Recovery Guide eval — run {_e(r.id)}</h1>")
    parts.append(f"<div class='meta'>commit <code>{_e((r.git_commit or 'unknown')[:12])}</code>"
                 f"{' (uncommitted changes)' if r.git_dirty else ''} · corpus <code>{_e(r.corpus_hash[:12])}</code> "
                 f"({r.documents} docs) · {_e(r.started_at)} · {r.duration_s:.1f} s · suites {_e(', '.join(r.suites))}"
                 f"{' · tags ' + _e(', '.join(r.tags)) if r.tags else ''}</div>")
    parts.append(f"<div class='banner {'pass' if ok else 'fail'}'>{_e(_gate_line(report))}</div>")
    if report.comparison:
        parts.append(_html_comparison(report))
    if report.gate and report.gate.breaches:
        items = "".join(
            f"<li><b>{_e(b.metric)}</b> = {_e(metric_text(b.metric, b.value))} (needs {_e(b.op)} {b.threshold:g})"
            + (f" — failing cases: {', '.join(f'<code>{_e(i)}</code>' for i in b.failing_cases[:50])}" if b.failing_cases else "")
            + "</li>" for b in report.gate.breaches)
        parts.append(f"<h2>Threshold breaches</h2><ul>{items}</ul>")
    cards = "".join(f"<div class='card'><div class='label'>{_e(k)}</div><div class='value'>{_e(v)}</div></div>"
                    for k, v in headline(report))
    parts.append(f"<h2>Headline</h2><div class='cards'>{cards}</div>")
    figs = figures(report)
    if figs:
        blocks = []
        for i, (title, fig) in enumerate(figs):
            div = fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False,
                              config={"displaylogo": False, "responsive": True})
            blocks.append(f"<div class='chart'><h3 style='margin:8px 12px'>{_e(title)}</h3>{div}</div>")
        parts.append(f"<h2>Charts</h2><div class='charts'>{''.join(blocks)}</div>")
    if report.gate:
        rows = [[_e(f"{c.metric} {c.op} {c.threshold:g}"), _e(metric_text(c.metric, c.value)),
                 f"<span class='status-{c.status}'>{c.status.upper()}</span>", _e(c.description)] for c in report.gate.checks]
        parts.append("<h2>Gate</h2>" + _table(["check", "value", "status", "what it means"], rows, raw=True))
    parts += [_html_suite(report), _html_setups(report), _html_grades(report)]
    parts += [_html_safety(report), _html_retrieval(report), _html_answers(report), _html_sets(report),
              _html_latency(report)]
    settings = _table(["setting", "value"], [[k, str(v)] for k, v in r.settings.items()])
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in r.suite_seconds.items()) + " wall; CPU " + \
        ", ".join(f"{k} {v:.1f} s" for k, v in r.suite_cpu_seconds.items())
    parts.append(f"<h2>Run</h2><p class='meta'>guide {_e(r.guide_version)}, Python {_e(r.python)}; time: {_e(timings)}; "
                 f"retrieval modes {_e(', '.join(r.modes))}; report schema {_e(report.schema_version)}</p>{settings}")
    body = "\n".join(p for p in parts if p)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Eval {_e(r.id)} — Recovery Guide</title>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><style>{_CSS}</style></head>"
            f"<body><main>{body}</main></body></html>\n")


def _html_comparison(report: "RunReport") -> str:
    c = report.comparison
    assert c is not None
    out = [f"<h2>Changes since run {_e(c.previous_run_id)}</h2>",
           f"<p><b>Newly failing: {len(c.newly_failing)}</b> · newly passing: {len(c.newly_passing)} · "
           f"cases added: {len(c.added_cases)} · removed: {len(c.removed_cases)}</p>"]
    if c.newly_failing:
        out.append(_table(["suite", "case", "was", "detail"], [[x.suite, x.id, x.before, _cut(x.detail, 240)] for x in c.newly_failing]))
    if c.newly_passing:
        out.append("<p>Newly passing: " + ", ".join(f"<code>{_e(x.id)}</code>" for x in c.newly_passing) + "</p>")
    moved = changed_metrics(c)
    if moved:
        out.append(_table(["metric", "before", "after", "Δ"], [[m.metric, metric_text(m.metric, m.before),
                   metric_text(m.metric, m.after), delta_text(m.metric, m.delta)] for m in moved[:40]]))
    if c.changed_settings:
        out.append("<p>Changed settings: " + _e("; ".join(f"{k}: {v[0]!r} → {v[1]!r}" for k, v in c.changed_settings.items())) + "</p>")
    if c.changed_inputs:
        out.append("<p>Changed inputs: " + ", ".join(f"<code>{_e(p)}</code>" for p in c.changed_inputs) + "</p>")
    return "".join(out)


def _html_safety(report: "RunReport") -> str:
    s = report.safety
    if not s:
        return ""
    rows = [[c.category, str(c.positives), rate_text(c.recall), rate_text(c.precision), rate_text(c.false_alarm)]
            for c in [s.overall, *s.per_category]]
    out = [f"<h2>Safety ({s.n} messages)</h2>", f"<p>Route accuracy {_e(rate_text(s.route_accuracy))}.</p>",
           _table(["category", "crisis cases", "recall", "precision", "false-alarm rate"], rows)]
    by_id = {c.id: c for c in s.cases}
    for title, ids in (("Misses (crisis not caught)", s.misses), ("False alarms", s.false_alarms),
                       ("Caution/ok mix-ups", s.route_mismatches)):
        rows = [[i, by_id[i].category or "-", by_id[i].kind or "-", f"{by_id[i].expected_route} → {by_id[i].route}",
                 " | ".join([*by_id[i].history, by_id[i].text]), "; ".join(by_id[i].reasons[:3])] for i in ids]
        out.append(f"<h3>{_e(title)}: {len(ids)}</h3>" + (_table(["case", "category", "kind", "route", "message", "reasons"], rows) if rows else ""))
    return "".join(out)


def _html_retrieval(report: "RunReport") -> str:
    r = report.retrieval
    if not r:
        return ""
    out = [f"<h2>Retrieval</h2><p>Document level, computed with {_e(r.library)} ({_e(', '.join(r.measures))}), "
           "cross-checked against guide.evals.retrieval.</p>",
           _table(["mode", "n", f"recall@{r.k}", "MRR", "nDCG@10", f"hit@{r.k}", "p95 ms", "cross-check Δ"], retrieval_rows(report))]
    by_key = {(c.id, c.mode): c for c in r.cases}
    for m in r.modes:
        miss = [[i, by_key[(i, m.mode)].query, ", ".join(by_key[(i, m.mode)].relevant),
                 ", ".join(by_key[(i, m.mode)].ranking[:r.k])] for i in m.misses]
        out.append(f"<h3>Misses ({_e(m.mode)}): {len(miss)}</h3>" + (_table(["case", "query", "relevant", f"top {r.k}"], miss) if miss else ""))
    return "".join(out)


def _html_answers(report: "RunReport") -> str:
    a = report.answers
    if not a:
        return ""
    rows = [[kind, str(g.n), rate_text(g.pass_rate), rate_text(g.citation_validity), pct(g.groundedness)]
            for kind, g in [("all", a.overall), *a.by_kind.items()]]
    out = ["<h2>Answers</h2>", f"<p>Citation support: share of a sentence's content tokens found in the cited passage "
           f"≥ {a.support_threshold}. Groundedness: share of cited sentences supported by a retrieved passage "
           "(replies without citations, e.g. crisis replies, are left out, not counted as 0).</p>",
           _table(["kind", "n", "pass rate", "citation validity", "groundedness"], rows)]
    out.append(f"<p>{_e(over_budget_line(a))}</p>")
    failing = [c for c in a.cases if c.verdict == "fail"]
    out.append(f"<h3>Failing conversations: {len(failing)}</h3>")
    for c in failing:
        turns = "".join(f"<li>{_e(t)}</li>" for t in c.turns)
        cites = "".join(f"<li>[{x.n}] <b>{_e(x.doc_id)}</b> — {_e(x.section)}<br><small>{_e(_cut(x.quote, 400))}</small></li>"
                        for x in c.citations) or "<li>(none)</li>"
        problems = "".join(f"<li>{_e(p)}</li>" for p in [*c.failures, *c.citation_problems])
        out.append(f"<details><summary><code>{_e(c.id)}</code> [{_e(c.kind)}] {_e(_cut(c.turns[-1], 120))} — "
                   f"<span class='status-fail'>{_e(_cut('; '.join([*c.failures, *c.citation_problems]), 140))}</span></summary>"
                   f"<table><tr><th>question</th><th>answer ({_e(c.route)}, expected {_e(c.expected_route)})</th><th>citations</th></tr>"
                   f"<tr><td><ol>{turns}</ol><b>problems</b><ul>{problems}</ul></td><td class='answer'>{_e(c.text)}</td>"
                   f"<td><ul>{cites}</ul></td></tr></table></details>")
    return "".join(out)


def _html_sets(report: "RunReport") -> str:
    out = []
    if report.answer_sets:
        out += ["<h2>Other question sets</h2>", _table(["set", "n", "pass rate", "follow-ups", "citation validity",
                                                        "failing"], answer_set_rows(report))]
    cal = calibration_rows(report)
    if cal:
        out += ["<h2>Calibration</h2>", _table(["check", "figure", "detail"], cal)]
    return "".join(out)


def _html_suite(report: "RunReport") -> str:
    su = report.suite
    if su is None:
        return ""
    out = [f"<h2>Own suite: {_e(su.name)}</h2><p>{su.rows} rows read ({_e(su.format)}, sha256 <code>{_e(su.sha256[:12])}"
           f"</code>): {su.cases} ran, <b>{len(su.problems)} not run</b>, {len(su.ungraded)} without expectations "
           "(graded by hand).</p>"]
    if su.problems:
        out.append(_table(["row", "column", "what to fix", "row as read"],
                          [[str(p.row), p.column, p.message, _cut(p.raw, 200)] for p in su.problems]))
    out += [f"<p class='meta'>{_e(n)}</p>" for n in su.notes]
    return "".join(out)


def _html_setups(report: "RunReport") -> str:
    su = report.setups
    if su is None:
        return ""
    out = [f"<h2>Set-ups side by side: A {_e(su.label_a)} vs B {_e(su.label_b)}</h2>",
           _table(["set-up", "pass rate", "p50 ms", "p95 ms", "settings"], setup_totals(report)),
           f"<p>Paired test: {_e(mcnemar_text(su.mcnemar))}.</p>",
           _table(["case", "question", "verdict", "route", "citations", "latency ms", "changed"], setup_rows(report))]
    for p in su.pairs:
        if "answer" in p.changed:
            out.append(f"<details><summary><code>{_e(p.id)}</code> {_e(_cut(p.question, 120))} — "
                       f"{_e(', '.join(p.changed))}</summary><table><tr><th>A: {_e(su.label_a)}</th><th>B: "
                       f"{_e(su.label_b)}</th></tr><tr><td class='answer'>{_e(p.text_a)}</td>"
                       f"<td class='answer'>{_e(p.text_b)}</td></tr></table></details>")
    return "".join(out)


def _html_grades(report: "RunReport") -> str:
    if not report.grades:
        return ""
    dis = [d for g in report.grades for d in g.disagreements]
    out = ["<h2>Graded by hand</h2>", _table(GRADE_HEADERS, grade_rows(report)),
           f"<h3>Regex and reviewer disagree: {len(dis)}</h3>"]
    if dis:
        out.append(_table(["set-up", "case", "regex", "grade", "reviewer", "note"],
                          [[d.setup, d.case_id, d.regex_verdict, d.grade, d.reviewer, d.note] for d in dis]))
    return "".join(out)


def _html_latency(report: "RunReport") -> str:
    if not report.latency:
        return ""
    return "<h2>Latency</h2>" + _table(["stage", "n", "p50 ms", "p95 ms", "max ms"], latency_rows(report))


# ---------------------------------------------------------------- files
def write_outputs(report: "RunReport", out_dir: Path) -> dict[str, Path]:
    """report.json, report.md and report.html in out_dir (created); returns their paths."""
    from guide.evals.report import dump_report

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md", "html": out_dir / "report.html"}
    paths["json"].write_text(dump_report(report), encoding="utf-8")
    paths["md"].write_text(to_markdown(report), encoding="utf-8")
    paths["html"].write_text(to_html(report), encoding="utf-8")
    if report.answers is not None:
        paths["csv"] = out_dir / "report.csv"
        paths["csv"].write_text(to_csv(report), encoding="utf-8")
    return paths


CSV_COLUMNS = ("setup", "id", "question", "route", "expected", "verdict", "grade", "grade_note", "reviewer",
               "answer", "citations", "latency_ms", "failures")


def to_csv(report: "RunReport") -> str:
    """One row per answered case (per set-up when two were compared): what a spreadsheet reviewer needs."""
    import csv
    import io

    from guide.evals.grading import answers_by_setup

    graded = {(g.setup, g.case_id): g for gr in report.grades for g in gr.grades}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for setup, (label, cases) in answers_by_setup(report).items():
        for c in cases:
            g = graded.get((setup, c.id))
            writer.writerow([f"{setup}: {label}" if report.setups else setup, c.id, " || ".join(c.turns), c.route,
                             c.expectation, c.verdict, g.grade if g else "", g.note if g else "",
                             g.reviewer if g else "", c.text, "; ".join(f"[{x.n}] {x.doc_id}" for x in c.citations),
                             f"{c.latency_ms:.1f}", "; ".join([*c.failures, *c.citation_problems])])
    return buf.getvalue()
