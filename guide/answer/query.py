"""The retrieval query for a turn, behind one QueryRewriter protocol: deterministically, decide whether a turn is a
follow-up and, if so, carry the conversation's subject into the query ("Is it religious?" after "What is SMART
Recovery?"); with an LLM configured, the model rewrites those follow-ups as standalone questions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from guide.types import Turn

if TYPE_CHECKING:
    from guide.answer.llm import LLMComposer

_WORD = re.compile(r"[a-z0-9'’-]+")
ANAPHORS = frozenset(
    "it its it's they them their theirs that this those these there one ones he she him her his hers "
    "ello ella ellos eso esto ahi allí ahí".split()
)
CONTINUATION_CUES = (
    "what about", "how about", "and ", "also", "too", "as well", "instead", "what else", "anything else",
    "tell me more", "more about", "why", "how so", "such as", "like what", "y ", "también", "tambien",
    "what if", "same", "either", "the other", "otherwise",
)
_FILLER = frozenset(
    "what is are do does can could should would will how where when who why which the a an of to for in on at "
    "i my me you your we our be go get about with and or if so too also more tell any there it is".split()
)


@dataclass(frozen=True)
class ResolvedQuery:
    """The retrieval query for a turn and how it was formed (shown in staff views and eval reports)."""

    text: str
    followup: bool
    subject: str | None = None
    reason: str = ""


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


#: A message this short that names no subject of the corpus leans on the conversation ("will I have to call myself
#: an addict?" after a question about SMART meetings). Chosen on the dev follow-ups (docs/evaluation.md).
SHORT_WORDS = 12
#: how many earlier user turns a follow-up carries, most recent first
CONTEXT_TURNS = 2


def _anaphors(words: Sequence[str]) -> bool:
    """A pronoun or demonstrative, contractions included ("she's" → "she")."""
    return any(re.split(r"['’]", w, maxsplit=1)[0] in ANAPHORS for w in words)


def is_followup(message: str, has_history: bool, known_subjects: Sequence[str] = ()) -> tuple[bool, str]:
    """Whether the message leans on earlier turns: anaphora, continuation cues, or a short message that names
    no subject of its own."""
    if not has_history:
        return False, "no history"
    words = _words(message)
    lowered = " " + " ".join(words) + " "
    mentions_subject = any(s and f" {s.lower()} " in lowered for s in known_subjects)
    if _anaphors(words):
        return True, "refers back (pronoun)" if not mentions_subject else "refers back, names a subject"
    if any(lowered.startswith(" " + cue) or f" {cue.strip()} " in lowered for cue in CONTINUATION_CUES) and len(words) <= 10:
        return True, "continuation cue"
    content = [w for w in words if w not in _FILLER]
    if len(content) <= 2 and not mentions_subject:
        return True, "too short to stand alone"
    if len(words) <= SHORT_WORDS and not mentions_subject:
        return True, "short, names no subject"
    return False, "self-contained"


def _last_cited_title(history: Sequence[Turn]) -> str | None:
    for turn in reversed(history):
        if turn.role == "assistant" and turn.citations:
            return turn.citations[0].title
    return None


def resolve_query(message: str, history: Sequence[Turn], known_subjects: Sequence[str] = ()) -> ResolvedQuery:
    """The text to retrieve with: the message itself, or, for a follow-up, the message followed by the user's
    last two turns, most recent first ("can i just do it at home by myself? i want to stop tomorrow ive been
    drinking a fifth of vodka a day"). The cross-encoder reads them together, so the earlier turns supply the
    subject and the need without guessing what a pronoun stands for: replacing "it" with the last cited title
    turned that question into "can i just do Standard Drinks and Alcohol Limits at home" (measured on the dev
    follow-ups, docs/evaluation.md)."""
    users = [t.text for t in history if t.role == "user" and t.text.strip()]  # an empty turn carries nothing
    follow, reason = is_followup(message, bool(users), known_subjects)
    if not follow:
        return ResolvedQuery(text=message, followup=False, reason=reason)
    context = list(reversed(users[-CONTEXT_TURNS:]))
    subject = _last_cited_title(history) or (context[0] if context else None)
    return ResolvedQuery(text=" ".join([message, *context]), followup=True, subject=subject,
                         reason=f"{reason}; earlier turns carried")


class QueryRewriter(Protocol):
    """The retrieval query for a message and the conversation before it."""

    def rewrite(self, message: str, history: Sequence[Turn]) -> ResolvedQuery: ...


@dataclass(frozen=True)
class FollowupResolver:
    """The deterministic QueryRewriter: `resolve_query` with the subjects the corpus names."""

    known_subjects: tuple[str, ...] = ()

    def rewrite(self, message: str, history: Sequence[Turn]) -> ResolvedQuery:
        return resolve_query(message, history, self.known_subjects)


@dataclass(frozen=True)
class LLMRewriter:
    """The resolver decides what is a follow-up; the LLM rewrites those as standalone questions (the resolver's
    text on any trouble)."""

    llm: "LLMComposer"
    resolver: FollowupResolver

    def rewrite(self, message: str, history: Sequence[Turn]) -> ResolvedQuery:
        resolved = self.resolver.rewrite(message, history)
        if not resolved.followup:
            return resolved
        return replace(resolved, text=self.llm.rewrite_query(history, message, resolved.text),
                       reason=f"{resolved.reason} (LLM rewrite)")
