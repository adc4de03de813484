"""The default, offline composer: extractive and grounded.

It picks the most relevant sentences from the top passages (similarity to the question, with MMR
diversity), keeps them verbatim, tags each with [n] for its source, and adds a framing line for the
audience and a reviewed "next step" line. It never writes a factual sentence of its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guide.retrieval.keyword import tokenize
from guide.retrieval.sentences import split_sentences
from guide.types import Chunk, Citation, Hit

if TYPE_CHECKING:
    import numpy as np

    from guide.retrieval.index import Retriever

FRAMING = {
    "newcomer": "Here's what the vetted guides say:",
    "family": "Here's what the vetted guides say, for you and for your loved one:",
    "staff": "From the vetted corpus:",
}

#: Reviewed next-step lines; each is cited to the corpus document that supports it.
NEXT_STEPS = {
    "meetings": ("finding-meetings", "Next step: AA, NA, SMART Recovery and Al-Anon each have a free meeting finder on their own website, for in-person, online and phone meetings.",
                 ("meeting finder", "online")),
    "treatment": ("finding-treatment", "Next step: FindTreatment.gov lists treatment programs, and the SAMHSA National Helpline (1-800-662-4357) is free, confidential and open 24/7.",
                  ("findtreatment", "1-800-662-4357")),
    "helpline": ("samhsa-national-helpline", "If you'd like to talk it through, the SAMHSA National Helpline (1-800-662-4357) is free, confidential and open 24/7.",
                 ("1-800-662-4357", "free")),
}
_TOPIC_TO_STEP = {
    "mutual-help": "meetings", "twelve-steps": "meetings", "meetings": "meetings", "secular": "meetings",
    "treatment": "treatment", "medication": "treatment", "medications": "treatment", "moud": "treatment",
    "levels-of-care": "treatment", "detox": "treatment", "withdrawal": "treatment", "opioids": "treatment",
    "family-support": "helpline", "families": "helpline", "family": "helpline", "cost": "treatment",
    "insurance": "treatment",
}

MIN_WORDS, MAX_WORDS, MAX_SENTENCES = 40, 150, 5


@dataclass(frozen=True)
class Composition:
    text: str
    body: str
    citations: tuple[Citation, ...]
    confidence: float
    covered: bool
    sentences: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class _Candidate:
    text: str
    chunk: Chunk
    chunk_rank: int
    position: int
    vector: "np.ndarray | None"
    tokens: frozenset[str]


def confidence_of(hits: Sequence[Hit]) -> float:
    """Best dense cosine among the top hits (0 when none came from the dense side)."""
    scores = [h.dense_score for h in hits[:3] if h.dense_score is not None]
    return max(scores) if scores else 0.0


def _candidates(hits: Sequence[Hit], retriever: "Retriever | None", max_chunks: int) -> list[_Candidate]:
    out = []
    sidx = retriever.sentences if retriever is not None else None
    for rank, hit in enumerate(hits[:max_chunks], 1):
        chunk = hit.chunk
        if sidx is not None and chunk.id in sidx.sentences:
            sentences, vectors = sidx.sentences[chunk.id], sidx.vectors[chunk.id]
        else:
            sentences, vectors = split_sentences(chunk.text), None
        for pos, s in enumerate(sentences):
            out.append(_Candidate(s, chunk, rank, pos, None if vectors is None else vectors[pos], frozenset(tokenize(s))))
    return out


def _similarity(a: _Candidate, b: _Candidate) -> float:
    if a.vector is not None and b.vector is not None:
        return float(a.vector @ b.vector)
    if not a.tokens or not b.tokens:
        return 0.0
    return len(a.tokens & b.tokens) / len(a.tokens | b.tokens)


def select_sentences(
    query: str, query_vector: "np.ndarray | None", candidates: Sequence[_Candidate], audience: str,
    lambda_: float = 0.7,
) -> list[_Candidate]:
    """Score sentences (semantic + lexical + passage rank + section-lead prior) and pick with MMR."""
    q_tokens = set(tokenize(query))
    scored: list[tuple[float, _Candidate]] = []
    for c in candidates:
        semantic = float(query_vector @ c.vector) if (query_vector is not None and c.vector is not None) else 0.0
        lexical = len(q_tokens & c.tokens) / len(q_tokens) if q_tokens else 0.0
        prior = 1.0 / c.chunk_rank
        lead = 0.06 if c.position == 0 else (0.03 if c.position == 1 else 0.0)
        aud = 0.03 if audience in c.chunk.audience else 0.0
        weight_sem = 0.55 if c.vector is not None else 0.0
        score = weight_sem * semantic + (0.45 if weight_sem else 0.8) * lexical * 0.6 + 0.2 * prior + lead + aud
        scored.append((score, c))
    scored.sort(key=lambda sc: -sc[0])
    chosen: list[_Candidate] = []
    words = 0
    pool = scored[:40]
    while pool and len(chosen) < MAX_SENTENCES:
        best_i, best_val = 0, float("-inf")
        for i, (score, c) in enumerate(pool):
            redundancy = max((_similarity(c, s) for s in chosen), default=0.0)
            val = lambda_ * score - (1 - lambda_) * redundancy
            if redundancy > 0.85:
                val = float("-inf")
            if val > best_val:
                best_i, best_val = i, val
        score, pick = pool.pop(best_i)
        if best_val == float("-inf"):
            break
        n_words = len(pick.text.split())
        if chosen and words + n_words > MAX_WORDS:
            continue
        if chosen and score < 0.5 * scored[0][0]:
            break
        chosen.append(pick)
        words += n_words
        if words >= MIN_WORDS and len(chosen) >= 2 and words >= 70:
            break
        if words >= MIN_WORDS and len(chosen) >= 3:
            break
    return sorted(chosen, key=lambda c: (c.chunk_rank, c.position))


def _next_step(cited_chunks: Sequence[Chunk], retriever: "Retriever | None") -> tuple[str, Chunk] | None:
    if retriever is None:
        return None
    for chunk in cited_chunks:
        for topic in chunk.topics:
            key = _TOPIC_TO_STEP.get(topic)
            if key is None:
                continue
            doc_id, line, needles = NEXT_STEPS[key]
            if any(c.doc_id == doc_id for c in cited_chunks):
                return None
            support = [c for c in retriever.chunks.values() if c.doc_id == doc_id
                       and all(n.lower() in c.text.lower() for n in needles[:1])]
            if support:
                return line, support[0]
    return None


def compose_extractive(
    query: str, hits: Sequence[Hit], *, audience: str = "newcomer", retriever: "Retriever | None" = None,
    query_vector: "np.ndarray | None" = None, min_confidence: float = 0.0, max_chunks: int = 4,
) -> Composition:
    """A short grounded answer with [n] citations, or covered=False when retrieval is not confident."""
    confidence = confidence_of(hits)
    if not hits or confidence < min_confidence:
        return Composition(text="", body="", citations=(), confidence=confidence, covered=False)
    chosen = select_sentences(query, query_vector, _candidates(hits, retriever, max_chunks), audience)
    if not chosen:
        return Composition(text="", body="", citations=(), confidence=confidence, covered=False)
    numbers: dict[str, int] = {}
    citations: list[Citation] = []

    def cite(chunk: Chunk) -> int:
        if chunk.id not in numbers:
            numbers[chunk.id] = len(numbers) + 1
            citations.append(Citation(n=numbers[chunk.id], doc_id=chunk.doc_id, title=chunk.title,
                                      section=chunk.section, url=chunk.url, quote=chunk.text))
        return numbers[chunk.id]

    parts = [f"{c.text} [{cite(c.chunk)}]" for c in chosen]
    body = " ".join(parts)
    lines = [FRAMING.get(audience, FRAMING["newcomer"]), "", body]
    step = _next_step([c.chunk for c in chosen], retriever)
    if step is not None:
        line, chunk = step
        lines += ["", f"{line} [{cite(chunk)}]"]
    return Composition(
        text="\n".join(lines), body=body, citations=tuple(citations), confidence=confidence, covered=True,
        sentences=tuple((c.text, numbers[c.chunk.id]) for c in chosen),
    )


def not_covered_text(nearest_titles: Sequence[str]) -> str:
    """The honest reply when the vetted materials don't cover a question: nearest topics + helpline."""
    near = ", ".join(dict.fromkeys(nearest_titles))
    lines = ["I couldn't find this in the vetted materials I draw from, so I won't guess."]
    if near:
        lines.append(f"The closest topics I can help with are: {near}.")
    lines.append(
        "For help finding services near you, call the SAMHSA National Helpline at 1-800-662-4357 "
        "(free, confidential, 24/7) or search FindTreatment.gov."
    )
    return " ".join(lines)


_CITE = re.compile(r"\[(\d+)\]")


def cited_numbers(text: str) -> set[int]:
    return {int(n) for n in _CITE.findall(text)}
