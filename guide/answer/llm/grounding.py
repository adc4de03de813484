"""The grounding check on a model's answer: every sentence cites a passage ([n]) that supports it (embedding
similarity or token overlap, the numbers it states, the same negation). See docs/llm.md for the thresholds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guide.answer.composer import CITE
from guide.retrieval.keyword import tokenize
from guide.retrieval.sentences import split_sentences

if TYPE_CHECKING:
    import numpy as np

    from guide.retrieval.embedding import Embedder

#: A sentence is supported when its best cosine similarity to a sentence of a cited passage reaches this
#: (all-MiniLM-L6-v2; paraphrases score 0.64-0.95, invented same-topic claims 0.09-0.58: docs/llm.md) ...
SUPPORT_MIN_COSINE = 0.60
#: ... or when this share of its content tokens (stemmed, stopwords dropped) occurs in the cited passages.
SUPPORT_MIN_OVERLAP = 0.75
_CITES_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\d+\])+)")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“(]?[A-Z0-9])")
_NUMBER = re.compile(r"\d+(?:[.,:\-/]\d+)*")
#: Verb negation only: "no faith" or "without a sponsor" describe things, "is not" flips a claim.
_NEGATION = re.compile(r"\b(?:not|never|cannot)\b|n['’]t\b", re.I)
_MARKDOWN = re.compile(r"^\s*(?:[-*•]|\d+[.)]|#+)\s+")


@dataclass(frozen=True)
class SentenceCheck:
    """One sentence of a model answer: which passages it cites, how well they support it, and why not."""

    text: str
    cited: tuple[int, ...]
    cosine: float
    overlap: float
    supported: bool
    reason: str = ""


@dataclass(frozen=True)
class GroundingReport:
    """The grounding check's result; `ok` only when there is at least one sentence and all are supported."""

    sentences: tuple[SentenceCheck, ...]

    @property
    def ok(self) -> bool:
        return bool(self.sentences) and all(s.supported for s in self.sentences)

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(f"sentence {i}: {s.reason}" for i, s in enumerate(self.sentences, 1) if not s.supported)


def split_answer(text: str) -> list[str]:
    """Sentences of a model answer, each keeping its [n] tags ("Meetings are free. [2]" stays one sentence)."""
    out: list[str] = []
    for line in text.splitlines():
        line = _MARKDOWN.sub("", line).replace("**", "").strip()
        if not line:
            continue
        line = _CITES_AFTER_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", line)
        out.extend(s.strip() for s in _SENTENCE_END.split(line) if s.strip())
    return out


def strip_cites(sentence: str) -> str:
    """The sentence without its [n] tags."""
    text = " ".join(CITE.sub(" ", sentence).split())
    return re.sub(r"\s+([.!?,;:])", r"\1", text)


def _numbers(text: str) -> set[str]:
    return {n.rstrip(".,") for n in _NUMBER.findall(text)}


def check_grounding(
    answer: str,
    passages: Sequence[str],
    embedder: "Embedder | None" = None,
    *,
    min_cosine: float = SUPPORT_MIN_COSINE,
    min_overlap: float = SUPPORT_MIN_OVERLAP,
    cached: "Sequence[tuple[Sequence[str], np.ndarray] | None] | None" = None,
) -> GroundingReport:
    """Check every sentence of `answer` against the passages it cites (passage n is passages[n-1]).

    A sentence is supported when it cites at least one valid passage, every number it states appears in a
    cited passage, and either its best cosine similarity to a sentence of a cited passage is >= min_cosine
    or >= min_overlap of its content tokens occur in the cited passages; and it does not flip the negation
    of the passage sentence it matches best ("is religious" against "is not religious").

    `cached` may give each passage's (sentences, vectors) from the same embedder (the retriever's sentence
    index), so only the answer's sentences are embedded."""
    sentences = split_answer(answer)
    texts = [strip_cites(s) for s in sentences]
    known = list(cached) if cached is not None else [None] * len(passages)
    passage_sentences = [list(k[0]) if k else (split_sentences(p) or [p])
                         for p, k in zip(passages, known, strict=True)]
    sentence_vectors, passage_vectors = None, []
    if embedder is not None and sentences:
        missing = [s for ps, k in zip(passage_sentences, known, strict=True) if not k for s in ps]
        matrix = embedder.embed(texts + missing)
        sentence_vectors, start = matrix[: len(texts)], len(texts)
        for ps, k in zip(passage_sentences, known, strict=True):
            if k:
                passage_vectors.append(k[1])
                continue
            passage_vectors.append(matrix[start:start + len(ps)])
            start += len(ps)
    checks = []
    for i, (raw, text) in enumerate(zip(sentences, texts, strict=True)):
        cited = tuple(dict.fromkeys(int(n) for n in CITE.findall(raw)))
        bad = [n for n in cited if not 1 <= n <= len(passages)]
        if not cited or bad:
            reason = f"cites [{bad[0]}], but there are {len(passages)} passages" if bad else "no [n] citation"
            checks.append(SentenceCheck(text, cited, 0.0, 0.0, False, reason))
            continue
        candidates = [s for n in cited for s in passage_sentences[n - 1]]
        if sentence_vectors is not None:
            vectors = [v for n in cited for v in passage_vectors[n - 1]]
            similarities = [float(v @ sentence_vectors[i]) for v in vectors]
        else:
            similarities = None
        checks.append(_check_sentence(text, cited, " ".join(passages[n - 1] for n in cited), candidates,
                                      similarities, min_cosine, min_overlap))
    return GroundingReport(tuple(checks))


def _check_sentence(
    text: str, cited: tuple[int, ...], cited_text: str, candidates: Sequence[str],
    similarities: Sequence[float] | None, min_cosine: float, min_overlap: float,
) -> SentenceCheck:
    """One sentence against the passages it cites (their text, their sentences and its cosine to each)."""
    tokens = tokenize(text)
    passage_tokens = set(tokenize(cited_text))
    overlap = sum(t in passage_tokens for t in tokens) / len(tokens) if tokens else 0.0
    if similarities is not None:
        cosine = max(similarities)
        best = candidates[similarities.index(cosine)]
    else:  # no embedder: the passage sentence sharing most tokens is the best match
        cosine = 0.0
        best = max(candidates, key=lambda s: len(set(tokens) & set(tokenize(s))))
    reason = ""
    missing = sorted(_numbers(text) - _numbers(cited_text))
    if missing:
        reason = f"states {missing[0]}, which the cited passage does not"
    elif cosine < min_cosine and overlap < min_overlap:
        reason = f"not supported (cosine {cosine:.2f} < {min_cosine}, overlap {overlap:.2f} < {min_overlap})"
    elif bool(_NEGATION.search(text)) != bool(_NEGATION.search(best)):
        reason = "negation differs from the passage"
    return SentenceCheck(text, cited, round(cosine, 3), round(overlap, 3), not reason, reason)
