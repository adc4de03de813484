"""The default, offline composer: extractive and grounded.

It picks the most relevant sentences from the top passages (similarity to the question, with MMR
diversity), keeps them verbatim, tags each with [n] for its source, and adds a framing line for the
audience and a reviewed "next step" line. It never writes a factual sentence of its own.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from guide.retrieval.keyword import tokenize
from guide.retrieval.sentences import split_sentences
from guide.types import Chunk, Citation, Hit

if TYPE_CHECKING:
    import numpy as np

    from guide.retrieval.index import Retriever

T = TypeVar("T")

FRAMING = {
    "newcomer": "Here's what the vetted guides say:",
    "family": "Here's what the vetted guides say, for you and for your loved one:",
    "staff": "From the vetted corpus:",
}

#: Where to go next, by topic: a document and the words its pointer sentence must contain. The line shown
#: is that corpus sentence verbatim ("Next step: " + sentence [n]), so it is grounded and cited like the rest.
NEXT_STEPS = {
    "meetings": ("finding-meetings", ("meeting finder",)),
    "treatment": ("finding-treatment", ("findtreatment.gov", "help you find")),
    "helpline": ("samhsa-national-helpline", ("1-800-662-4357", "any time")),
}
_TOPIC_TO_STEP = {
    "mutual-help": "meetings", "twelve-steps": "meetings", "meetings": "meetings", "secular": "meetings",
    "treatment": "treatment", "medication": "treatment", "medications": "treatment", "moud": "treatment",
    "levels-of-care": "treatment", "detox": "treatment", "withdrawal": "treatment", "opioids": "treatment",
    "family-support": "helpline", "families": "helpline", "family": "helpline", "cost": "treatment",
    "insurance": "treatment",
}

MIN_WORDS, MAX_WORDS, MAX_SENTENCES = 40, 150, 5
W_SEMANTIC, W_PASSAGE, W_LEXICAL = 0.40, 0.35, 0.25  # sentence score weights (tuned on evals/conversations)
W_DENSE, W_HEADING, W_FUSED = 0.3, 0.5, 0.2  # passage fit: chunk cosine, heading-question cosine, fused rank
TARGET_WORDS = 90  # enough for the answer plus one supporting detail, well under MAX_WORDS
STOP_RATIO = 0.5  # stop adding sentences scoring below this share of the best one
#: Bonus for the answering passage per share of the read passages that come from its document: a passage whose
#: document most of retrieval agrees on is the safer answer (dev set: +2 cases, -1, stable from 0.08 to 0.12).
W_DOC = 0.10
FAQ_MIN, FAQ_MARGIN = 0.85, 0.08  # a heading this close to the question, this far ahead of the next, answers it
FAQ_DOCS = 2  # documents whose every section heading is compared with the question
FAQ_HIT_MIN, FAQ_HIT_MARGIN = 0.70, 0.15  # ... and a section found that way joins the passages read


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
    chunk_score: float
    position: int
    vector: "np.ndarray | None"
    tokens: frozenset[str]
    heading: float = 0.0  # cosine between the question and the passage's heading path


def confidence_of(hits: Sequence[Hit]) -> float:
    """Best dense cosine among the top hits (0 when none came from the dense side)."""
    scores = [h.dense_score for h in hits[:3] if h.dense_score is not None]
    return max(scores) if scores else 0.0


def chunk_scores(
    hits: Sequence[Hit], query_vector: "np.ndarray | None" = None, headings: "dict[str, np.ndarray] | None" = None,
) -> list[float]:
    """How well each passage fits the question: its dense cosine, how closely its question-shaped heading
    matches the question, and its fused rank. Keyword-only hits get the lowest dense score."""
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    floor = (min(dense) - 0.05) if dense else 0.0
    top = max((h.score for h in hits), default=1.0) or 1.0
    out = []
    for h in hits:
        d = h.dense_score if h.dense_score is not None else floor
        if query_vector is not None and headings and h.chunk.id in headings:
            heading = float(query_vector @ headings[h.chunk.id])
            out.append(W_DENSE * d + W_HEADING * heading + W_FUSED * (h.score / top))
        else:
            out.append(0.7 * d + 0.3 * (h.score / top))
    return out


def clear_winner(scored: Sequence[tuple[float, T]], minimum: float, margin: float) -> T | None:
    """The best-scored item when it reaches `minimum` and leads the runner-up by `margin`, else None."""
    ranked = sorted(scored, key=lambda pair: -pair[0])
    if not ranked or ranked[0][0] < minimum:
        return None
    if len(ranked) > 1 and ranked[0][0] - ranked[1][0] < margin:
        return None
    return ranked[0][1]


def faq_hit(hits: Sequence[Hit], retriever: "Retriever | None", query_vector: "np.ndarray | None",
            max_chunks: int) -> Hit | None:
    """A section of one of the top documents whose heading clearly is the question, when retrieval ranked it
    below the passages the composer reads ("What is LifeRing?" at rank 7 behind LifeRing's other sections)."""
    headings = getattr(getattr(retriever, "sentences", None), "headings", None)
    if not headings or query_vector is None or not hits:
        return None
    assert retriever is not None
    shown = {h.chunk.id for h in hits[:max_chunks]}
    doc_ids = list(dict.fromkeys(h.chunk.doc_id for h in hits[:max_chunks]))[:FAQ_DOCS]
    scored = [(float(query_vector @ headings[c.id]), c) for d in doc_ids for c in retriever.doc_chunks(d)
              if c.id in headings]
    found = clear_winner(scored, FAQ_HIT_MIN, FAQ_HIT_MARGIN)
    if found is None or found.id in shown:
        return None
    top = hits[0]  # it is read as if it fitted like the best hit; its heading then decides (faq_match, fit)
    return Hit(chunk=found, score=top.score, rank=min(len(hits), max_chunks) + 1, mode=top.mode,
               dense_score=top.dense_score)


def _candidates(
    hits: Sequence[Hit], retriever: "Retriever | None", max_chunks: int, query_vector: "np.ndarray | None" = None,
) -> list[_Candidate]:
    out = []
    sidx = retriever.sentences if retriever is not None else None
    extra = faq_hit(hits, retriever, query_vector, max_chunks)
    if extra is not None:
        hits, max_chunks = [*hits[:max_chunks], extra], max_chunks + 1
    scores = chunk_scores(hits[:max_chunks], query_vector, sidx.headings if sidx is not None else None)
    headings = sidx.headings if sidx is not None else {}
    for rank, (hit, cscore) in enumerate(zip(hits[:max_chunks], scores, strict=True), 1):
        chunk = hit.chunk
        heading = float(query_vector @ headings[chunk.id]) if query_vector is not None and chunk.id in headings else 0.0
        if sidx is not None and chunk.id in sidx.sentences:
            sentences, vectors = sidx.sentences[chunk.id], sidx.vectors[chunk.id]
        else:
            sentences, vectors = split_sentences(chunk.text), None
        for pos, s in enumerate(sentences):
            out.append(_Candidate(s, chunk, rank, cscore, pos, None if vectors is None else vectors[pos],
                                  frozenset(tokenize(s)), heading))
    return out


def _similarity(a: _Candidate, b: _Candidate) -> float:
    if a.vector is not None and b.vector is not None:
        return float(a.vector @ b.vector)
    if not a.tokens or not b.tokens:
        return 0.0
    return len(a.tokens & b.tokens) / len(a.tokens | b.tokens)


def local_weights(q_tokens: set[str], candidates: Sequence[_Candidate]) -> dict[str, float]:
    """Weights for the question's words by how rare they are among the candidate sentences: in a set of
    SMART Recovery passages, "smart" says little and "free" says which sentence answers "is it free?"."""
    n = max(len(candidates), 1)
    df = {t: sum(t in c.tokens for c in candidates) for t in q_tokens}
    # words found in no candidate cannot tell sentences apart, so they carry no weight
    return {t: math.log(1 + n / d) for t, d in df.items() if d}


def sentence_score(
    c: _Candidate, q_tokens: set[str], query_vector: "np.ndarray | None", audience: str,
    weights: dict[str, float] | None = None,
) -> float:
    """Relevance of one sentence: its own similarity to the question, its passage's fit, overlap with the
    question's distinctive words, a small prior for a section's first sentences (written to answer it)."""
    semantic = float(query_vector @ c.vector) if (query_vector is not None and c.vector is not None) else 0.0
    if weights:
        total = sum(weights.values()) or 1.0
        lexical = sum(w for t, w in weights.items() if t in c.tokens) / total
    else:
        lexical = len(q_tokens & c.tokens) / len(q_tokens) if q_tokens else 0.0
    lead = 0.05 if c.position == 0 else (0.025 if c.position == 1 else 0.0)
    aud = 0.02 if audience in c.chunk.audience else 0.0
    if c.vector is None:  # no sentence vectors (tests with the hash fake): passage fit and words only
        return 0.6 * c.chunk_score + 0.4 * lexical + lead + aud
    return W_SEMANTIC * semantic + W_PASSAGE * c.chunk_score + W_LEXICAL * lexical + lead + aud


def faq_match(by_chunk: dict[str, list[_Candidate]]) -> list[_Candidate] | None:
    """The passage whose question-shaped heading is clearly the question asked, if one is: sections are written
    to answer their heading, so "does CRAFT actually work?" is answered by "Does CRAFT actually work?" even
    when the introduction shares more words with the question."""
    return clear_winner([(cands[0].heading, cands) for cands in by_chunk.values()], FAQ_MIN, FAQ_MARGIN)


def select_sentences(
    query: str, query_vector: "np.ndarray | None", candidates: Sequence[_Candidate], audience: str,
    lambda_: float = 0.75,
) -> list[_Candidate]:
    """Answer from the best-fitting passage first: its lead sentence (sections are written so their first
    sentence answers the heading) and its most relevant sentences; other passages contribute only
    sentences nearly as relevant. MMR keeps near-duplicates out. 2–5 sentences, 40–150 words."""
    if not candidates:
        return []
    q_tokens = set(tokenize(query))
    weights = local_weights(q_tokens, candidates)
    scores = {id(c): sentence_score(c, q_tokens, query_vector, audience, weights) for c in candidates}
    by_chunk: dict[str, list[_Candidate]] = {}
    for c in candidates:
        by_chunk.setdefault(c.chunk.id, []).append(c)

    doc_share: dict[str, float] = {}
    for cands in by_chunk.values():
        doc_share[cands[0].chunk.doc_id] = doc_share.get(cands[0].chunk.doc_id, 0) + 1 / len(by_chunk)

    def fit(cands: list[_Candidate]) -> float:
        ranked = sorted((scores[id(c)] for c in cands), reverse=True)
        return (0.6 * cands[0].chunk_score + 0.4 * (sum(ranked[:2]) / min(len(ranked), 2))
                + W_DOC * doc_share[cands[0].chunk.doc_id])

    best_chunk = faq_match(by_chunk) or max(by_chunk.values(), key=fit)
    best = max(scores.values())
    chosen: list[_Candidate] = []
    words = 0

    def take(c: _Candidate) -> bool:
        nonlocal words
        n = len(c.text.split())
        if c in chosen or (chosen and words + n > MAX_WORDS):
            return False
        if any(_similarity(c, s) > 0.85 for s in chosen):
            return False
        chosen.append(c)
        words += n
        return True

    def enough() -> bool:
        return len(chosen) >= MAX_SENTENCES or (words >= TARGET_WORDS and len(chosen) >= 2) or len(chosen) >= 4

    lead = best_chunk[0]
    if lead.position == 0 and scores[id(lead)] >= STOP_RATIO * best:
        take(lead)
    for c in sorted(best_chunk, key=lambda c: -scores[id(c)]):
        if enough():
            break
        if scores[id(c)] >= STOP_RATIO * best:
            take(c)
    others = sorted((c for c in candidates if c.chunk.id != lead.chunk.id), key=lambda c: -scores[id(c)])
    for c in others:
        if enough() or (words >= MIN_WORDS and scores[id(c)] < 0.9 * best):
            break
        redundancy = max((_similarity(c, s) for s in chosen), default=0.0)
        if lambda_ * scores[id(c)] - (1 - lambda_) * redundancy >= lambda_ * STOP_RATIO * best:
            take(c)
    return sorted(chosen, key=lambda c: (c.chunk_rank != lead.chunk_rank, c.chunk_rank, c.position))


def _next_step(cited_chunks: Sequence[Chunk], retriever: "Retriever | None") -> tuple[str, Chunk] | None:
    """The pointer sentence for the first cited passage whose topics call for one (not when that document
    is already cited)."""
    if retriever is None:
        return None
    for chunk in cited_chunks:
        for topic in chunk.topics:
            key = _TOPIC_TO_STEP.get(topic)
            if key is None:
                continue
            doc_id, needles = NEXT_STEPS[key]
            if any(c.doc_id == doc_id for c in cited_chunks):
                return None
            for support in retriever.doc_chunks(doc_id):
                for sentence in split_sentences(support.text):
                    if all(n in sentence.lower() for n in needles):
                        return f"Next step: {sentence}", support
            return None
    return None


def compose_extractive(
    query: str, hits: Sequence[Hit], *, audience: str = "newcomer", retriever: "Retriever | None" = None,
    query_vector: "np.ndarray | None" = None, min_confidence: float = 0.0, max_chunks: int = 6,
) -> Composition:
    """A short grounded answer with [n] citations, or covered=False when retrieval is not confident."""
    confidence = confidence_of(hits)
    if not hits or confidence < min_confidence:
        return Composition(text="", body="", citations=(), confidence=confidence, covered=False)
    chosen = select_sentences(query, query_vector, _candidates(hits, retriever, max_chunks, query_vector), audience)
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
