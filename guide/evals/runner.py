"""Run the evaluation suites in evals/ (safety, retrieval, conversations) and return one typed RunReport.

Everything the CLI and the staff page show comes from `run_eval`; components are injectable (a pipeline,
a retriever, a safety checker) so tests can run a suite against a fixture corpus or a broken lexicon.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guide.errors import InputError
from guide.evals.answerability import load_answerability
from guide.evals.cases import ConversationCase, RetrievalCase, SafetyCase, load_cases
from guide.evals.safety import default_safety_checker, evaluate_safety, load_safety_cases
from guide.evals.dosing import load_dosing
from guide.evals.metrics import rate
from guide.evals.report import (
    SUITES,
    AnswerabilitySplitOut,
    AnswersReport,
    DosingSplitOut,
    LookalikeReport,
    OwnSuiteReport,
    RowProblemOut,
    ConversationCaseResult,
    RetrievalCaseResult,
    RetrievalModeMetrics,
    RetrievalReport,
    RoutingReport,
    RunMeta,
    RunReport,
)
from guide.evals.stats import LatencyStats
from guide.types import ROUTES

if TYPE_CHECKING:
    from guide.config import Settings
    from guide.evals.own_suite import OwnSuite
    from guide.pipeline import Pipeline
    from guide.retrieval.index import Retriever
    from guide.types import Answer

#: progress(suite, done, total) over all cases of the run; the CLI draws tqdm, the staff page st.progress.
EvalProgress = Callable[[str, int, int], None]
STAGES = ("input", "safety", "scope", "query", "retrieve", "compose", "output_check")
#: Settings recorded in report.json (and diffed by --compare): everything that changes an answer.
RECORDED_SETTINGS = ("embedding_model", "retrieval_mode", "top_k", "min_confidence", "reranker", "rerank_depth",
                     "min_answer_score", "safety_classifier", "rrf_k",
                     "chunk_size", "chunk_overlap", "region", "llm", "max_message_chars", "collection")


@dataclass(frozen=True)
class EvalOptions:
    """What to run: suite names (default all), tags every case must carry, retrieval modes, cut-offs."""

    suites: tuple[str, ...] = SUITES
    tags: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    k: int = 5
    depth: int = 10
    thresholds: Path | None = None
    lexicon_path: Path | None = None
    #: a third-party questions file in the conversation-suite schema (`--external DIR` → DIR/test/questions.jsonl)
    external_questions: Path | None = None
    #: a safety suite (a directory or one file) instead of the evals dir's safety/ (`guide safety --eval PATH`)
    safety_path: Path | None = None
    #: third-party look-alike prompts (XSTest's safe prompts in `--external DIR`/test/xstest.jsonl): how many get a
    #: cited passage although nothing in the corpus is about them
    external_lookalikes: Path | None = None
    #: a staff member's own questions (guide.evals.own_suite) instead of the evals dir's conversations/
    own_suite: "OwnSuite | None" = None


@dataclass
class _Cases:
    safety: list[SafetyCase]
    retrieval: list[RetrievalCase]
    conversations: list[ConversationCase]
    answer_sets: dict[str, list[ConversationCase]]
    answerability: list[Any]
    dosing: list[Any]



def load_suites(evals_dir: Path, suites: Sequence[str], tags: Sequence[str] = (),
                safety_path: Path | None = None) -> _Cases:
    """Validate and load the chosen suites (all of a suite's files), keeping cases with every tag."""
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise InputError(f"Unknown suite {unknown[0]!r}; choose from {', '.join(SUITES)}.")
    calibration = evals_dir / "calibration"
    return _Cases(
        safety=load_safety_cases(safety_path or evals_dir / "safety", tags) if "safety" in suites else [],
        retrieval=load_cases(evals_dir / "retrieval", RetrievalCase, tags) if "retrieval" in suites else [],
        conversations=load_cases(evals_dir / "conversations", ConversationCase, tags) if "conversations" in suites else [],
        # the two newer suites are optional in a suite directory (a staff member's own evals dir may lack them)
        answer_sets={f"realwords_{split}": load_cases(evals_dir / "realwords" / split, ConversationCase, tags)
                     for split in ("dev", "test") if (evals_dir / "realwords" / split).is_dir()}
        if "realwords" in suites else {},
        answerability=load_answerability(calibration / "answerability.jsonl")
        if "calibration" in suites and (calibration / "answerability.jsonl").is_file() else [],
        dosing=load_dosing(calibration / "dosing.jsonl")
        if "calibration" in suites and (calibration / "dosing.jsonl").is_file() else [],
    )


def load_external_questions(path: Path) -> list[ConversationCase]:
    """Third-party questions ({"id", "turns", "route", "expect_any": [regex, ...]}) as conversation cases: an
    answer passes when any of its regexes matches (case-insensitive), on the expected route."""
    from guide.evals.cases import any_of, read_records

    cases = []
    for n, row in enumerate(read_records(path), 1):
        try:
            pattern = any_of(row["expect_any"])
            cases.append(ConversationCase.model_validate({
                "id": row["id"], "turns": row["turns"], "kind": "followup" if len(row["turns"]) > 1 else "single",
                "tags": ["external", *(["maybe-uncovered"] if row.get("maybe_uncovered") else [])],
                "expect": {"route": row.get("route", "answer"), "must_include": [pattern]},
            }))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path} case {n}: not a question case ({exc}).") from None
    return cases


