"""Staff page: run the eval suites, read the metrics and charts, browse failing cases, compare runs,
download reports, and turn user feedback into eval cases. Thin: everything comes from guide.evals.

app.py registers this file with st.Page (a file page, so AppTest.switch_page can open it). It lives in the
package, not in a `pages/` directory next to app.py: Streamlit would auto-discover that directory as an old-style
multipage app, and a deep link to /staff would then get its navigation ("app / staff") and none of app.py's
header (the help-line banner)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from guide.types import MODES
from guide.ui.render import citation_markdown, quote_markdown, user_markdown

RUN_KEY = "rg_staff_run"
SUITES = ("safety", "retrieval", "conversations")


@st.cache_resource(show_spinner=False)
def _pipeline(settings_json: str) -> Any:
    """One pipeline per settings (index opened or built once per process)."""
    from guide.config import Settings
    from guide.pipeline import build_pipeline

    return build_pipeline(Settings.model_validate_json(settings_json))


@st.cache_data(show_spinner=False, ttl=60)
def _tags(evals_dir: str) -> list[str]:
    from guide.evals.runner import available_tags

    return available_tags(Path(evals_dir))


def _settings() -> Any:
    from guide.config import load_settings
    from guide.errors import GuideError

    try:
        return load_settings()
    except GuideError as exc:
        st.error(str(exc))
        st.stop()


def run_section(settings: Any) -> None:
    from guide.errors import GuideError
    from guide.evals.render import write_outputs
    from guide.evals.runner import EvalOptions, run_eval

    st.subheader("Run the suites")
    c1, c2, c3 = st.columns([2, 2, 1])
    suites = c1.multiselect("Suites", SUITES, default=list(SUITES), key="staff_suites")
    tags = c2.multiselect("Only cases with all of these tags", _tags(str(settings.evals_dir)), key="staff_tags")
    modes = c3.multiselect("Retrieval modes", list(MODES), default=[settings.retrieval_mode],
                           key="staff_modes")
    if not st.button("Run evaluation", type="primary", disabled=not suites, key="staff_run"):
        return
    from datetime import datetime, timezone

    bar = st.progress(0.0, text="Loading the model and the index…")

    def progress(suite: str, done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{suite}: {done}/{total} cases")

    run_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    if modes:  # the first mode also drives the answers, as with `guide eval --mode`
        settings = settings.with_overrides(retrieval_mode=modes[0])
    try:
        pipeline = _pipeline(settings.model_dump_json()) if {"retrieval", "conversations"} & set(suites) else None
        report = run_eval(settings, EvalOptions(suites=tuple(s for s in SUITES if s in suites), tags=tuple(tags),
                                                modes=tuple(modes)), pipeline=pipeline, progress=progress, run_id=run_id)
    except GuideError as exc:
        bar.empty()
        st.error(str(exc))
        return
    out = settings.runs_dir / run_id
    write_outputs(report, out)
    bar.progress(1.0, text=f"Done in {report.run.duration_s:.1f} s")
    st.session_state[RUN_KEY] = str(out)
    st.session_state["staff_view"] = str(out)  # show the new run (the picker below is drawn after this)


def _run_label(path: Path) -> str:
    from guide.evals.report import load_report

    try:
        r = load_report(path)
    except Exception:  # noqa: BLE001 - an unreadable run still shows up by name
        return f"{path.name} (unreadable)"
    gate = "no gate" if r.gate is None else "PASS" if r.gate.passed else "FAIL"
    return f"{r.run.id} · {gate} · {', '.join(r.run.suites)}" + (f" · tags {', '.join(r.run.tags)}" if r.run.tags else "")


def results_section(settings: Any) -> None:
    from guide.evals.compare import changed_metrics, compare
    from guide.evals.render import figures, headline
    from guide.evals.report import list_runs, load_report

    runs = list_runs(settings.runs_dir)
    if not runs:
        st.info(f"No eval runs under {settings.runs_dir} yet. Run the suites above or `guide eval`.")
        return
    current = st.session_state.get(RUN_KEY)
    names = [str(p) for p in runs]
    index = names.index(current) if current in names else 0
    chosen = Path(st.selectbox("Run", names, index=index, format_func=lambda p: _run_label(Path(p)), key="staff_view"))
    report = load_report(chosen)

    if report.gate is not None:
        if report.gate.passed:
            st.success(f"Gate passed: {len(report.gate.checks)} checks from {report.gate.thresholds_file}.")
        else:
            lines = []
            for b in report.gate.breaches:
                value = "n/a" if b.value is None else f"{b.value:.4f}"
                cases = f": {', '.join(b.failing_cases[:20])}" if b.failing_cases else ""
                lines.append(f"- **{b.metric}** = {value} (needs {b.op} {b.threshold:g}){user_markdown(cases)}")
            st.error("Gate failed:\n" + "\n".join(lines))

    others = [p for p in names if p != str(chosen)]
    previous = st.selectbox("Compare with", ["(none)", *others],
                            format_func=lambda p: p if p == "(none)" else _run_label(Path(p)), key="staff_compare")
    if previous != "(none)":
        comp = compare(load_report(Path(previous)), report, previous)
        st.markdown(f"**Since {comp.previous_run_id}: {len(comp.newly_failing)} newly failing, "
                    f"{len(comp.newly_passing)} newly passing**")
        if comp.newly_failing:
            st.dataframe([{"suite": x.suite, "case": x.id, "was": x.before, "detail": x.detail} for x in comp.newly_failing],
                         hide_index=True, key="staff_newly_failing")
        if comp.newly_passing:
            st.caption("Newly passing: " + ", ".join(x.id for x in comp.newly_passing))
        moved = changed_metrics(comp)
        if moved:
            st.dataframe([{"metric": m.metric, "before": m.before, "after": m.after, "delta": m.delta} for m in moved],
                         hide_index=True, key="staff_deltas")
        if comp.changed_settings or comp.changed_inputs:
            st.caption("Changed: " + "; ".join([*(f"{k} {v[0]} → {v[1]}" for k, v in comp.changed_settings.items()),
                                                 *comp.changed_inputs]))

    rows = headline(report)
    cols = st.columns(3)
    for i, (label, value) in enumerate(rows):
        cols[i % 3].metric(label, value.split(" (")[0], help=value)

    for title, fig in figures(report):
        st.markdown(f"**{title}**")
        st.plotly_chart(fig, key=f"staff_fig_{title}")

    failing_section(report)

    d1, d2, d3 = st.columns(3)
    for col, name, mime in ((d1, "report.html", "text/html"), (d2, "report.json", "application/json"),
                            (d3, "report.md", "text/markdown")):
        path = chosen / name
        if path.is_file():
            col.download_button(f"Download {name}", path.read_bytes(), file_name=f"eval-{report.run.id}-{name}",
                                mime=mime, key=f"staff_dl_{name}")


def failing_section(report: Any) -> None:
    st.subheader("Failing cases")
    suites = [s for s, present in (("conversations", report.answers), ("safety", report.safety),
                                   ("retrieval", report.retrieval)) if present]
    if not suites:
        return
    suite = st.radio("Suite", suites, horizontal=True, key="staff_fail_suite")
    if suite == "conversations":
        failing = [c for c in report.answers.cases if not c.passed]
        st.caption(f"{len(failing)} of {len(report.answers.cases)} conversations fail their expectations.")
        for c in failing:
            with st.expander(f"{c.id} · {c.kind} · {'; '.join([*c.failures, *c.citation_problems])[:120]}"):
                q, a, s = st.columns(3)
                q.markdown("**Question**")
                for t in c.turns:
                    q.markdown(user_markdown(t))
                q.markdown("**Problems**\n\n" + "\n".join(f"- {user_markdown(p)}" for p in [*c.failures, *c.citation_problems]))
                a.markdown(f"**Answer** ({c.route}, expected {c.expected_route})")
                a.markdown(user_markdown(c.text))
                s.markdown("**Citations**")
                if not c.citations:
                    s.markdown("(none)")
                for cite in c.citations:
                    s.markdown(citation_markdown(cite))
                    s.markdown(quote_markdown(cite))
    elif suite == "safety":
        rows = [{"case": c.id, "outcome": c.outcome, "category": c.category, "kind": c.kind,
                 "expected": c.expected_route, "got": c.route, "message": " | ".join([*c.history, c.text]),
                 "reasons": "; ".join(c.reasons[:3])} for c in report.safety.cases if not c.passed]
        st.caption(f"{len(rows)} of {report.safety.n} safety messages routed differently than expected.")
        st.dataframe(rows, hide_index=True, key="staff_safety_fail")
    else:
        k = report.retrieval.k
        rows = [{"case": c.id, "mode": c.mode, "query": c.query, "relevant": ", ".join(c.relevant),
                 f"top {k}": ", ".join(c.ranking[:k]), "recall": c.recall_at_k} for c in report.retrieval.cases
                if not c.passed or c.recall_at_k < 1]
        st.caption(f"{len(rows)} queries miss at least one relevant document in the top {k}.")
        st.dataframe(rows, hide_index=True, key="staff_retrieval_fail")


def feedback_section(settings: Any) -> None:
    from guide.errors import GuideError
    from guide.evals.curation import add_feedback_case, feedback_case_id

    st.subheader("User feedback")
    st.caption("Thumbs-down first. “Make eval case” appends the question to "
               "evals/conversations/from-feedback.jsonl with the route it got and the tag needs-review.")
    try:
        from guide.feedback import open_feedback_store

        entries = open_feedback_store(settings.feedback_db).list("worst_first", limit=200)
    except GuideError as exc:
        st.error(str(exc))
        return
    if not entries:
        st.info("No feedback stored yet.")
        return
    existing = _existing_case_ids(settings.evals_dir)
    for e in entries:
        thumb = "👎" if e.rating < 0 else "👍"
        with st.expander(f"{thumb} #{e.id} · {e.created_at} · {e.audience} · {e.question[:90]}"):
            q, a, s = st.columns(3)
            q.markdown("**Question**")
            q.markdown(user_markdown(e.question))
            if e.comment:
                q.markdown("**Comment**")
                q.markdown(user_markdown(e.comment))
            a.markdown(f"**Answer** ({e.route})")
            a.markdown(user_markdown(e.answer))
            s.markdown("**Citations**")
            for c in e.citations:
                s.markdown(citation_markdown(c))
            if not e.citations:
                s.markdown("(none)")
            case_id = feedback_case_id(e)
            if case_id in existing:
                st.caption(f"Eval case {case_id} exists.")
            elif st.button("Make eval case", key=f"staff_fb_case_{e.id}"):
                try:
                    case, path = add_feedback_case(settings.evals_dir, e)
                except GuideError as exc:
                    st.error(str(exc))
                else:
                    _existing_case_ids.clear()
                    st.success(f"Added {case.id} to {path.name} (tagged needs-review).")


@st.cache_data(show_spinner=False, ttl=30)
def _existing_case_ids(evals_dir: Path) -> set[str]:
    from guide.evals.cases import ConversationCase, load_cases

    directory = evals_dir / "conversations"
    return {c.id for c in load_cases(directory, ConversationCase)} if directory.is_dir() else set()


def render_staff() -> None:
    """The whole staff page (app.py draws the help-line banner above it)."""
    settings = _settings()
    st.title("Staff: evaluation")
    st.caption("Before a change of corpus, thresholds or model: does the guide still catch every crisis, find the "
               "right documents, cite honestly and answer fast? Same suites and gate as `guide eval`.")
    evals, feedback = st.tabs(["Evaluation", "Feedback"])
    with evals:
        run_section(settings)
        st.divider()
        results_section(settings)
    with feedback:
        feedback_section(settings)


if __name__ == "__main__":  # run as a page script by st.Page or AppTest; importing the module draws nothing
    render_staff()
