"""Staff page: run the eval suites, read the metrics and charts, browse failing cases, compare runs,
download reports, and turn user feedback into eval cases. The workbench: upload your own questions (CSV or
JSONL), run them under one or two set-ups side by side, and grade answers by hand in a queue.
Thin: everything comes from guide.evals.

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


def _new_run_dir(settings: Any) -> tuple[str, Path]:
    from datetime import datetime, timezone

    run_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base, n = run_id, 1
    while (settings.runs_dir / run_id).exists():  # two runs in one second keep both
        n += 1
        run_id = f"{base}-{n}"
    return run_id, settings.runs_dir / run_id


def own_suite_section(settings: Any) -> None:
    """Upload a CSV or JSONL of your own questions, pick one or two set-ups, run."""
    from guide.errors import GuideError
    from guide.evals.own_suite import COLUMNS, parse_suite
    from guide.evals.setups import CURRENT, available_setups

    st.subheader("Your own questions")
    st.caption(f"CSV or JSONL with the columns {', '.join(COLUMNS)}. Only `question` (or `turns`) is required. "
               "Regexes in expect_any / expect_all / expect_none are case-insensitive and `;`-separated. A row "
               "without expectations or route is graded by hand (Grading tab).")
    upload = st.file_uploader("Suite file", type=["csv", "jsonl", "ndjson"], key="wb_file")
    own = None
    if upload is not None:
        try:
            own = parse_suite(upload.getvalue(), upload.name)
        except GuideError as exc:
            st.error(str(exc))
        else:
            st.info(f"{upload.name}: {own.rows} rows, {len(own.cases)} will run, {len(own.problems)} not run, "
                    f"{len(own.ungraded_ids)} without expectations.")
            if own.problems:
                st.warning("These rows will not run (the report lists them too); fix them and upload again:")
                st.dataframe([{"row": p.row, "column": p.column, "what to fix": p.message, "row as read": p.raw}
                              for p in own.problems], hide_index=True, key="wb_problems")
            for note in own.notes:
                st.caption(note)
    files = {p.stem: p for p in available_setups(settings.evals_dir)}
    c1, c2 = st.columns(2)
    a = c1.selectbox("Set-up A", [CURRENT, *files], key="wb_setup_a")
    b = c2.selectbox("Set-up B (optional)", ["(none)", CURRENT, *files], key="wb_setup_b",
                     help=f"Set-ups are YAML files of settings in {settings.evals_dir / 'setups'}, e.g. `reranker: none`.")
    if not st.button("Run my suite", type="primary", disabled=own is None or not own.cases, key="wb_run"):
        return
    assert own is not None and upload is not None
    from guide.evals.render import write_outputs
    from guide.evals.runner import EvalOptions, run_eval
    from guide.evals.setups import Setup, load_setup

    bar = st.progress(0.0, text="Loading the model and the index…")

    def progress(suite: str, done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{suite}: {done}/{total} cases")

    run_id, out = _new_run_dir(settings)
    options = EvalOptions(suites=("conversations",), own_suite=own)
    try:
        setup_a = Setup() if a == CURRENT else load_setup(files[a], settings)
        if b == "(none)":
            configured = setup_a.apply(settings)
            report = run_eval(configured, options, pipeline=_pipeline(configured.model_dump_json()),
                              progress=progress, run_id=run_id)
        else:
            from guide.evals.setups import run_setups

            setup_b = Setup() if b == CURRENT else load_setup(files[b], settings)
            report = run_setups(settings, options, setup_a, setup_b, progress=progress, run_id=run_id,
                                pipeline_for=lambda s: _pipeline(s.model_dump_json()))
    except GuideError as exc:
        bar.empty()
        st.error(str(exc))
        return
    from guide.evals.compare import compare
    from guide.evals.report import load_report, previous_run_of_suite

    previous = previous_run_of_suite(settings.runs_dir, own.name, exclude=out)
    if previous is not None:  # the change against the previous run of this suite: in the report and its plot
        report = report.model_copy(update={"comparison": compare(load_report(previous), report, str(previous))})
    write_outputs(report, out)
    (out / f"suite{Path(upload.name).suffix or '.txt'}").write_bytes(upload.getvalue())  # nothing lost
    bar.progress(1.0, text=f"Done in {report.run.duration_s:.1f} s")
    st.success(f"Run {run_id}: results in the Evaluation tab, answers to grade in the Grading tab.")
    st.session_state[RUN_KEY] = str(out)
    st.session_state["staff_view"] = str(out)
    st.session_state["wb_grade_run"] = str(out)


def grading_section(settings: Any) -> None:
    """The review queue: one answer at a time; pick a grade (arrow keys), type a note, Enter saves."""
    from guide.errors import GuideError
    from guide.evals.grading import review_queue, save_grade, summarize
    from guide.evals.render import GRADE_HEADERS, grade_rows
    from guide.evals.report import list_runs, load_report
    from guide.feedback import GRADES, open_feedback_store

    st.subheader("Grade answers by hand")
    runs = [str(p) for p in list_runs(settings.runs_dir)]
    if not runs:
        st.info("No runs to grade yet: run your own suite first.")
        return
    current = st.session_state.get("wb_grade_run")
    chosen = st.selectbox("Run", runs, index=runs.index(current) if current in runs else 0,
                          format_func=lambda p: _run_label(Path(p)), key="wb_grade_run")
    report = load_report(Path(chosen))
    if report.answers is None:
        st.info("This run has no answers to grade; pick a run of the conversations suite or of your own questions.")
        return
    try:
        store = open_feedback_store(settings.feedback_db)
        grades = store.grades(report.run.id)
    except GuideError as exc:
        st.error(str(exc))
        return
    reviewer = st.text_input("Your name (stored with each grade)", key="wb_reviewer")
    everything = st.checkbox("Also queue the answers that have expectations (to check the regexes)", key="wb_grade_all")
    queue = review_queue(report, grades, everything=everything)
    saved = st.session_state.pop("wb_last_saved", None)
    if saved:
        st.success(saved)
    summary = summarize(report, grades)
    if summary:
        st.dataframe([dict(zip(GRADE_HEADERS, row)) for row in grade_rows(report.model_copy(update={"grades": summary}))],
                     hide_index=True, key="wb_grade_summary")
        disagreements = [d for g in summary for d in g.disagreements]
        if disagreements:
            st.markdown(f"**Regex and reviewer disagree: {len(disagreements)}** (where a regex is wrong)")
            st.dataframe([{"set-up": d.setup, "case": d.case_id, "regex": d.regex_verdict, "grade": d.grade,
                           "reviewer": d.reviewer, "note": d.note} for d in disagreements],
                         hide_index=True, key="wb_disagreements")
    if not queue:
        st.success("Nothing left to grade in this run." + ("" if everything else
                                                           " Tick the box above to check the other answers too."))
        return
    item = queue[0]
    c = item.case
    st.markdown(f"**{len(queue)} left** · case `{c.id}` · set-up {user_markdown(item.setup_text)} · "
                f"regex verdict {c.verdict}" + (f" · expects {user_markdown(c.expectation)}" if c.expectation else ""))
    if len(item.setups) > 1:
        st.caption("Both set-ups gave this answer: one grade is stored for each.")
    elif item.differs:
        st.caption("The set-ups answered this case differently: each answer is graded on its own, one after the other.")
    q, a, s = st.columns(3)
    q.markdown("**Question**")
    for t in c.turns:
        q.markdown(user_markdown(t))
    a.markdown(f"**Answer** ({c.route})")
    a.markdown(user_markdown(c.text))
    s.markdown("**Citations and source passages**")
    if not c.citations:
        s.markdown("(none)")
    for cite in c.citations:
        s.markdown(citation_markdown(cite))
        s.markdown(quote_markdown(cite))
    with st.form("wb_grade_form", clear_on_submit=True, enter_to_submit=True):
        grade = st.radio("Grade", GRADES, index=None, horizontal=True, key="wb_grade")
        note = st.text_input("Note (optional; Enter saves)", key="wb_note")
        submitted = st.form_submit_button("Save grade", type="primary")
    if not submitted:
        return
    if not reviewer.strip():
        st.error("Type your name above first; it is stored with each grade.")
        return
    if grade is None:
        st.error("Choose correct, partly or wrong (arrow keys move between them), then press Enter.")
        return
    try:
        save_grade(store, report.run.id, c.id, item.setups, grade, reviewer, note)
    except GuideError as exc:
        st.error(str(exc))
        return
    st.session_state["wb_last_saved"] = f"Saved: {c.id} ({' and '.join(item.setups)}) {grade}."
    st.rerun()


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
    kept = str(Path(report.comparison.previous_path).resolve()) if report.comparison else ""
    resolved = [str(Path(p).resolve()) for p in others]
    previous = st.selectbox("Compare with", ["(none)", *others],
                            index=resolved.index(kept) + 1 if kept in resolved else 0,
                            format_func=lambda p: p if p == "(none)" else _run_label(Path(p)), key="staff_compare")
    if previous != "(none)":  # the charts and the downloads carry the comparison too
        report = report.model_copy(update={"comparison": compare(load_report(Path(previous)), report, previous)})
    comp = report.comparison
    if comp is not None:
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

    workbench_results(report)
    downloads(settings, report)


def _grades(settings: Any, run_id: str) -> list[Any]:
    from guide.errors import GuideError
    from guide.feedback import open_feedback_store

    try:
        return open_feedback_store(settings.feedback_db).grades(run_id)
    except GuideError as exc:
        st.error(str(exc))
        return []


def downloads(settings: Any, report: Any) -> None:
    """The report as HTML, JSON, Markdown and CSV, with the hand grades stored so far folded in (built on click)."""
    from guide.evals.grading import with_grades
    from guide.evals.render import to_csv, to_html, to_markdown
    from guide.evals.report import dump_report

    def build(render: Any) -> Any:
        return lambda: render(with_grades(report, _grades(settings, report.run.id)))

    files = [("report.html", "text/html", to_html), ("report.json", "application/json", dump_report),
             ("report.md", "text/markdown", to_markdown)]
    if report.answers is not None:
        files.append(("report.csv", "text/csv", to_csv))
    for col, (name, mime, render) in zip(st.columns(len(files)), files):
        col.download_button(f"Download {name}", build(render), file_name=f"eval-{report.run.id}-{name}",
                            mime=mime, key=f"staff_dl_{name}", on_click="ignore")


def workbench_results(report: Any) -> None:
    """An own suite's bad rows, and two set-ups side by side, when the chosen run has them."""
    from guide.evals.render import mcnemar_text, setup_rows, setup_totals

    su = report.suite
    if su is not None:
        st.subheader(f"Own suite: {su.name}")
        st.caption(f"{su.rows} rows read: {su.cases} ran, {len(su.problems)} not run, {len(su.ungraded)} without "
                   "expectations (grade them in the Grading tab).")
        if su.problems:
            st.warning(f"{len(su.problems)} row(s) were not run; fix them and upload again:")
            st.dataframe([{"row": p.row, "column": p.column, "what to fix": p.message, "row as read": p.raw}
                          for p in su.problems], hide_index=True, key="staff_suite_problems")
    sx = report.setups
    if sx is not None:
        st.subheader(f"Set-ups side by side: A {sx.label_a} · B {sx.label_b}")
        st.dataframe([dict(zip(("set-up", "pass rate", "p50 ms", "p95 ms", "settings"), row))
                      for row in setup_totals(report)], hide_index=True, key="staff_setup_totals")
        st.markdown(f"**Paired test:** {mcnemar_text(sx.mcnemar)}")
        only_changed = st.toggle("Only cases that changed", value=True, key="staff_setup_changed")
        rows = [dict(zip(("case", "question", "verdict A → B", "route A → B", "citations A → B", "ms A → B",
                          "changed"), row)) for row in setup_rows(report)]
        st.dataframe([r for r in rows if not only_changed or r["changed"] != "nothing"], hide_index=True,
                     key="staff_setup_pairs")
        changed = [p for p in sx.pairs if "answer" in p.changed]
        if changed:
            pick = st.selectbox("Read both answers", [p.id for p in changed], key="staff_setup_pick")
            pair = next(p for p in changed if p.id == pick)
            a, b = st.columns(2)
            a.markdown(f"**A: {user_markdown(sx.label_a)}** ({pair.route_a}, {pair.verdict_a})")
            a.markdown(user_markdown(pair.text_a))
            b.markdown(f"**B: {user_markdown(sx.label_b)}** ({pair.route_b}, {pair.verdict_b})")
            b.markdown(user_markdown(pair.text_b))


def failing_section(report: Any) -> None:
    st.subheader("Failing cases")
    suites = [s for s, present in (("conversations", report.answers), ("safety", report.safety),
                                   ("retrieval", report.retrieval)) if present]
    if not suites:
        return
    suite = st.radio("Suite", suites, horizontal=True, key="staff_fail_suite")
    if suite == "conversations":
        failing = [c for c in report.answers.cases if c.verdict == "fail"]
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
    evals, own, grading, feedback = st.tabs(["Evaluation", "Own suite", "Grading", "Feedback"])
    with own:  # drawn first: a run started here is the one the results below show
        own_suite_section(settings)
    with evals:
        run_section(settings)
        st.divider()
        results_section(settings)
    with grading:
        grading_section(settings)
    with feedback:
        feedback_section(settings)


if __name__ == "__main__":  # run as a page script by st.Page or AppTest; importing the module draws nothing
    render_staff()