def own_suite_report(own: "OwnSuite") -> OwnSuiteReport:
    """The uploaded suite as the report records it: every bad row listed with what to fix."""
    return OwnSuiteReport(
        name=own.name, format=own.format, sha256=own.sha256, rows=own.rows, cases=len(own.cases),
        ungraded=own.ungraded_ids, notes=list(own.notes),
        problems=[RowProblemOut(row=p.row, column=p.column, message=p.message, raw=p.raw) for p in own.problems])


def available_tags(evals_dir: Path) -> list[str]:
    """Every tag some case carries (bare values and key=value), for the staff page's tag picker."""
    cases = load_suites(evals_dir, [s for s in SUITES if (evals_dir / s).is_dir()])
    tags: set[str] = set()
    for case in [*cases.safety, *cases.retrieval, *cases.conversations]:
        tags |= case.tags
    return sorted(tags)


class _Counter:
    def __init__(self, total: int, progress: EvalProgress | None) -> None:
        self.done, self.total, self.progress = 0, total, progress

    def step(self, suite: str) -> None:
        self.done += 1
        if self.progress:
            self.progress(suite, self.done, self.total)


def run_eval(
    settings: "Settings",
    options: EvalOptions = EvalOptions(),
    *,
    pipeline: "Pipeline | None" = None,
    retriever: "Retriever | None" = None,
    checker: Any = None,
    progress: EvalProgress | None = None,
    index_progress: Any = None,
    run_id: str | None = None,
) -> RunReport:
    """Run the suites and return the report with its gate applied (thresholds from evals/thresholds.yaml)."""
    from guide.corpus import corpus_hash, load_vetted
    from guide.evals.thresholds import THRESHOLDS_FILE, apply_thresholds, load_thresholds

    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    modes = tuple(dict.fromkeys(options.modes)) or (settings.retrieval_mode,)
    if modes[0] != settings.retrieval_mode:
        settings = settings.with_overrides(retrieval_mode=modes[0])
    thresholds_path = options.thresholds or settings.evals_dir / THRESHOLDS_FILE
    thresholds = load_thresholds(thresholds_path)  # fail fast, before any model loads
    own = options.own_suite
    cases = load_suites(settings.evals_dir, [s for s in options.suites if not (own and s == "conversations")],
                        options.tags, options.safety_path)
    if own is not None and "conversations" in options.suites:
        from guide.evals.cases import filter_cases

        cases.conversations = filter_cases(own.cases, options.tags)
    if "realwords" in options.suites and options.external_questions is not None and options.external_questions.is_file():
        cases.answer_sets["external_questions"] = load_external_questions(options.external_questions)
    documents = load_vetted(settings.corpus_dir)
    known_docs = {d.id for d in documents}
    suite_seconds: dict[str, float] = {}
    suite_cpu: dict[str, float] = {}

    t0, c0 = time.perf_counter(), time.process_time()
    needs_pipeline = bool(cases.conversations or any(cases.answer_sets.values()) or cases.answerability
                          or ("calibration" in options.suites and options.external_lookalikes is not None))
    if needs_pipeline and pipeline is None:
        from guide.pipeline import Pipeline, build_pipeline

        if retriever is not None:
            pipeline = Pipeline(settings, retriever, checker=checker)
        else:
            pipeline = build_pipeline(settings, progress=index_progress)
    if pipeline is not None:
        retriever = retriever or pipeline.retriever
        checker = checker if checker is not None else pipeline.checker
    if cases.retrieval and retriever is None:
        from guide.retrieval.index import open_retriever

        retriever, _ = open_retriever(settings, progress=index_progress)
    if cases.safety and checker is None:
        checker = default_safety_checker(settings, options.lexicon_path)
    suite_seconds["setup"] = round(time.perf_counter() - t0, 3)
    suite_cpu["setup"] = round(time.process_time() - c0, 3)

    counter = _Counter(len(cases.safety) + len(cases.retrieval) * len(modes) + len(cases.conversations)
                       + sum(len(v) for v in cases.answer_sets.values()) + len(cases.answerability), progress)
    safety = routing = retrieval = answers = None
    latency: dict[str, LatencyStats] = {}
    if cases.safety:
        t0, c0 = time.perf_counter(), time.process_time()
        safety = evaluate_safety(checker, cases.safety, on_case=lambda: counter.step("safety"))
        suite_seconds["safety"] = round(time.perf_counter() - t0, 3)
        suite_cpu["safety"] = round(time.process_time() - c0, 3)
        latency["safety_check"] = safety.latency
    if cases.retrieval:
        assert retriever is not None
        t0, c0 = time.perf_counter(), time.process_time()
        retrieval = evaluate_retrieval_modes(retriever, cases.retrieval, modes, options.k, options.depth,
                                             on_case=lambda: counter.step("retrieval"))
        suite_seconds["retrieval"] = round(time.perf_counter() - t0, 3)
        suite_cpu["retrieval"] = round(time.process_time() - c0, 3)
        for m in retrieval.modes:
            latency[f"retrieval_{m.mode}"] = m.latency
    if cases.conversations:
        assert pipeline is not None
        t0, c0 = time.perf_counter(), time.process_time()
        answers, routing, stage_latency = evaluate_conversations(
            pipeline, cases.conversations, known_docs, on_case=lambda: counter.step("conversations"))
        suite_seconds["conversations"] = round(time.perf_counter() - t0, 3)
        suite_cpu["conversations"] = round(time.process_time() - c0, 3)
        latency.update(stage_latency)
    answer_sets: dict[str, AnswersReport] = {}
    for name, set_cases in cases.answer_sets.items():
        if not set_cases:
            continue
        assert pipeline is not None
        t0, c0 = time.perf_counter(), time.process_time()
        answer_sets[name], _, set_latency = evaluate_conversations(
            pipeline, set_cases, known_docs, on_case=lambda name=name: counter.step(name))
        suite_seconds[name] = round(time.perf_counter() - t0, 3)
        suite_cpu[name] = round(time.process_time() - c0, 3)
        latency[f"{name}_total"] = set_latency["total"]
    lookalikes = None
    if "calibration" in options.suites and options.external_lookalikes is not None \
            and options.external_lookalikes.is_file():
        assert pipeline is not None
        lookalikes = evaluate_lookalikes(pipeline, options.external_lookalikes)
    answerability_out, dosing_out = [], []
    if cases.answerability:
        from guide.evals.answerability import run_answerability, summarize

        assert pipeline is not None
        t0 = time.perf_counter()
        results = run_answerability(pipeline, cases.answerability, on_case=lambda: counter.step("calibration"))
        answerability_out = [AnswerabilitySplitOut(**vars(summarize(split, results)))
                             for split in ("dev", "test")]
        suite_seconds["answerability"] = round(time.perf_counter() - t0, 3)
    if cases.dosing:
        from guide.evals.dosing import score_dosing

        for sp in score_dosing(cases.dosing).splits:
            dosing_out.append(DosingSplitOut(
                split=sp.split, dosing_declined=rate(sp.dosing_declined, sp.n_dosing),
                safe_declined=rate(sp.safe_declined, sp.n_safe), errors=list(sp.error_ids)))

    finished = datetime.now(timezone.utc)
    meta = RunMeta(
        id=run_id or started.strftime("%Y%m%d-%H%M%S"),
        started_at=started.isoformat(timespec="seconds"),
        finished_at=finished.isoformat(timespec="seconds"),
        duration_s=round(time.perf_counter() - t_start, 3),
        guide_version=_version(),
        python=platform.python_version(),
        git_commit=_git(["rev-parse", "HEAD"]),
        git_dirty=None if (status := _git(["status", "--porcelain", "--untracked-files=no"])) is None else bool(status),
        corpus_hash=corpus_hash(documents),
        documents=len(documents),
        suites=[s for s in SUITES if s in options.suites],
        tags=list(options.tags),
        modes=list(modes),
        settings={
            **{k: _jsonable(getattr(settings, k)) for k in RECORDED_SETTINGS},
            "safety_checker": getattr(checker, "name", type(checker).__name__) if checker is not None else None,
            "composer": getattr(getattr(pipeline, "llm_composer", None), "name", None) or "extractive",
            "k": options.k,
        },
        inputs={**input_hashes(settings.evals_dir, thresholds_path, options.lexicon_path),
                **({f"suite/{own.name}": own.sha256} if own is not None else {})},
        suite_seconds=suite_seconds,
        suite_cpu_seconds=suite_cpu,
        case_counts={"safety": len(cases.safety), "retrieval": len(cases.retrieval),
                     "conversations": len(cases.conversations),
                     **{name: len(v) for name, v in cases.answer_sets.items() if v},
                     **({"answerability": len(cases.answerability)} if cases.answerability else {}),
                     **({"dosing": len(cases.dosing)} if cases.dosing else {})},
    )
    report = RunReport(run=meta, metrics={}, latency=latency, safety=safety, routing=routing,
                       retrieval=retrieval, answers=answers, answer_sets=answer_sets,
                       answerability=answerability_out, dosing=dosing_out, lookalikes=lookalikes,
                       suite=own_suite_report(own) if own is not None else None)
    report = report.model_copy(update={"metrics": flat_metrics(report)})
    gate = apply_thresholds(report, thresholds, _display_path(thresholds_path))
    return report.model_copy(update={"gate": gate})


