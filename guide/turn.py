"""One user turn as every pipeline stage sees it, read once: the cleaned text, the window the crisis check reads,
the language, the history, the audience, the crisis resources an earlier turn pinned, and (after the scope guard)
the text retrieval searches. Stages take a `TurnContext` and nobody cleans, detects or scans the message again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from guide.safety.language import detect_language
from guide.safety.resources import pinned_resources
from guide.types import Audience, Language, Resource, Turn, as_audience

#: The crisis check sees at most this much of a message (head and tail), so a 1 MB paste stays fast.
SAFETY_WINDOW_CHARS = 20_000


@dataclass(frozen=True)
class CleanInput:
    text: str
    safety_text: str
    truncated: bool
    removed_control: bool


def clean_input(message: object, max_chars: int) -> CleanInput:
    """Drop NUL/control characters (keeping newlines), collapse whitespace, and cut to max_chars. The crisis check
    reads the head and tail of what was cut, so a crisis at the end of a long paste still counts."""
    raw = "" if message is None else message if isinstance(message, str) else str(message)  # None: nothing typed
    chars = [ch if ch in "\n\t" or ch.isprintable() else " " for ch in raw]
    removed = any(ch not in "\n\t" and not ch.isprintable() for ch in raw)
    text = " ".join("".join(chars).split())
    half = SAFETY_WINDOW_CHARS // 2
    safety_text = text if len(text) <= SAFETY_WINDOW_CHARS else text[:half] + " " + text[-half:]
    return CleanInput(text=text[:max_chars], safety_text=safety_text, truncated=len(text) > max_chars,
                      removed_control=removed)


@dataclass(frozen=True)
class TurnContext:
    """Everything about one user turn that more than one stage needs, computed once."""

    text: str  # the cleaned message (what the user sees quoted back, what the scope guard reads)
    safety_text: str  # what the crisis check reads
    truncated: bool
    removed_control: bool
    language: Language
    history: tuple[Turn, ...]
    audience: Audience
    region: str
    pinned: tuple[Resource, ...]  # crisis resources an earlier crisis turn attached to the rest of the conversation
    query: str = ""  # what retrieval searches: set from the scope verdict (prompt injection removed)

    @property
    def has_pinned(self) -> bool:
        return bool(self.pinned)

    def with_query(self, query: str) -> "TurnContext":
        return replace(self, query=query or self.text)


def read_turn(history: Sequence[Turn], message: object, *, audience: str = "newcomer", max_chars: int,
              region: str) -> TurnContext:
    """Clean the message and read what the stages share; an unknown audience reads as a newcomer."""
    cleaned = clean_input(message, max_chars)
    turns = tuple(history)
    return TurnContext(
        text=cleaned.text,
        safety_text=cleaned.safety_text,
        truncated=cleaned.truncated,
        removed_control=cleaned.removed_control,
        language=detect_language(cleaned.safety_text),
        history=turns,
        audience=as_audience(audience),
        region=region,
        pinned=pinned_resources(turns, region),
        query=cleaned.text,
    )
