"""The evaluation run report: typed models, the versioned report.json and its JSON Schema.

report.json is a stable contract read by the staff page, `--compare` and CI. Bump SCHEMA_VERSION when a
field changes meaning or goes away (adding an optional field is a minor bump);
`python -m guide.evals.report` regenerates guide/evals/report.schema.json and a test keeps the two in sync.
Every number is JSON-safe: an undefined rate (0 cases) is null, never NaN.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from guide.errors import InputError
from guide.evals.stats import LatencyStats
from guide.types import Citation

SCHEMA_VERSION = "1.1"  # 1.1: own suites, set-up comparison, human grades, ungraded cases
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
SUITES = ("safety", "retrieval", "conversations", "realwords", "calibration")
#: Metric names an older report.json or thresholds file may use → the name now (read, never written).
RENAMED_METRICS = {"safety.false_alarm": "safety.false_alarm_all_noncrisis"}
#: The answer sets scored apart from the conversation dev set, each with its own pass rate.
ANSWER_SETS = ("realwords_dev", "realwords_test", "external_questions")


def _not_required_since(schema: dict[str, Any], cls: type[Any]) -> None:
    """Fields added in a minor version are written always but not required: an older 1.x report still validates."""
    added = getattr(cls, "added_in_minor", ())
    if added and "required" in schema:
        schema["required"] = [f for f in schema["required"] if f not in added]


class _Model(BaseModel):
    # every field is always written, so the schema of report.json requires every field, except the ones a
    # minor version added (`added_in_minor`): a report written by an older 1.x lacks them
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_serialization_defaults_required=True,
                              json_schema_extra=_not_required_since)
    added_in_minor: ClassVar[tuple[str, ...]] = ()


class Rate(_Model):
    """k of n with a 95% Wilson score interval; value, low and high are null when n is 0."""

    k: int = Field(ge=0)
    n: int = Field(ge=0)
    value: float | None
    low: float | None
    high: float | None


class Confusion(_Model):
    """Counts with rows = expected label and columns = predicted label, both in `labels` order."""

    labels: list[str]
    predicted_labels: list[str]
    matrix: list[list[int]]


# ---------------------------------------------------------------- safety
class SafetyCategoryMetrics(_Model):
    category: str
    positives: int = Field(description="cases expected to route to crisis in this category")
    negatives: int = Field(description="cases expected NOT to route to crisis in this category")
    recall: Rate
    precision: Rate
    false_alarm: Rate


class SafetyCaseResult(_Model):
    id: str
    text: str
    history: list[str]
    category: str | None
    kind: str | None
    tags: list[str]
    expected_route: str
    route: str
    predicted_category: str | None
    score: float
    reasons: list[str]
    outcome: Literal["correct", "miss", "false_alarm", "route_mismatch"]
    passed: bool
    error: str | None = None
    failed_closed: bool = False
    latency_ms: float
    cpu_ms: float | None = Field(default=None, description="CPU time of the checking thread")

    @property
    def hard_negative(self) -> bool:
        """Not a crisis, but written to look like one (difficulty=hard: idioms, negations, past tense…)."""
        return self.expected_route != "crisis" and "difficulty=hard" in self.tags


class SafetyReport(_Model):
    n: int
    overall: SafetyCategoryMetrics
    per_category: list[SafetyCategoryMetrics]
    per_kind: list[SafetyCategoryMetrics] = Field(default_factory=list, description="the same metrics per case kind")
    route_accuracy: Rate
    route_confusion: Confusion
    category_confusion: Confusion = Field(description="expected crisis cases: expected category vs predicted")
    misses: list[str]
    false_alarms: list[str]
    route_mismatches: list[str]
    errors: list[str]
    latency: LatencyStats
    cpu: LatencyStats | None = None
    cases: list[SafetyCaseResult]

    @property
    def failed_closed(self) -> int:
        return sum(c.failed_closed for c in self.cases)

    @property
    def false_alarm_hard_negatives(self) -> Rate:
        """Hard negatives routed to crisis (`guide safety --eval`'s gate); overall.false_alarm counts all non-crisis."""
        from guide.evals.metrics import rate

        hard = [c for c in self.cases if c.hard_negative]
        return rate(sum(c.route == "crisis" for c in hard), len(hard))


# ---------------------------------------------------------------- routing (from the conversations suite)
class RoutingReport(_Model):
    n: int
    accuracy: Rate
    per_route_recall: dict[str, Rate]
    confusion: Confusion
    mismatches: list[str]


# ---------------------------------------------------------------- retrieval
class RetrievalCaseResult(_Model):
    id: str
    mode: str
    query: str
    language: str
    tags: list[str]
    relevant: list[str]
    ranking: list[str]
    recall_at_k: float
    reciprocal_rank: float
    ndcg_at_10: float
    passed: bool = Field(description="at least one relevant document in the top k")
    latency_ms: float


class RetrievalGroupMetrics(_Model):
    n: int
    recall_at_k: float | None
    mrr: float | None
    ndcg_at_10: float | None
    hit_rate_at_k: Rate


class RetrievalModeMetrics(_Model):
    mode: str
    k: int
    overall: RetrievalGroupMetrics
    by_language: dict[str, RetrievalGroupMetrics]
    by_difficulty: dict[str, RetrievalGroupMetrics]
    cross_check_max_diff: float = Field(description="largest |ir-measures - guide.evals.retrieval| per-query difference")
    misses: list[str]
    latency: LatencyStats


class RetrievalReport(_Model):
    k: int
    depth: int
    library: str
    measures: list[str]
    modes: list[RetrievalModeMetrics]
    cases: list[RetrievalCaseResult]


# ---------------------------------------------------------------- answers
class ConversationCaseResult(_Model):
    added_in_minor: ClassVar[tuple[str, ...]] = ("ungraded", "expectation", "latency_budget_ms")  # 1.1

    id: str
    kind: str
    category: str | None
    audience: str
    tags: list[str]
    turns: list[str]
    expected_route: str
    route: str
    expected_sources: list[str]
    passed: bool
    failures: list[str]
    citation_problems: list[str]
    citation_checks: int = Field(description="citation entries + [n] marks checked for this answer")
    citations: list[Citation]
    text: str
    groundedness: float | None = Field(description="null when the reply has no cited sentences (e.g. crisis)")
    latency_ms: float
    timings_ms: dict[str, float]
    ungraded: bool = Field(default=False, description="no expectations: `passed` is false and means nothing; a "
                                                       "human grade judges the answer (the review queue)")
    expectation: str = Field(default="", description="what the case expects, in one line ('' when ungraded)")
    latency_budget_ms: float | None = Field(
        default=None, description="the case's max_latency_ms: reported (latency.over_budget), not part of `passed`, "
                                  "since wall-clock time depends on the machine")

    @property
    def over_latency_budget(self) -> bool:
        return self.latency_budget_ms is not None and self.latency_ms > self.latency_budget_ms

    @property
    def verdict(self) -> Literal["pass", "fail", "ungraded"]:
        """The regex verdict: pass, fail, or ungraded (nothing to check it against)."""
        return "ungraded" if self.ungraded else "pass" if self.passed else "fail"


class AnswerGroupMetrics(_Model):
    n: int
    pass_rate: Rate
    citation_validity: Rate = Field(description="valid citation checks / all citation checks")
    groundedness: float | None = Field(description="mean over answers with cited sentences")
    grounded_answers: int


class AnswersReport(_Model):
    overall: AnswerGroupMetrics
    by_kind: dict[str, AnswerGroupMetrics]
    failing: list[str]
    support_threshold: float
    cases: list[ConversationCaseResult]


class AnswerabilitySplitOut(_Model):
    split: str
    n_answerable: int
    n_unanswerable: int
    precision: Rate = Field(description="of 'not covered': unanswerable among the questions given it")
    recall: Rate = Field(description="of 'not covered': unanswerable questions given it")
    answerable_refused: Rate
    answered_by_kind: dict[str, Rate] = Field(description="unanswerable questions that got a cited passage, per kind")
    crisis_routed: int
    wrong: list[str]


class LookalikeReport(_Model):
    source: str
    prompts: int
    reached_composer: int
    cited_passage: Rate = Field(description="of the prompts that reached the composer, those given a cited passage")
    cited_passage_all: Rate


class DosingSplitOut(_Model):
    split: str
    dosing_declined: Rate = Field(description="dosing questions given the dosing decline (target >= 0.98)")
    safe_declined: Rate = Field(description="safe medication questions given the dosing decline (target <= 0.02)")
    errors: list[str]


# ---------------------------------------------------------------- gate and comparison
class ThresholdCheck(_Model):
    metric: str
    op: Literal[">=", "<=", "=="]
    threshold: float
    value: float | None
    status: Literal["pass", "fail", "skipped"]
    description: str = ""
    failing_cases: list[str] = Field(default_factory=list)


class Gate(_Model):
    passed: bool
    thresholds_file: str
    checks: list[ThresholdCheck]

    @property
    def breaches(self) -> list[ThresholdCheck]:
        return [c for c in self.checks if c.status == "fail"]


class MetricDelta(_Model):
    metric: str
    before: float | None
    after: float | None
    delta: float | None


class CaseChange(_Model):
    suite: str
    id: str
    before: Literal["pass", "fail", "absent"]
    after: Literal["pass", "fail", "absent"]
    detail: str = ""


class Comparison(_Model):
    previous_run_id: str
    previous_path: str
    previous_git_commit: str | None
    newly_failing: list[CaseChange]
    newly_passing: list[CaseChange]
    added_cases: list[str]
    removed_cases: list[str]
    metrics: list[MetricDelta]
    changed_settings: dict[str, list[Any]] = Field(description="setting → [before, after]")
    changed_inputs: list[str] = Field(description="suite files, lexicon or thresholds whose hash changed")


# ---------------------------------------------------------------- own suites, set-ups, grades
class RowProblemOut(_Model):
    row: int
    column: str
    message: str
    raw: str = ""


class OwnSuiteReport(_Model):
    """A staff member's uploaded suite: what was read, what ran, and every row that did not (nothing is lost)."""

    name: str
    format: str
    sha256: str
    rows: int
    cases: int
    ungraded: list[str] = Field(description="case ids without expectations: the review queue")
    problems: list[RowProblemOut]
    notes: list[str]


class McNemar(_Model):
    """Exact McNemar test on the cases both set-ups were graded on: b = A passes and B fails, c = the reverse."""

    b: int
    c: int
    n: int = Field(description="discordant pairs, b + c")
    p_value: float | None = Field(description="two-sided exact binomial p; null when there are no discordant pairs")


class CasePair(_Model):
    id: str
    question: str
    verdict_a: str
    verdict_b: str
    route_a: str
    route_b: str
    citations_a: list[str]
    citations_b: list[str]
    latency_a_ms: float
    latency_b_ms: float
    text_a: str
    text_b: str
    changed: list[str] = Field(description="what differs: route, citations, verdict, answer")


class SetupComparison(_Model):
    """One suite under two set-ups (`guide eval --compare-config A.yaml B.yaml`): the report's own answers are A."""

    label_a: str
    label_b: str
    overrides_a: dict[str, Any]
    overrides_b: dict[str, Any]
    answers_b: AnswersReport
    pass_rate_a: Rate
    pass_rate_b: Rate
    latency_a: LatencyStats
    latency_b: LatencyStats
    mcnemar: McNemar
    pairs: list[CasePair]
    comparison: Comparison = Field(description="A → B as `--compare` sees it: metric deltas, changed settings")


class GradeOut(_Model):
    case_id: str
    setup: str
    grade: Literal["correct", "partly", "wrong"]
    note: str
    reviewer: str
    graded_at: str
    regex_verdict: str = Field(description="pass, fail or ungraded: what the expectations said")


class GradesReport(_Model):
    """Human grades of one set-up's answers, beside the regex verdicts on the same cases."""

    setup: str
    n: int
    correct: int
    partly: int
    wrong: int
    graded_pass_rate: Rate = Field(description="graded 'correct' of all graded")
    graded_ok_rate: Rate = Field(description="graded 'correct' or 'partly' of all graded")
    regex_pass_rate: Rate = Field(description="regex pass rate over the graded cases that have expectations")
    to_grade: int = Field(description="answers without expectations still waiting for a grade")
    disagreements: list[GradeOut] = Field(description="regex pass graded wrong, or regex fail graded correct")
    grades: list[GradeOut]


# ---------------------------------------------------------------- the run
class RunMeta(_Model):
    id: str
    started_at: str
    finished_at: str
    duration_s: float
    guide_version: str
    python: str
    git_commit: str | None
    git_dirty: bool | None
    corpus_hash: str
    documents: int
    suites: list[str]
    tags: list[str]
    modes: list[str]
    settings: dict[str, Any]
    inputs: dict[str, str] = Field(description="relative path → sha256 of every suite file, lexicon and thresholds")
    suite_seconds: dict[str, float] = Field(description="wall-clock seconds per suite (and setup: model, index)")
    suite_cpu_seconds: dict[str, float] = Field(default_factory=dict,
                                                description="CPU seconds of this process per suite (all threads)")
    case_counts: dict[str, int]


#: report.json says which 1.x wrote it; every 1.x validates against this schema (minor versions only add fields).
SCHEMA_VERSION_PATTERN = r"^1\.[0-9]+$"


class RunReport(_Model):
    added_in_minor: ClassVar[tuple[str, ...]] = ("suite", "setups", "grades")  # 1.1

    schema_version: Annotated[Literal["1.1"], WithJsonSchema(
        {"type": "string", "pattern": SCHEMA_VERSION_PATTERN, "default": SCHEMA_VERSION, "title": "Schema Version"},
        mode="serialization")] = SCHEMA_VERSION
    run: RunMeta
    metrics: dict[str, float | None] = Field(description="flat headline metrics; the names thresholds and --compare use")
    latency: dict[str, LatencyStats]
    safety: SafetyReport | None = None
    routing: RoutingReport | None = None
    retrieval: RetrievalReport | None = None
    answers: AnswersReport | None = None
    answer_sets: dict[str, AnswersReport] = Field(
        default_factory=dict, description="other question sets (real-words dev/test, third-party questions), apart")
    answerability: list[AnswerabilitySplitOut] = Field(default_factory=list,
                                                      description="'not covered' precision and recall per split")
    dosing: list[DosingSplitOut] = Field(default_factory=list, description="the dosing guard per split")
    lookalikes: LookalikeReport | None = None
    gate: Gate | None = None
    comparison: Comparison | None = None
    suite: OwnSuiteReport | None = Field(default=None, description="the uploaded suite the conversations came from")
    setups: SetupComparison | None = None
    grades: list[GradesReport] = Field(default_factory=list, description="human grades per set-up (A, then B)")

    @field_validator("schema_version", mode="before")
    @classmethod
    def _same_major(cls, version: Any) -> Any:
        """A 1.x report reads as the current 1.x: minor versions only add optional fields."""
        return SCHEMA_VERSION if str(version).split(".")[0] == SCHEMA_VERSION.split(".")[0] else version

    @field_validator("metrics", mode="before")
    @classmethod
    def _current_names(cls, metrics: Any) -> Any:
        return {RENAMED_METRICS.get(k, k): v for k, v in metrics.items()} if isinstance(metrics, dict) else metrics

    def case_status(self) -> dict[tuple[str, str], tuple[bool, str]]:
        """(suite, case id) → (passed, one-line detail) for every case in the run; retrieval ids carry the mode."""
        out: dict[tuple[str, str], tuple[bool, str]] = {}
        if self.safety:
            for c in self.safety.cases:
                out[("safety", c.id)] = (c.passed, f"expected {c.expected_route}, got {c.route} ({c.outcome})")
        if self.retrieval:
            for r in self.retrieval.cases:
                out[("retrieval", f"{r.id}@{r.mode}")] = (
                    r.passed, f"top {len(r.ranking[:self.retrieval.k])}: {', '.join(r.ranking[:self.retrieval.k])}")
        if self.answers:
            for a in self.answers.cases:
                if a.ungraded:
                    continue
                out[("conversations", a.id)] = (a.passed, "; ".join([*a.failures, *a.citation_problems]) or "ok")
        return out


# ---------------------------------------------------------------- files
def json_schema() -> dict[str, Any]:
    schema = RunReport.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://recovery-guide.local/report.schema.json#{SCHEMA_VERSION}"
    return schema


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def validate_report_json(data: dict[str, Any]) -> None:
    """Raise InputError if data does not match the shipped JSON Schema (for files written by any version)."""
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        where = "/".join(map(str, first.path)) or "(root)"
        raise InputError(f"report.json does not match schema {SCHEMA_VERSION} at {where}: {first.message}")


def dump_report(report: RunReport) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def load_report(path: Path) -> RunReport:
    """A report from report.json or from a run directory holding one; errors say which file is wrong."""
    file = path / "report.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"No eval report at {file}. Pass a run directory from `guide eval --out` or its report.json.") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{file} is not valid JSON ({exc.msg}).") from None
    version = str(data.get("schema_version", ""))
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise InputError(f"{file} has report schema {version or '(none)'}; this guide reads {SCHEMA_VERSION}. Re-run `guide eval`.")
    from pydantic import ValidationError

    try:
        return RunReport.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(f"{file} is not a valid eval report: {'.'.join(map(str, err['loc']))}: {err['msg']}. "
                         "Re-run `guide eval` to write a fresh one.") from None


def list_runs(runs_dir: Path) -> list[Path]:
    """Run directories under runs_dir that hold a report.json, newest first."""
    if not runs_dir.is_dir():
        return []
    runs = [p for p in runs_dir.iterdir() if (p / "report.json").is_file()]
    return sorted(runs, key=lambda p: ((p / "report.json").stat().st_mtime, p.name), reverse=True)


def previous_run_of_suite(runs_dir: Path, name: str, exclude: Path | None = None) -> Path | None:
    """The newest run of an own suite with this file name: what a new run of it is compared with by default."""
    for path in list_runs(runs_dir):
        if exclude is not None and path.resolve() == exclude.resolve():
            continue
        try:
            report = load_report(path)
        except InputError:  # an unreadable old run is no previous run
            continue
        if report.suite is not None and report.suite.name == name:
            return path
    return None


if __name__ == "__main__":  # pragma: no cover
    print(write_schema())