# ---------------------------------------------------------------- retrieval
def evaluate_retrieval_modes(
    retriever: "Retriever", cases: Sequence[RetrievalCase], modes: Sequence[str], k: int = 5, depth: int = 10,
    on_case: Callable[[], None] | None = None,
) -> RetrievalReport:
    """Document rankings from guide.evals.retrieval, scored with ir-measures; its own numbers are the cross-check."""
    from guide.evals.metrics import IR_LIBRARY, ir_measure_names, ir_scores, retrieval_group
    from guide.evals.retrieval import evaluate_retrieval

    import ir_measures

    by_id = {c.id: c for c in cases}
    all_rows: list[RetrievalCaseResult] = []
    mode_metrics = []
    for mode in modes:
        own = evaluate_retrieval(retriever, cases, mode=mode, k=k, depth=depth, on_case=on_case)
        scores = ir_scores({r.case_id: r.relevant for r in own.results}, {r.case_id: r.ranking for r in own.results}, k)
        rows = []
        diff = 0.0
        for r in own.results:
            s = scores[r.case_id]
            diff = max(diff, abs(s["recall_at_k"] - r.recall_at_k), abs(s["reciprocal_rank"] - r.reciprocal_rank),
                       abs(s["ndcg_at_10"] - r.ndcg_at_10))
            case = by_id[r.case_id]
            rows.append(RetrievalCaseResult(
                id=r.case_id, mode=mode, query=r.query, language=r.language, tags=sorted(case.tags),
                relevant=list(r.relevant), ranking=list(r.ranking), recall_at_k=s["recall_at_k"],
                reciprocal_rank=s["reciprocal_rank"], ndcg_at_10=s["ndcg_at_10"],
                passed=bool(set(r.relevant) & set(r.ranking[:k])), latency_ms=round(r.latency_ms, 3),
            ))
        groups = _group_by(rows, lambda row: row.language)
        difficulty = _group_by(rows, lambda row: str(by_id[row.id].difficulty or "unknown"))
        mode_metrics.append(RetrievalModeMetrics(
            mode=mode, k=k, overall=retrieval_group(rows),
            by_language={g: retrieval_group(v) for g, v in groups.items()},
            by_difficulty={g: retrieval_group(v) for g, v in difficulty.items()},
            cross_check_max_diff=round(diff, 12), misses=[r.id for r in rows if not r.passed],
            latency=LatencyStats.of(r.latency_ms for r in rows),
        ))
        all_rows += rows
    return RetrievalReport(k=k, depth=depth, library=f"{IR_LIBRARY} {ir_measures.__version__}",
                           measures=ir_measure_names(k), modes=mode_metrics, cases=all_rows)


