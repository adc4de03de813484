"""History-aware queries without an LLM: decide whether a turn is a follow-up and, if so, carry the
conversation's subject into the retrieval query ("Is it religious?" after "What is SMART Recovery?")."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from guide.types import Turn

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


def is_followup(message: str, has_history: bool, known_subjects: Sequence[str] = ()) -> tuple[bool, str]:
    """Whether the message leans on earlier turns: anaphora, continuation cues, or too little content."""
    if not has_history:
        return False, "no history"
    words = _words(message)
    lowered = " " + " ".join(words) + " "
    mentions_subject = any(s and f" {s.lower()} " in lowered for s in known_subjects)
    if any(w in ANAPHORS for w in words):
        return True, "refers back (pronoun)" if not mentions_subject else "refers back, names a subject"
    if any(lowered.startswith(" " + cue) or f" {cue.strip()} " in lowered for cue in CONTINUATION_CUES) and len(words) <= 10:
        return True, "continuation cue"
    content = [w for w in words if w not in _FILLER]
    if len(content) <= 2 and not mentions_subject:
        return True, "too short to stand alone"
    return False, "self-contained"


def _last_user_topic(history: Sequence[Turn]) -> tuple[str | None, str | None]:
    """The most recent user question that stood on its own (already-resolved follow-ups are skipped),
    and the title of the document the guide cited for it."""
    subject_title = None
    users = [t for t in history if t.role == "user"]
    for turn in reversed(history):
        if turn.role == "assistant" and turn.citations and subject_title is None:
            subject_title = turn.citations[0].title
    for i in range(len(users) - 1, -1, -1):
        earlier = users[:i]
        follow, _ = is_followup(users[i].text, bool(earlier))
        if not follow:
            return users[i].text, subject_title
    return (users[-1].text if users else None), subject_title


def resolve_query(message: str, history: Sequence[Turn], known_subjects: Sequence[str] = ()) -> ResolvedQuery:
    """The text to retrieve with: the message itself, or the message plus the conversation's subject."""
    user_history = [t for t in history if t.role == "user"]
    follow, reason = is_followup(message, bool(user_history), known_subjects)
    if not follow:
        return ResolvedQuery(text=message, followup=False, reason=reason)
    topic, title = _last_user_topic(history)
    lowered = f" {' '.join(_words(message))} "
    names_subject = any(f" {s.lower()} " in lowered for s in known_subjects if s)
    parts = [message]
    if names_subject and topic:
        # "what about NA?" after "Can I go to AA if I take medication?": keep the question, swap the subject
        parts.append(topic)
    elif title:
        substituted = substitute_pronoun(message, title)
        if substituted is not None:  # "does it actually work?" -> "does CRAFT actually work?"
            return ResolvedQuery(text=substituted, followup=True, subject=title, reason=f"{reason}; pronoun replaced")
        # no pronoun to replace: the earlier question carries both the subject and the need ("what can I do for
        # myself?" after "My husband drinks too much." is about support for the person asking); the cross-encoder
        # reads the two together
        parts.append(topic or title)
    elif topic:
        parts.append(topic)
    return ResolvedQuery(text=" ".join(parts), followup=True, subject=title or topic, reason=reason)


#: Pronouns that can stand for the conversation's subject, replaced by its name (first one only). Not
#: "there" ("is there a group...") and not "he/she" (a person, not a program).
_SUBSTITUTABLE = re.compile(r"\b(it|that|this|they|them|those|these|ello|eso|esto)\b", re.IGNORECASE)


def substitute_pronoun(message: str, subject: str) -> str | None:
    """The message with its first subject pronoun replaced by the subject, or None when it has none.
    A sentence reads better to the embedder than the question with a title glued on."""
    match = _SUBSTITUTABLE.search(message)
    if match is None:
        return None
    return f"{message[:match.start()]}{subject}{message[match.end():]}"
