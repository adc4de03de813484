"""The default, offline composer: extractive and grounded.

It answers only when the best passage clears the answerability threshold, picks the sentences a pair scorer
(the cross-encoder, or cosines for the baseline) rates most relevant to the question, keeps them verbatim,
tags each with [n] for its source, and adds a framing line for the audience and a reviewed "next step" line.
It never writes a factual sentence of its own (the one word it may add is "No, " before a sentence that says no
to a yes/no question).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from guide.answer.composer import Composition
from guide.retrieval.keyword import tokenize
from guide.retrieval.sentences import split_sentences
from guide.types import Chunk, Citation, Hit, Turn

if TYPE_CHECKING:
    from guide.config import Settings
    from guide.retrieval.index import Retriever
    from guide.retrieval.rerank import PairScorer

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

MIN_WORDS, MAX_WORDS, MAX_SENTENCES = 25, 150, 4
TARGET_WORDS = 90  # enough for the answer plus one supporting detail, well under MAX_WORDS


@dataclass(frozen=True)
class AnswerPolicy:
    """The few numbers that shape an extractive answer, on the scale of the pair scorer that produced the scores
    (cross-encoder logits, or cosines for the vector baseline). Calibrated in docs/evaluation.md."""

    #: answerability: when the best passage scores below this, the reply is "not covered"
    min_score: float
    #: passages scoring within this of the best one are read for sentences
    passage_margin: float
    #: sentences scoring within this of the best sentence may join it
    sentence_margin: float
    max_passages: int = 3
    #: at most this many sentences are scored per answer (the cross-encoder costs ~0.3 ms per token)
    max_sentences_scored: int = 14
    #: answer anyway when the best dense cosine reaches this: the cross-encoder underrates misspelled and indirect
    #: questions ("alanon for my husbnd"), which the bi-encoder still places (None: the score alone decides)
    dense_floor: float | None = None


#: (passage margin, sentence margin) on each scorer's scale, tuned on evals/conversations and evals/realwords/dev
PAIR_MARGINS = (3.0, 2.5)  # cross-encoder logits (and the fake's logit-like scale)
COSINE_MARGINS = (0.08, 0.10)  # cosines, the reranker=none baseline
DENSE_RESCUE = 0.45  # see AnswerPolicy.dense_floor; calibrated with min_answer_score on the answerability dev split


def answer_setup(settings: "Settings", retriever: "Retriever") -> "tuple[PairScorer, AnswerPolicy]":
    """The sentence scorer and policy that go with the retriever's reranker: the reranker's own pair scorer
    and its calibrated logit threshold (with the dense rescue), or the cosine baseline."""
    from guide.retrieval.rerank import CrossEncoderReranker

    reranker = retriever.reranker
    if isinstance(reranker, CrossEncoderReranker):
        passage, sentence = PAIR_MARGINS
        return reranker.scorer, AnswerPolicy(settings.min_answer_score, passage, sentence, dense_floor=DENSE_RESCUE)
    return vector_setup(settings, retriever)


def vector_setup(settings: "Settings", retriever: "Retriever") -> "tuple[PairScorer, AnswerPolicy]":
    """Cosines over the sentence index and `min_confidence`: reranker=none, and questions not in English."""
    from guide.retrieval.rerank import VectorPairScorer

    known: dict = {}
    sidx = retriever.sentences
    if sidx is not None:
        for cid, sentences in sidx.sentences.items():
            chunk = retriever.chunks.get(cid)
            if chunk is not None:
                known.update({f"{chunk.title}. {t}": v for t, v in zip(sentences, sidx.vectors[cid], strict=True)})
    passage, sentence = COSINE_MARGINS
    return VectorPairScorer(retriever.embedder, known), AnswerPolicy(settings.min_confidence, passage, sentence)


def crosslingual_setup(settings: "Settings", retriever: "Retriever") -> "tuple[PairScorer, AnswerPolicy]":
    """Questions not in English: cosines under the multilingual encoder, against the sentence vectors the
    cross-lingual index holds, with its own answerability threshold; without that index, the English cosines."""
    from guide.retrieval.rerank import VectorPairScorer

    index = retriever.crosslingual
    if index is None or retriever.sentences is None:
        return vector_setup(settings, retriever)
    passage, sentence = COSINE_MARGINS
    scorer = VectorPairScorer(index.embedder, index.known_sentences(retriever.chunks, retriever.sentences))
    return scorer, AnswerPolicy(settings.min_crosslingual_score, passage, sentence)


@dataclass(frozen=True)
class ExtractiveComposer:
    """The default Composer: verbatim sentences from the passages (compose_extractive), scored with one setup."""

    retriever: "Retriever"
    scorer: "PairScorer"
    policy: AnswerPolicy
    name: str = "extractive"

    def compose(self, query: str, hits: Sequence[Hit], *, audience: str = "newcomer",
                history: Sequence[Turn] = ()) -> Composition:
        return compose_extractive(query, hits, scorer=self.scorer, policy=self.policy, audience=audience,
                                  retriever=self.retriever)


@dataclass(frozen=True)
class ExtractiveComposers:
    """The extractive composer for each kind of question, built for one retriever: English questions score with
    the reranker and its threshold, other languages with the multilingual encoder and its own."""

    retriever: "Retriever"
    english: ExtractiveComposer
    other: ExtractiveComposer

    @classmethod
    def build(cls, settings: "Settings", retriever: "Retriever") -> "ExtractiveComposers":
        return cls(retriever, ExtractiveComposer(retriever, *answer_setup(settings, retriever)),
                   ExtractiveComposer(retriever, *crosslingual_setup(settings, retriever)))

    def for_language(self, language: str) -> ExtractiveComposer:
        return self.english if language == "en" else self.other


@dataclass(frozen=True)
class _Candidate:
    text: str
    chunk: Chunk
    chunk_rank: int
    position: int
    score: float = 0.0


def confidence_of(hits: Sequence[Hit]) -> float:
    """Best dense cosine among the top hits (0 when none came from the dense side)."""
    scores = [h.dense_score for h in hits[:3] if h.dense_score is not None]
    return max(scores) if scores else 0.0


def passage_score(hit: Hit, floor: float) -> float:
    """The pair scorer's score for a passage when the reranker set one, else its dense cosine (`floor` for a
    keyword-only hit)."""
    if hit.rerank_score is not None:
        return hit.rerank_score
    return hit.dense_score if hit.dense_score is not None else floor


def answerability(hits: Sequence[Hit]) -> float:
    """The best passage score among the hits: what the answerability threshold is compared with."""
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    floor = (min(dense) - 0.05) if dense else 0.0
    return max((passage_score(h, floor) for h in hits), default=float("-inf"))


def read_passages(hits: Sequence[Hit], policy: AnswerPolicy, max_chunks: int) -> list[tuple[int, Hit]]:
    """(rank, hit) of the passages an answer is drawn from: the best one and those within the margin of it."""
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    floor = (min(dense) - 0.05) if dense else 0.0
    scored = [(passage_score(h, floor), rank, h) for rank, h in enumerate(hits[:max_chunks], 1)]
    if not scored:
        return []
    best = max(s for s, _, _ in scored)
    kept = sorted((p for p in scored if p[0] >= best - policy.passage_margin), key=lambda p: (-p[0], p[1]))
    return [(rank, h) for _, rank, h in kept[: policy.max_passages]]


def candidates(read: Sequence[tuple[int, Hit]], retriever: "Retriever", limit: int) -> list[_Candidate]:
    """The sentences of the passages read, best passage first, at most `limit` of them."""
    sidx = retriever.sentences
    out: list[_Candidate] = []
    for rank, hit in read:
        chunk = hit.chunk
        sentences = sidx.sentences[chunk.id] if sidx is not None and chunk.id in sidx.sentences else split_sentences(chunk.text)
        out += [_Candidate(s, chunk, rank, pos) for pos, s in enumerate(sentences)]
    return out[:limit]


def scored_text(c: _Candidate) -> str:
    """What the pair scorer reads for a sentence: its document's title, so "It is free." keeps its subject."""
    return f"{c.chunk.title}. {c.text}"


