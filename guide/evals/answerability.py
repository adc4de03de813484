"""Answerability: does the guide answer what its corpus covers and say "not covered" to what it does not?

`evals/calibration/answerability.jsonl` holds questions the team wrote: answerable ones (with the documents
that answer them) and unanswerable ones of three kinds (off-topic, look-alike, recovery-adjacent). Each is played
through the pipeline; "not covered" is the positive class:

- predicted not covered = the reply is the not-covered text (an answer route without citations) or the scope
  guard declined it as off-topic; a crisis or check-in route is counted apart (the crisis check ran first);
- precision = unanswerable among those predicted not covered; recall = unanswerable questions predicted not covered.

`threshold_table` is the calibration: for each candidate threshold on the best passage score, how many answerable
questions would be refused and how many unanswerable ones answered. It is read on the dev split only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from guide.errors import InputError
from guide.evals.dosing import split_of
from guide.evals.metrics import rate

if TYPE_CHECKING:
    from guide.evals.report import Rate
    from guide.pipeline import Pipeline
    from guide.types import Answer

Split = Literal["dev", "test"]
KINDS = ("covered", "off-topic", "look-alike", "adjacent")


@dataclass(frozen=True)
class AnswerabilityCase:
    id: str
    query: str
    answerable: bool
    kind: str
    docs: tuple[str, ...]
    split: Split


def load_answerability(path: Path) -> list[AnswerabilityCase]:
    if not path.is_file():
        raise InputError(f"{path} does not exist.")
    cases: list[AnswerabilityCase] = []
    seen: set[str] = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            case = AnswerabilityCase(str(row["id"]), str(row["query"]), bool(row["answerable"]), str(row["kind"]),
                                     tuple(row.get("docs") or ()), row["split"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{n}: not an answerability case ({exc}).") from None
        if case.kind not in KINDS or case.answerable != (case.kind == "covered"):
            raise InputError(f"{path}:{n}: kind must be one of {', '.join(KINDS)}, and only 'covered' is answerable.")
        if case.split != split_of(case.id):
            raise InputError(f"{path}:{n}: split {case.split!r} does not follow the id hash rule.")
        if case.id in seen:
            raise InputError(f"{path}:{n}: duplicate id {case.id!r}.")
        seen.add(case.id)
        cases.append(case)
    return cases


Outcome = Literal["answered", "not_covered", "declined", "crisis"]


def outcome_of(answer: "Answer") -> Outcome:
    if answer.route in ("crisis", "checkin"):
        return "crisis"
    if answer.route == "decline":
        return "not_covered" if answer.decline_kind == "off_topic" else "declined"
    return "answered" if answer.citations else "not_covered"


@dataclass(frozen=True)
class AnswerabilityResult:
    case: AnswerabilityCase
    outcome: Outcome
    score: float  # the best passage score the threshold was compared with
    cited_expected: bool  # an answered covered question cites one of its documents


@dataclass(frozen=True)
class AnswerabilitySplit:
    split: str
    n_answerable: int
    n_unanswerable: int
    precision: "Rate"  # of "not covered"
    recall: "Rate"  # of "not covered"
    answerable_refused: "Rate"
    answered_by_kind: dict[str, "Rate"]  # unanswerable kinds that still got a cited passage
    crisis_routed: int
    wrong: tuple[str, ...] = field(default=())  # ids of the errors


def run_answerability(pipeline: "Pipeline", cases: Sequence[AnswerabilityCase],
                      on_case: Callable[[], None] | None = None) -> list[AnswerabilityResult]:
    results = []
    for case in cases:
        answer = pipeline.answer([], case.query, "newcomer")
        cited = {c.doc_id for c in answer.citations}
        # Answer.confidence is the best passage score the composer compared with its threshold
        score = answer.confidence if answer.route == "answer" else float("nan")
        results.append(AnswerabilityResult(case, outcome_of(answer), score, bool(cited & set(case.docs))))
        if on_case:
            on_case()
    return results


def summarize(split: str, results: Sequence[AnswerabilityResult]) -> AnswerabilitySplit:
    rows = [r for r in results if r.case.split == split]
    unans = [r for r in rows if not r.case.answerable]
    ans = [r for r in rows if r.case.answerable]
    predicted = [r for r in rows if r.outcome == "not_covered"]
    wrong = [r.case.id for r in rows
             if (r.case.answerable and r.outcome != "answered") or (not r.case.answerable and r.outcome == "answered")]
    by_kind = {k: rate(sum(r.outcome == "answered" for r in rows if r.case.kind == k),
                       sum(r.case.kind == k for r in rows)) for k in KINDS if k != "covered"}
    return AnswerabilitySplit(
        split=split, n_answerable=len(ans), n_unanswerable=len(unans),
        precision=rate(sum(not r.case.answerable for r in predicted), len(predicted)),
        recall=rate(sum(r.outcome == "not_covered" for r in unans), len(unans)),
        answerable_refused=rate(sum(r.outcome == "not_covered" for r in ans), len(ans)),
        answered_by_kind=by_kind, crisis_routed=sum(r.outcome == "crisis" for r in rows), wrong=tuple(wrong),
    )


def threshold_table(results: Sequence[AnswerabilityResult], thresholds: Sequence[float],
                    split: str = "dev") -> list[tuple[float, float, float]]:
    """(threshold, share of answerable refused, share of unanswerable answered) over the cases that reached
    retrieval on `split`: what each candidate threshold would do."""
    from guide.evals.calibrate import threshold_table as table

    rows = [r for r in results if r.case.split == split and r.score == r.score]  # nan: never reached retrieval
    return table([r.score for r in rows if r.case.answerable], [r.score for r in rows if not r.case.answerable],
                 thresholds)


def choose_threshold(table: Sequence[tuple[float, float, float]], max_refused: float = 0.05) -> float:
    """The threshold that answers the fewest unanswerable questions while refusing at most `max_refused` of the
    answerable ones (ties: the lower threshold, which refuses less)."""
    allowed = [row for row in table if row[1] <= max_refused]
    if not allowed:
        return min(t for t, _, _ in table)
    return min(allowed, key=lambda row: (row[2], row[0]))[0]
