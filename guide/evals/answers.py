"""Conversation evaluation: play each case through the pipeline and check its expectations, citation
validity and groundedness.

Citation validity: every [n] resolves to a citation whose document exists in the corpus AND whose quoted
passage supports the sentence carrying it. Support (documented, offline) = share of the sentence's
content tokens found in the cited passage ≥ SUPPORT_THRESHOLD (0.6). Extractive sentences score 1.0.
Groundedness = share of an answer's [n]-tagged sentences that are supported by some retrieved passage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from guide.evals.cases import ConversationCase
from guide.retrieval.keyword import tokenize
from guide.types import Answer, Citation

if TYPE_CHECKING:
    from guide.pipeline import Pipeline

SUPPORT_THRESHOLD = 0.6
_SENT_WITH_CITES = re.compile(r"([^\n]*?[.!?][\"”’)]?)\s*((?:\[\d+\]\s*)+)")


def tagged_sentences(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """(sentence, cited numbers) for every sentence that carries [n] markers."""
    out = []
    for sentence, marks in _SENT_WITH_CITES.findall(text):
        nums = tuple(int(n) for n in re.findall(r"\d+", marks))
        out.append((sentence.strip(), nums))
    return out


def support(sentence: str, passage: str) -> float:
    """Share of the sentence's content tokens present in the passage (0..1)."""
    s = set(tokenize(sentence))
    if not s:
        return 1.0
    return len(s & set(tokenize(passage))) / len(s)


def citation_problems(answer: Answer, known_docs: set[str]) -> list[str]:
    problems = []
    by_n: dict[int, Citation] = {c.n: c for c in answer.citations}
    for c in answer.citations:
        if c.doc_id not in known_docs:
            problems.append(f"[{c.n}] cites unknown document {c.doc_id!r}")
    for sentence, nums in tagged_sentences(answer.text):
        for n in nums:
            cite = by_n.get(n)
            if cite is None:
                problems.append(f"[{n}] has no citation entry")
            elif support(sentence, cite.quote) < SUPPORT_THRESHOLD:
                problems.append(f"[{n}] does not support: {sentence[:80]!r}")
    return problems


def groundedness(answer: Answer) -> float | None:
    """Share of tagged sentences supported by any cited passage; None when the reply has no citations."""
    sentences = tagged_sentences(answer.text)
    if not sentences or not answer.citations:
        return None
    passages = [c.quote for c in answer.citations]
    ok = sum(1 for s, _ in sentences if max(support(s, p) for p in passages) >= SUPPORT_THRESHOLD)
    return ok / len(sentences)


@dataclass(frozen=True)
class ConversationResult:
    case_id: str
    kind: str
    passed: bool
    expected_route: str
    route: str
    text: str
    citations: tuple[str, ...]
    failures: tuple[str, ...]
    citation_problems: tuple[str, ...]
    groundedness: float | None
    latency_ms: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    turns: tuple[str, ...] = ()
    #: the case has no expectations: `passed` is False and means nothing; a human grade judges it
    ungraded: bool = False
    #: the case's `max_latency_ms`: reported beside the verdict (latency.over_budget), never part of `passed`,
    #: because wall-clock time depends on the machine and on what else shares its cores
    latency_budget_ms: float | None = None

    @property
    def over_latency_budget(self) -> bool:
        return self.latency_budget_ms is not None and self.latency_ms > self.latency_budget_ms


def run_case(pipeline: "Pipeline", case: ConversationCase, known_docs: set[str]) -> ConversationResult:
    from guide.conversation import Conversation

    conversation = Conversation(audience=case.audience or "newcomer")
    for turn in case.turns:
        answer = conversation.ask(pipeline, turn)
    exp = case.expect
    failures = []
    cited = tuple(dict.fromkeys(c.doc_id for c in answer.citations))
    cproblems = citation_problems(answer, known_docs)
    if exp is None:
        return ConversationResult(
            case_id=case.id, kind=str(getattr(case, "kind", None) or "single"), passed=False, expected_route="",
            route=answer.route, text=answer.text, citations=cited, failures=(), citation_problems=tuple(cproblems),
            groundedness=groundedness(answer), latency_ms=answer.latency_ms, timings_ms=dict(answer.timings_ms),
            turns=tuple(case.turns), ungraded=True,
        )
    if answer.route != exp.route:
        failures.append(f"route {answer.route!r} != expected {exp.route!r}")
    for pattern in exp.must_include:
        if not re.search(pattern, answer.text):
            failures.append(f"missing /{pattern}/")
    for pattern in exp.must_not_include:
        if re.search(pattern, answer.text):
            failures.append(f"contains forbidden /{pattern}/")
    if exp.sources and not set(exp.sources) & set(cited):
        failures.append(f"cites {list(cited)} but none of expected {list(exp.sources)}")
    return ConversationResult(
        case_id=case.id, kind=str(getattr(case, "kind", None) or "single"), passed=not failures and not cproblems,
        expected_route=exp.route, route=answer.route, text=answer.text, citations=cited,
        failures=tuple(failures), citation_problems=tuple(cproblems), groundedness=groundedness(answer),
        latency_ms=answer.latency_ms, timings_ms=dict(answer.timings_ms), turns=tuple(case.turns),
        latency_budget_ms=exp.max_latency_ms,
    )


def run_cases(
    pipeline: "Pipeline", cases: Sequence[ConversationCase], known_docs: set[str],
    on_case: Callable[[ConversationResult], None] | None = None,
) -> list[ConversationResult]:
    results = []
    for case in cases:
        r = run_case(pipeline, case, known_docs)
        results.append(r)
        if on_case:
            on_case(r)
    return results