def _group_by(rows: Sequence[Any], key: Callable[[Any], str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in rows:
        out.setdefault(key(r), []).append(r)
    return dict(sorted(out.items()))


# ---------------------------------------------------------------- conversations
class _Recording:
    """Wraps a pipeline so the eval sees every Answer a case produced (citations, timings)."""

    def __init__(self, pipeline: "Pipeline") -> None:
        self.pipeline = pipeline
        self.answers: list["Answer"] = []

    def answer(self, history: Any, message: str, audience: str = "newcomer") -> "Answer":
        answer = self.pipeline.answer(history, message, audience)
        self.answers.append(answer)
        return answer


def evaluate_conversations(
    pipeline: "Pipeline", cases: Sequence[ConversationCase], known_docs: set[str],
    on_case: Callable[[], None] | None = None,
) -> tuple[AnswersReport, RoutingReport, dict[str, LatencyStats]]:
    """Play every conversation (guide.evals.answers.run_case) and compute answer, routing and latency metrics."""
    from guide.evals.answers import SUPPORT_THRESHOLD, run_case
    from guide.evals.cases import expectation_text
    from guide.evals.metrics import (
        accuracy,
        answer_group,
        citation_checks,
        confusion,
        per_label_recall,
    )

    rows: list[ConversationCaseResult] = []
    for case in cases:
        rec = _Recording(pipeline)
        r = run_case(rec, case, known_docs)  # type: ignore[arg-type]
        last = rec.answers[-1]
        rows.append(ConversationCaseResult(
            id=r.case_id, kind=r.kind, category=case.category, audience=case.audience or "newcomer",
            tags=sorted(case.tags), turns=list(r.turns), expected_route=r.expected_route, route=r.route,
            expected_sources=list(case.expect.sources) if case.expect else [], passed=r.passed,
            ungraded=r.ungraded, expectation=expectation_text(case), failures=list(r.failures),
            citation_problems=list(r.citation_problems), citation_checks=citation_checks(last.text, len(last.citations)),
            citations=list(last.citations), text=r.text,
            groundedness=r.groundedness, latency_ms=round(r.latency_ms, 3),
            timings_ms={k: round(v, 3) for k, v in last.timings_ms.items()},
            latency_budget_ms=r.latency_budget_ms,
        ))
        if on_case:
            on_case()
    kinds = _group_by(rows, lambda row: row.kind)
    answers = AnswersReport(
        overall=answer_group(rows), by_kind={k: answer_group(v) for k, v in kinds.items()},
        failing=[r.id for r in rows if not r.passed and not r.ungraded], support_threshold=SUPPORT_THRESHOLD,
        cases=rows,
    )
    routed = [r for r in rows if not r.ungraded]  # an ungraded case expects no route
    pairs = [(r.expected_route, r.route) for r in routed]
    routing = RoutingReport(
        n=len(routed), accuracy=accuracy(pairs), per_route_recall=per_label_recall(pairs, ROUTES),
        confusion=confusion(pairs, ROUTES), mismatches=[r.id for r in routed if r.route != r.expected_route],
    )
    stages = {s: LatencyStats.of(r.timings_ms[s] for r in rows if s in r.timings_ms) for s in STAGES}
    stages["total"] = LatencyStats.of(r.latency_ms for r in rows)
    return answers, routing, stages


def evaluate_lookalikes(pipeline: "Pipeline", path: Path) -> LookalikeReport:
    """XSTest's safe prompts ("How do I kill a Python process?"): none is about recovery, so any cited passage is
    filler. Counted over the prompts that reach the composer (not crisis, not declined) and over all of them."""
    from guide.evals.cases import read_records

    prompts = [str(r["text"]) for r in read_records(path) if r.get("label") == "none"]
    reached = cited = 0
    for text in prompts:
        answer = pipeline.answer([], text, "newcomer")
        if answer.route == "answer":
            reached += 1
            cited += bool(answer.citations)
    return LookalikeReport(source=path.name, prompts=len(prompts), reached_composer=reached,
                           cited_passage=rate(cited, reached), cited_passage_all=rate(cited, len(prompts)))


# ---------------------------------------------------------------- flat metrics
def flat_metrics(report: RunReport) -> dict[str, float | None]:
    """The headline numbers under stable dotted names (thresholds, --compare and the charts use these)."""
    m: dict[str, float | None] = {}
    if report.safety:
        s = report.safety
        m["safety.recall"] = s.overall.recall.value
        m["safety.precision"] = s.overall.precision.value
        m["safety.false_alarm_all_noncrisis"] = s.overall.false_alarm.value
        m["safety.false_alarm_hard_negatives"] = s.false_alarm_hard_negatives.value
        m["safety.route_accuracy"] = s.route_accuracy.value
        for c in s.per_category:
            m[f"safety.{c.category}.recall"] = c.recall.value
            m[f"safety.{c.category}.precision"] = c.precision.value
            m[f"safety.{c.category}.false_alarm"] = c.false_alarm.value
    if report.routing:
        m["routing.accuracy"] = report.routing.accuracy.value
        for route, r in report.routing.per_route_recall.items():
            m[f"routing.{route}.recall"] = r.value
    if report.retrieval:
        k = report.retrieval.k
        for mm in report.retrieval.modes:
            m[f"retrieval.{mm.mode}.recall_at_{k}"] = mm.overall.recall_at_k
            m[f"retrieval.{mm.mode}.mrr"] = mm.overall.mrr
            m[f"retrieval.{mm.mode}.ndcg_at_10"] = mm.overall.ndcg_at_10
            m[f"retrieval.{mm.mode}.hit_rate_at_{k}"] = mm.overall.hit_rate_at_k.value
    if report.answers:
        a = report.answers
        m["answers.pass_rate"] = a.overall.pass_rate.value
        m["answers.citation_validity"] = a.overall.citation_validity.value
        m["answers.groundedness"] = a.overall.groundedness
        for kind, g in a.by_kind.items():
            m[f"answers.{kind}.pass_rate"] = g.pass_rate.value
            m[f"answers.{kind}.citation_validity"] = g.citation_validity.value
            m[f"answers.{kind}.groundedness"] = g.groundedness
    for name, a in report.answer_sets.items():
        m[f"answers.{name}.pass_rate"] = a.overall.pass_rate.value
        m[f"answers.{name}.citation_validity"] = a.overall.citation_validity.value
        for kind, g in a.by_kind.items():
            m[f"answers.{name}.{kind}.pass_rate"] = g.pass_rate.value
    for sp in report.answerability:
        m[f"not_covered.{sp.split}.precision"] = sp.precision.value
        m[f"not_covered.{sp.split}.recall"] = sp.recall.value
        m[f"not_covered.{sp.split}.answerable_refused"] = sp.answerable_refused.value
        for kind, r in sp.answered_by_kind.items():
            m[f"not_covered.{sp.split}.{kind}_answered"] = r.value
    if report.lookalikes is not None:
        m["answers.lookalikes.cited_passage"] = report.lookalikes.cited_passage.value
    for d in report.dosing:
        m[f"dosing.{d.split}.decline_recall"] = d.dosing_declined.value
        m[f"dosing.{d.split}.safe_declined"] = d.safe_declined.value
    for stage, st in report.latency.items():
        m[f"latency.{stage}.p50_ms"] = st.p50_ms
        m[f"latency.{stage}.p95_ms"] = st.p95_ms
    if report.answers:
        budgeted = [c for c in report.answers.cases if c.latency_budget_ms is not None]
        m["latency.over_budget"] = (sum(c.over_latency_budget for c in budgeted) / len(budgeted)) if budgeted else None
    return {k: (None if v is None else round(float(v), 6)) for k, v in m.items()}


# ---------------------------------------------------------------- run metadata
def _git(args: list[str]) -> str | None:
    from guide.config import REPO_ROOT

    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _version() -> str:
    from guide import __version__

    return __version__


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _display_path(path: Path) -> str:
    from guide.config import REPO_ROOT

    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def input_hashes(evals_dir: Path, thresholds: Path, lexicon_path: Path | None = None) -> dict[str, str]:
    """sha256 of every suite file, the thresholds and the crisis lexicon, so --compare can say what changed."""
    from guide.evals.cases import suite_files

    out: dict[str, str] = {}
    for suite in SUITES:
        d = evals_dir / suite
        if d.is_dir():
            for p in suite_files(d):
                out[f"evals/{suite}/{p.name}"] = _sha256(p)
    if thresholds.is_file():
        out["evals/thresholds.yaml"] = _sha256(thresholds)
    try:
        from guide.safety.lexicon import DEFAULT_LEXICON
    except ImportError:  # pragma: no cover - the safety layer is part of the package
        DEFAULT_LEXICON = None  # noqa: N806
    lexicon = lexicon_path or DEFAULT_LEXICON
    if lexicon is not None and Path(lexicon).is_file():
        out["lexicon.yaml"] = _sha256(Path(lexicon))
    return dict(sorted(out.items()))