def _tokens(text: str) -> set[str]:
    return set(tokenize(text))


def _near_duplicate(a: _Candidate, b: _Candidate) -> bool:
    ta, tb = _tokens(a.text), _tokens(b.text)
    return bool(ta and tb) and len(ta & tb) / len(ta | tb) > 0.7


def select_sentences(scored: Sequence[_Candidate], policy: AnswerPolicy) -> list[_Candidate]:
    """The best-scoring sentence first (it answers the question), then sentences nearly as relevant, then the
    sentence after the first one when the answer is still short. 1–4 sentences, at most 150 words."""
    if not scored:
        return []
    ranked = sorted(scored, key=lambda c: (-c.score, c.chunk_rank, c.position))
    first = ranked[0]
    chosen = [first]
    words = len(first.text.split())

    def take(c: _Candidate) -> None:
        nonlocal words
        n = len(c.text.split())
        if c in chosen or words + n > MAX_WORDS or len(chosen) >= MAX_SENTENCES:
            return
        if any(_near_duplicate(c, s) for s in chosen):
            return
        chosen.append(c)
        words += n

    for c in ranked[1:]:
        if words >= TARGET_WORDS or c.score < first.score - policy.sentence_margin:
            break
        take(c)
    if words < MIN_WORDS:  # context: the sentence that follows the answer in its passage
        following = [c for c in scored if c.chunk.id == first.chunk.id and c.position == first.position + 1]
        for c in following:
            take(c)
    rest = sorted(chosen[1:], key=lambda c: (c.chunk_rank, c.position))
    return [first, *rest]


def opens_section(chunk: Chunk, retriever: "Retriever | None") -> bool:
    """Whether the passage starts its section (a long section is split into several passages)."""
    if retriever is None:
        return True
    before = [c for c in retriever.doc_chunks(chunk.doc_id) if c.position == chunk.position - 1]
    return not before or before[0].section != chunk.section


