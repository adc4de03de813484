"""Answerability calibration: the labelled file, the outcome of a reply, precision/recall of "not covered", the
threshold table and its choice; the third-party question loader."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from guide.errors import InputError
from guide.evals.answerability import (
    AnswerabilityCase,
    AnswerabilityResult,
    choose_threshold,
    load_answerability,
    outcome_of,
    summarize,
    threshold_table,
)
from guide.evals.dosing import split_of
from guide.evals.runner import load_external_questions
from guide.types import Answer, Citation, SafetyVerdict

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "evals" / "calibration" / "answerability.jsonl"


def test_the_shipped_set_is_large_enough_and_valid() -> None:
    cases = load_answerability(SHIPPED)
    dev = [c for c in cases if c.split == "dev"]
    assert sum(c.answerable for c in cases) >= 150 and sum(not c.answerable for c in cases) >= 150
    assert {c.kind for c in dev} == {"covered", "off-topic", "look-alike", "adjacent"}
    docs = {p.stem for p in (REPO / "corpus" / "docs").glob("*.md")}
    assert all(set(c.docs) <= docs for c in cases)
    assert all(c.docs for c in cases if c.answerable)


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _row(case_id: str, **kw) -> dict:
    return {"id": case_id, "query": "q", "answerable": True, "kind": "covered", "docs": ["aa"],
            "split": split_of(case_id), **kw}


@pytest.mark.parametrize(("row", "message"), [
    (_row("x1", split="dev" if split_of("x1") == "test" else "test"), "id hash rule"),
    (_row("x2", kind="look-alike"), "only 'covered' is answerable"),
    (_row("x3", kind="trivia", answerable=False), "kind must be one of"),
    ({"id": "x4"}, "not an answerability case"),
])
def test_bad_rows_are_named(tmp_path: Path, row: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_answerability(_write(tmp_path, [row]))


def _answer(route: str, cited: bool, decline_kind: str | None = None) -> Answer:
    cites = (Citation(n=1, doc_id="aa", title="AA", section="AA", url="https://aa.org/", quote="q"),) if cited else ()
    return Answer(route=route, text="t", citations=cites, safety=SafetyVerdict(route="ok"), decline_kind=decline_kind)


def test_outcome_of_a_reply() -> None:
    assert outcome_of(_answer("answer", True)) == "answered"
    assert outcome_of(_answer("answer", False)) == "not_covered"  # the not-covered text carries no citation
    assert outcome_of(_answer("decline", False, "off_topic")) == "not_covered"
    assert outcome_of(_answer("decline", False, "dosing")) == "declined"
    assert outcome_of(_answer("crisis", False)) == "crisis"


def _result(answerable: bool, outcome: str, score: float, kind: str | None = None) -> AnswerabilityResult:
    case_id = f"r{_result.n}"
    _result.n += 1
    case = AnswerabilityCase(case_id, "q", answerable, kind or ("covered" if answerable else "off-topic"), (), "dev")
    return AnswerabilityResult(case, outcome, score, False)  # type: ignore[arg-type]


_result.n = 0  # type: ignore[attr-defined]


def test_precision_and_recall_of_not_covered() -> None:
    results = [
        _result(True, "answered", 5.0), _result(True, "not_covered", -6.0),  # one answerable refused
        _result(False, "not_covered", -8.0), _result(False, "not_covered", -7.0),
        _result(False, "answered", 1.0, "look-alike"), _result(False, "crisis", math.nan),
    ]
    s = summarize("dev", results)
    assert (s.precision.k, s.precision.n) == (2, 3)  # 3 given "not covered", 2 of them unanswerable
    assert (s.recall.k, s.recall.n) == (2, 4)  # 4 unanswerable, 2 given "not covered"
    assert (s.answerable_refused.k, s.answerable_refused.n) == (1, 2)
    assert s.answered_by_kind["look-alike"].k == 1 and s.crisis_routed == 1
    assert len(s.wrong) == 2


def test_threshold_table_and_choice() -> None:
    results = [_result(True, "answered", s) for s in (6.0, 4.0, 2.0, -1.0)] + \
              [_result(False, "answered", s) for s in (-9.0, -5.0, 0.0)] + [_result(False, "crisis", math.nan)]
    table = threshold_table(results, [-6.0, -2.0, 1.0, 3.0])
    assert table[0] == (-6.0, 0.0, 2 / 3)  # everything answerable kept, two unanswerable answered
    assert table[1] == (-2.0, 0.0, 1 / 3)
    assert table[2] == (1.0, 0.25, 0.0)
    assert choose_threshold(table, max_refused=0.05) == -2.0  # fewest unanswerable answered without refusing
    assert choose_threshold(table, max_refused=0.30) == 1.0


def test_third_party_questions_become_conversation_cases(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps({"id": "q1", "turns": ["Is naltrexone an opioid?"], "route": "answer",
                                "expect_any": ["not (an )?opioid", "non-?opioid"], "maybe_uncovered": True}) + "\n",
                    encoding="utf-8")
    [case] = load_external_questions(path)
    import re

    [pattern] = case.expect.must_include
    assert re.search(pattern, "Naltrexone is NOT an opioid.") and re.search(pattern, "a non-opioid medicine")
    assert not re.search(pattern, "Naltrexone is an opioid antagonist.")
    assert "maybe-uncovered" in case.tags and case.expect.route == "answer"
    path.write_text(json.dumps({"id": "q2", "turns": ["x"]}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a question case"):
        load_external_questions(path)
