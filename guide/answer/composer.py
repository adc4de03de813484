"""The Composer seam: what any composer returns (Composition), the Protocol, and FallbackComposer, which runs
the primary composer, then the fallback, with the output and citation checks once on every composition."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from guide.types import Citation, Hit, Turn

log = logging.getLogger("guide.answer")
#: The [n] tag a composed sentence ends with: passage or citation number n.
CITE = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Composition:
    text: str
    body: str
    citations: tuple[Citation, ...]
    confidence: float
    covered: bool
    sentences: tuple[tuple[str, int], ...] = ()
    composer: str = "extractive"  # who wrote it ("extractive", "llm:…", "extractive-fallback")

    @staticmethod
    def uncovered(confidence: float, composer: str = "extractive") -> "Composition":
        """Nothing the vetted passages can answer (the pipeline replies with the not-covered text)."""
        return Composition(text="", body="", citations=(), confidence=confidence, covered=False, composer=composer)


class Composer(Protocol):
    """Writes an answer from retrieved hits; the extractive composer is the default, an LLM is optional. May raise
    (a FallbackComposer then uses its fallback)."""

    name: str

    def compose(self, query: str, hits: Sequence[Hit], *, audience: str, history: Sequence[Turn]) -> Composition: ...


class RejectedAnswer(Exception):
    """The output or citation check rejected a composed answer."""


#: A composition that passed the output and citation checks, or None when they rejected it.
Check = Callable[[Composition], "Composition | None"]


@dataclass(frozen=True)
class FallbackComposer:
    """The primary composer, then the fallback when the primary raises or its answer fails `check` (the output
    and citation checks, run once on every composition made). Without a fallback, a rejected answer becomes
    "not covered" and the primary's exceptions reach the caller (the pipeline's error and self-healing paths)."""

    primary: Composer
    fallback: Composer | None
    check: Check

    @property
    def name(self) -> str:
        return self.primary.name

    def compose(self, query: str, hits: Sequence[Hit], *, audience: str = "newcomer",
                history: Sequence[Turn] = ()) -> Composition:
        if self.fallback is None:
            return self._checked(self.primary, query, hits, audience, history)
        try:
            return self._checked(self.primary, query, hits, audience, history, fallback_next=True)
        except Exception as exc:  # noqa: BLE001 - any trouble in the primary: the fallback answers
            log.warning("The %s composer failed (%s); using the %s composer.", self.primary.name,
                        type(exc).__name__, self.fallback.name)
        made = self._checked(self.fallback, query, hits, audience, history)
        return replace(made, composer=f"{self.fallback.name}-fallback")

    def _checked(self, composer: Composer, query: str, hits: Sequence[Hit], audience: str, history: Sequence[Turn],
                 *, fallback_next: bool = False) -> Composition:
        made = replace(composer.compose(query, hits, audience=audience, history=history), composer=composer.name)
        if not made.covered:
            return made
        accepted = self.check(made)
        if accepted is None:
            if fallback_next:
                raise RejectedAnswer(composer.name)
            return Composition.uncovered(made.confidence, composer.name)
        return accepted


def cited_numbers(text: str) -> set[int]:
    return {int(n) for n in CITE.findall(text)}


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