def with_section_lead(chosen: Sequence[_Candidate], scored: Sequence[_Candidate],
                      retriever: "Retriever | None") -> list[_Candidate]:
    """The answer with its passage's opening sentence first, when the best sentence comes from the best passage,
    that passage is headed by a question and opens its section, and the opening sentence was not chosen. The corpus
    is written answer-first under question headings ("## Does naloxone work on xylazine?" opens with the answer), and
    a sentence scored out of its paragraph often loses to a neighbour that shares more words with the question
    ("AA is not the only path that works" for "does AA actually work?"). Measured on the dev sets
    (docs/evaluation.md). The word and sentence limits still hold: later sentences give way."""
    out = list(chosen)
    if not out or not scored:
        return out
    lead = scored[0]  # candidates come best passage first, in reading order
    if (lead.position != 0 or lead in out or lead.chunk.id != out[0].chunk.id
            or not (lead.chunk.section or "").rstrip().endswith("?") or not opens_section(lead.chunk, retriever)):
        return out
    out.insert(0, lead)
    while len(out) > 2 and (len(out) > MAX_SENTENCES or sum(len(c.text.split()) for c in out) > MAX_WORDS):
        out.pop()
    return out


_YES_NO = re.compile(r"^\s*(?:so |and |but |also |ok(?:ay)?,? )?(?:is|are|am|was|were|do|does|did|can|could|will|would|"
                     r"should|shall|has|have|had|must|may|might)\b", re.I)
_NEGATION = re.compile(r"\b(?:not|no|never|isn't|aren't|doesn't|don't|didn't|can't|cannot|won't|wouldn't|shouldn't|"
                       r"nobody|no one|none|nothing|neither|without)\b|n't\b", re.I)


#: "No, " is written only when the answering sentence scores this far above the answerability threshold: a "no" in front
#: of a sentence that does not answer the question would be an invented answer
YES_NO_MARGIN = 4.0


def yes_no_lead(question: str, sentence: str) -> str | None:
    """ "No, " for a yes/no question whose answering sentence says no in its first clause ("Is naltrexone an
    opioid?" → "Naltrexone is not an opioid…"). Only the negative is read off the text: a "yes" is left to the
    sentence itself, because a sentence that does not negate may still not affirm what was asked."""
    last = re.split(r"(?<=[.!?])\s+", question.strip())[-1] if question.strip() else ""
    if not _YES_NO.match(last) or _NEGATION.search(last):
        return None
    clause = re.split(r"[,;:]| but | although | while ", sentence, maxsplit=1)[0]
    shared = _tokens(last) & _tokens(clause)  # the clause must be about what was asked
    return "No, " if shared and _NEGATION.search(clause) else None


def _next_step(cited_chunks: Sequence[Chunk], retriever: "Retriever") -> tuple[str, Chunk] | None:
    """The pointer sentence for the first cited passage whose topics call for one (not when that document
    is already cited)."""
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
    query: str, hits: Sequence[Hit], *, scorer: "PairScorer", policy: AnswerPolicy, retriever: "Retriever",
    audience: str = "newcomer", max_chunks: int = 6,
) -> Composition:
    """A short grounded answer with [n] citations, or covered=False when the best passage scores below the
    policy's answerability threshold. Sentences are chosen by the pair scorer's relevance to the question."""
    confidence = answerability(hits)
    rescued = policy.dense_floor is not None and confidence_of(hits) >= policy.dense_floor
    if not hits or (confidence < policy.min_score and not rescued):
        return Composition.uncovered(confidence)
    cands = candidates(read_passages(hits, policy, max_chunks), retriever, policy.max_sentences_scored)
    scores = scorer.score(query, [scored_text(c) for c in cands]) if cands else []
    scored = [replace(c, score=s) for c, s in zip(cands, scores, strict=True)]
    chosen = with_section_lead(select_sentences(scored, policy), scored, retriever)
    if not chosen:
        return Composition.uncovered(confidence)
    numbers: dict[str, int] = {}
    citations: list[Citation] = []

    def cite(chunk: Chunk) -> int:
        if chunk.id not in numbers:
            numbers[chunk.id] = len(numbers) + 1
            citations.append(Citation(n=numbers[chunk.id], doc_id=chunk.doc_id, title=chunk.title,
                                      section=chunk.section, url=chunk.url, quote=chunk.text))
        return numbers[chunk.id]

    parts = [f"{c.text} [{cite(c.chunk)}]" for c in chosen]
    lead = yes_no_lead(query, chosen[0].text) if chosen[0].score >= policy.min_score + YES_NO_MARGIN else None
    if lead:
        parts[0] = lead + parts[0][0].lower() + parts[0][1:] if _lower_ok(parts[0]) else lead + parts[0]
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


def _lower_ok(sentence: str) -> bool:
    """Lower-case the first letter after "No, " only for an ordinary word ("It", "You"), never a name or acronym."""
    first = sentence.split(" ", 1)[0]
    return first in {"It", "You", "There", "They", "This", "That", "Most", "Many", "People", "Nobody", "No", "Not",
                     "Using", "Going", "Taking", "Being", "Having", "Meetings", "Members", "The", "A", "An"}
