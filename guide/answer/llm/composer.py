"""The optional LLM composer: a LangChain chat model writes the answer from the retrieved passages only.

Every sentence of the model's answer must cite a passage ([n]) and be supported by it (embedding
similarity or token overlap, see `check_grounding`); anything else (an unsupported sentence, a bad [n],
a timeout, a refused connection) raises, and the pipeline falls back to the extractive composer.
Each model call has a hard deadline, so a hung server costs at most `llm_timeout_s`. See docs/llm.md.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from guide.answer.composer import Composition
from guide.answer.extractive import confidence_of
from guide.answer.llm.client import COOLDOWN_S, ChatClient, make_chat_model, parse_llm_spec
from guide.answer.llm.grounding import (
    SUPPORT_MIN_COSINE,
    SUPPORT_MIN_OVERLAP,
    GroundingReport,
    check_grounding,
    strip_cites,
)
from guide.answer.llm.prompts import NOT_COVERED, build_messages, build_rewrite_messages
from guide.errors import LLMError
from guide.types import Chunk, Citation, Hit, Turn

if TYPE_CHECKING:
    import numpy as np

    from guide.config import Settings
    from guide.retrieval.embedding import Embedder
    from guide.retrieval.index import Retriever
    from guide.retrieval.sentences import SentenceIndex

log = logging.getLogger("guide.llm")
MAX_PASSAGES = 5
MAX_ANSWER_WORDS = 200  # the prompt asks for 40-150; longer replies are rejected, not cut


class LLMComposer:
    """Writes a grounded answer with a chat model; raises LLMError on anything it cannot vouch for."""

    def __init__(
        self,
        chat_model: Any,
        embedder: "Embedder | None",
        *,
        name: str = "llm",
        timeout_s: float = 20.0,
        min_confidence: float = 0.0,
        min_cosine: float = SUPPORT_MIN_COSINE,
        min_overlap: float = SUPPORT_MIN_OVERLAP,
        cooldown_s: float = COOLDOWN_S,
        sentence_index: "SentenceIndex | None" = None,
    ) -> None:
        self.client = ChatClient(chat_model, timeout_s=timeout_s, cooldown_s=cooldown_s)
        self.embedder = embedder
        self.sentence_index = sentence_index
        self.name = name
        self.min_confidence = min_confidence
        self.min_cosine = min_cosine
        self.min_overlap = min_overlap

    def compose(self, query: str, hits: Sequence[Hit], *, audience: str = "newcomer",
                history: Sequence[Turn] = ()) -> Composition:
        """A checked answer citing the passages it used, covered=False when retrieval or the model says the
        passages don't answer it, or LLMError (the pipeline then uses the extractive composer)."""
        confidence = confidence_of(hits)
        passages = list({h.chunk.id: h.chunk for h in hits}.values())[:MAX_PASSAGES]
        if not passages or confidence < self.min_confidence:
            return Composition.uncovered(confidence)
        raw = self.client.invoke(build_messages(query, passages, audience=audience, history=history))
        if NOT_COVERED in raw.upper().replace(" ", "_") and len(raw) < len(NOT_COVERED) + 40:
            return Composition.uncovered(confidence)
        words = len(strip_cites(raw).split())
        if words > MAX_ANSWER_WORDS:
            raise LLMError(f"The model's answer was too long ({words} words).")
        report = check_grounding(raw, [c.text for c in passages], self.embedder, min_cosine=self.min_cosine,
                                 min_overlap=self.min_overlap, cached=[self._cached(c) for c in passages])
        if not report.ok:
            log.info("LLM answer rejected by the grounding check: %s", "; ".join(report.problems) or "empty answer")
            raise LLMError("The model's answer was not fully supported by the cited passages.")
        return _render(report, passages, confidence)  # the pipeline runs the output and citation checks

    def _cached(self, chunk: Chunk) -> "tuple[Sequence[str], np.ndarray] | None":
        """A passage's sentences and vectors from the retriever's sentence index, when it has them."""
        index = self.sentence_index
        if index is None or chunk.id not in index.sentences or len(index.sentences[chunk.id]) == 0:
            return None
        return index.sentences[chunk.id], index.vectors[chunk.id]

    def rewrite_query(self, history: Sequence[Turn], message: str, fallback: str) -> str:
        """The last message as a standalone question; `fallback` (the deterministic resolver's query) on any trouble."""
        if not history:
            return fallback
        try:
            raw = self.client.invoke(build_rewrite_messages(history, message))
        except Exception as exc:  # noqa: BLE001 - any trouble: the deterministic rewrite
            log.info("LLM query rewrite failed (%s); using the deterministic follow-up resolver.", type(exc).__name__)
            return fallback
        lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
        question = re.sub(r"^(?:standalone question|question|rewritten)\s*:\s*", "", lines[0], flags=re.I) if lines else ""
        question = question.strip().strip("\"'“”`").strip()
        if not 3 <= len(question) <= 300 or NOT_COVERED in question or "<" in question:
            return fallback
        return question


def _render(report: GroundingReport, passages: Sequence[Chunk], confidence: float) -> Composition:
    """The checked sentences as one paragraph, with citations renumbered 1..m in order of first use."""
    numbers: dict[int, int] = {}
    citations: list[Citation] = []
    parts, pairs = [], []
    for s in report.sentences:
        tags = []
        for n in s.cited:
            if n not in numbers:
                numbers[n] = len(numbers) + 1
                c = passages[n - 1]
                citations.append(Citation(n=numbers[n], doc_id=c.doc_id, title=c.title, section=c.section,
                                          url=c.url, quote=c.text))
            tags.append(f"[{numbers[n]}]")
        parts.append(f"{s.text} {''.join(tags)}")
        pairs.append((s.text, numbers[s.cited[0]]))
    body = " ".join(parts)
    return Composition(text=body, body=body, citations=tuple(citations), confidence=confidence, covered=True,
                       sentences=tuple(pairs))


def make_llm_composer(settings: "Settings", retriever: "Retriever", *, chat_model: Any = None) -> LLMComposer:
    """The composer for GUIDE_LLM (a ConfigError if malformed); pass chat_model to inject a fake or another client."""
    if chat_model is None:
        spec = parse_llm_spec(settings)
        chat_model, name = make_chat_model(spec, settings.llm_timeout_s), spec.name
    else:
        name = f"llm:{getattr(chat_model, 'model_name', None) or type(chat_model).__name__}"
    return LLMComposer(chat_model, retriever.embedder, name=name, timeout_s=settings.llm_timeout_s,
                       min_confidence=settings.min_confidence, sentence_index=retriever.sentences)
