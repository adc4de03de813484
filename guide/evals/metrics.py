"""Pure metric functions for `guide eval`: rates with Wilson intervals, confusion matrices, IR scores via
ir-measures and answer metrics (latency: guide.evals.stats). No I/O, no NaN: undefined values are None.

The safety-specific definitions (per-category recall, precision, false-alarm rate, the Wilson interval)
come from guide.safety.metrics so `guide safety --eval` and `guide eval` always agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from guide.evals.report import AnswerGroupMetrics, Confusion, Rate, RetrievalGroupMetrics

if TYPE_CHECKING:
    from guide.evals.report import ConversationCaseResult, RetrievalCaseResult

#: ir-measures names of the reported IR metrics; k is filled in by ir_scores.
IR_LIBRARY = "ir-measures"


def rate(k: int, n: int) -> Rate:
    """k of n with its 95% Wilson score interval (all None when n is 0)."""
    from guide.safety.metrics import wilson_interval

    if n == 0:
        return Rate(k=0, n=0, value=None, low=None, high=None)
    low, high = wilson_interval(k, n)
    return Rate(k=k, n=n, value=k / n, low=low, high=high)


def confusion(pairs: Iterable[tuple[str, str]], labels: Sequence[str]) -> Confusion:
    """Rows = expected, columns = predicted. Predicted labels outside `labels` get their own columns."""
    pairs = list(pairs)
    extra = sorted({p for _, p in pairs if p not in labels})
    columns = [*labels, *extra]
    matrix = [[0] * len(columns) for _ in labels]
    for expected, predicted in pairs:
        if expected in labels:
            matrix[labels.index(expected)][columns.index(predicted)] += 1
    return Confusion(labels=list(labels), predicted_labels=columns, matrix=matrix)


def accuracy(pairs: Sequence[tuple[str, str]]) -> Rate:
    return rate(sum(1 for e, p in pairs if e == p), len(pairs))


def per_label_recall(pairs: Sequence[tuple[str, str]], labels: Sequence[str]) -> dict[str, Rate]:
    return {lab: rate(sum(1 for e, p in pairs if e == lab and p == lab), sum(1 for e, _ in pairs if e == lab))
            for lab in labels}


# ---------------------------------------------------------------- retrieval
def ir_scores(relevant: Mapping[str, Sequence[str]], rankings: Mapping[str, Sequence[str]], k: int = 5
              ) -> dict[str, dict[str, float]]:
    """Per query: {"recall_at_k", "reciprocal_rank", "ndcg_at_10"} computed by ir-measures (pytrec_eval).

    Binary relevance; a ranking's scores are its reversed ranks so ties cannot reorder it. Every query in
    `relevant` gets a row, 0.0 everywhere when its ranking is empty or missing (pytrec_eval would drop it).
    """
    import ir_measures
    from ir_measures import RR, R, nDCG

    measures = {R @ k: "recall_at_k", RR: "reciprocal_rank", nDCG @ 10: "ndcg_at_10"}
    qrels = [ir_measures.Qrel(q, d, 1) for q, docs in relevant.items() for d in dict.fromkeys(docs)]
    run = [ir_measures.ScoredDoc(q, d, float(len(ranking) - i))
           for q, ranking in rankings.items() if q in relevant for i, d in enumerate(dict.fromkeys(ranking))]
    out = {q: dict.fromkeys(measures.values(), 0.0) for q in relevant}
    if run:
        for m in ir_measures.iter_calc(list(measures), qrels, run):
            out[m.query_id][measures[m.measure]] = float(m.value)
    return out


def ir_measure_names(k: int) -> list[str]:
    return [f"R@{k}", "RR", "nDCG@10"]


def retrieval_group(results: Sequence["RetrievalCaseResult"]) -> RetrievalGroupMetrics:
    n = len(results)
    if not n:
        return RetrievalGroupMetrics(n=0, recall_at_k=None, mrr=None, ndcg_at_10=None, hit_rate_at_k=rate(0, 0))
    return RetrievalGroupMetrics(
        n=n,
        recall_at_k=sum(r.recall_at_k for r in results) / n,
        mrr=sum(r.reciprocal_rank for r in results) / n,
        ndcg_at_10=sum(r.ndcg_at_10 for r in results) / n,
        hit_rate_at_k=rate(sum(1 for r in results if r.passed), n),
    )


# ---------------------------------------------------------------- answers
def citation_checks(text: str, n_citations: int) -> int:
    """How many citation checks an answer gets: one per citation entry, one per [n] mark on a sentence."""
    from guide.evals.answers import tagged_sentences

    return n_citations + sum(len(nums) for _, nums in tagged_sentences(text))


def answer_group(results: Sequence["ConversationCaseResult"]) -> AnswerGroupMetrics:
    """Pass rate (over the cases that have expectations), citation validity (valid checks / checks) and mean
    groundedness of answers that have any."""
    graded = [r for r in results if not r.ungraded]
    checks = sum(r.citation_checks for r in results)
    problems = sum(min(len(r.citation_problems), r.citation_checks) for r in results)
    grounded = [r.groundedness for r in results if r.groundedness is not None]
    return AnswerGroupMetrics(
        n=len(results),
        pass_rate=rate(sum(1 for r in graded if r.passed), len(graded)),
        citation_validity=rate(checks - problems, checks),
        groundedness=sum(grounded) / len(grounded) if grounded else None,
        grounded_answers=len(grounded),
    )


# ---------------------------------------------------------------- paired comparison
def mcnemar_exact(b: int, c: int) -> float | None:
    """Two-sided exact McNemar p-value for b and c discordant pairs (A-only passes, B-only passes): twice the
    binomial(b + c, 1/2) tail at min(b, c), capped at 1. None when there are no discordant pairs (nothing to test)."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts cannot be negative")
    n = b + c
    if n == 0:
        return None
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2 ** n
    return min(1.0, 2 * tail)
