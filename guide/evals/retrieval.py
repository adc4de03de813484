"""Retrieval evaluation at document level: recall@k, MRR and nDCG@10 per mode.

Chunk hits are collapsed to documents in rank order (first chunk wins), so a document counts once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from guide.evals.cases import RetrievalCase
from guide.evals.stats import percentile

if TYPE_CHECKING:
    from guide.retrieval.index import Retriever


def doc_ranking(doc_ids: Sequence[str], depth: int) -> list[str]:
    seen: list[str] = []
    for d in doc_ids:
        if d not in seen:
            seen.append(d)
        if len(seen) == depth:
            break
    return seen


def recall_at(ranking: Sequence[str], relevant: Sequence[str], k: int) -> float:
    rel = set(relevant)
    return len(rel & set(ranking[:k])) / len(rel) if rel else 0.0


def hit_at(ranking: Sequence[str], relevant: Sequence[str], k: int) -> float:
    return 1.0 if set(relevant) & set(ranking[:k]) else 0.0


def reciprocal_rank(ranking: Sequence[str], relevant: Sequence[str]) -> float:
    rel = set(relevant)
    for i, d in enumerate(ranking, 1):
        if d in rel:
            return 1.0 / i
    return 0.0


def ndcg_at(ranking: Sequence[str], relevant: Sequence[str], k: int = 10) -> float:
    rel = set(relevant)
    dcg = sum(1.0 / math.log2(i + 1) for i, d in enumerate(ranking[:k], 1) if d in rel)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(rel), k) + 1))
    return dcg / ideal if ideal else 0.0


@dataclass(frozen=True)
class RetrievalCaseResult:
    case_id: str
    query: str
    language: str
    relevant: tuple[str, ...]
    ranking: tuple[str, ...]
    recall_at_k: float
    reciprocal_rank: float
    ndcg_at_10: float
    latency_ms: float


@dataclass(frozen=True)
class RetrievalModeReport:
    mode: str
    k: int
    results: tuple[RetrievalCaseResult, ...]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def _summary(results: Sequence[RetrievalCaseResult]) -> dict[str, float]:
    if not results:
        return {"n": 0, "recall_at_k": 0.0, "mrr": 0.0, "ndcg_at_10": 0.0, "p50_ms": 0.0, "p95_ms": 0.0}
    lat = sorted(r.latency_ms for r in results)
    return {
        "n": len(results),
        "recall_at_k": sum(r.recall_at_k for r in results) / len(results),
        "mrr": sum(r.reciprocal_rank for r in results) / len(results),
        "ndcg_at_10": sum(r.ndcg_at_10 for r in results) / len(results),
        "p50_ms": percentile(lat, 50),
        "p95_ms": percentile(lat, 95),
    }


def evaluate_retrieval(
    retriever: "Retriever", cases: Sequence[RetrievalCase], mode: str = "hybrid", k: int = 5, depth: int = 10,
    on_case=None,
) -> RetrievalModeReport:
    results = []
    for case in cases:
        t0 = time.perf_counter()
        hits = retriever.search(case.query, k=depth * 4, mode=mode)  # type: ignore[arg-type]
        ms = (time.perf_counter() - t0) * 1000
        ranking = doc_ranking([h.chunk.doc_id for h in hits], depth)
        results.append(RetrievalCaseResult(
            case_id=case.id, query=case.query, language=case.language or "en", relevant=tuple(case.relevant),
            ranking=tuple(ranking), recall_at_k=recall_at(ranking, case.relevant, k),
            reciprocal_rank=reciprocal_rank(ranking, case.relevant), ndcg_at_10=ndcg_at(ranking, case.relevant, 10),
            latency_ms=ms,
        ))
        if on_case:
            on_case()
    by_lang: dict[str, list[RetrievalCaseResult]] = {}
    for r in results:
        by_lang.setdefault(r.language, []).append(r)
    metrics = {"all": _summary(results), **{lang: _summary(rs) for lang, rs in sorted(by_lang.items())}}
    return RetrievalModeReport(mode=mode, k=k, results=tuple(results), metrics=metrics)
