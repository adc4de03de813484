"""Typed, frozen results passed between the guide's parts; nobody passes dicts of dicts around."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

#: What the user got: an answer, a decline, the crisis reply, or the check-in for distress (no passage).
Route = Literal["answer", "decline", "crisis", "checkin"]
#: What the crisis check decided; `checkin` is distress (hopelessness, passive wishes) without present danger.
SafetyRoute = Literal["crisis", "checkin", "caution", "ok"]
SafetyCategory = Literal["suicide", "self_harm", "overdose", "medical", "violence", "abuse"]
Mode = Literal["hybrid", "dense", "keyword"]
#: Who is asking: the audience picks which passages come first.
Audience = Literal["newcomer", "family", "staff"]
#: The languages the crisis templates and the language check know.
Language = Literal["en", "es", "fr"]
#: Why a turn was declined (the scope guard's kinds, plus a failed search).
DeclineKind = Literal["in_scope", "dosing", "illegal", "off_topic", "injection", "empty", "unavailable", "error"]

# The same vocabularies as tuples, for choices, loops and validation (defined once, from the Literals above).
ROUTES: tuple[Route, ...] = get_args(Route)
SAFETY_ROUTES: tuple[SafetyRoute, ...] = get_args(SafetyRoute)
CATEGORIES: tuple[SafetyCategory, ...] = get_args(SafetyCategory)
AUDIENCES: tuple[Audience, ...] = get_args(Audience)
LANGUAGES: tuple[Language, ...] = get_args(Language)
MODES: tuple[Mode, ...] = get_args(Mode)


def as_audience(value: object) -> Audience:
    """The audience named, or "newcomer" for anything unknown."""
    for audience in AUDIENCES:
        if value == audience:
            return audience
    return "newcomer"


class Timings(Mapping[str, float]):
    """Read-only milliseconds per stage (a frozen Answer must not hold a dict someone can change)."""

    def __init__(self, values: Mapping[str, float] | None = None) -> None:
        self._values = dict(values or {})

    def __getitem__(self, key: str) -> float:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Timings({self._values!r})"

    def __reduce__(self) -> tuple[type, tuple[dict[str, float]]]:
        return Timings, (dict(self._values),)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(Frozen):
    """A public, authoritative source a corpus document is based on."""

    title: str
    url: str


class Document(Frozen):
    """A vetted corpus document: front matter, body and the sha256 of the file."""

    id: str
    title: str
    summary: str
    audience: tuple[str, ...]
    topics: tuple[str, ...]
    sources: tuple[Source, ...]
    reviewed_by: str
    reviewed_on: date
    body: str
    path: str
    sha256: str

    @property
    def url(self) -> str:
        return self.sources[0].url


class Chunk(Frozen):
    """A piece of a document with its header path ("SMART Recovery › Is it religious?") and provenance."""

    id: str
    doc_id: str
    title: str
    section: str
    url: str
    text: str
    position: int
    audience: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    doc_sha: str = ""
    summary: str = ""

    @property
    def label(self) -> str:
        return self.section or self.title

    @property
    def search_text(self) -> str:
        """What gets embedded and keyword-indexed: the header path and the document's summary feed
        retrieval too (contextual chunk headers), so a section is found by what its document is about."""
        context = f"{self.section}\n{self.summary}" if self.summary else self.section
        return f"{context}\n{self.text}"


class Hit(Frozen):
    """A retrieved chunk with its fused score and where the score came from."""

    chunk: Chunk
    score: float
    rank: int
    mode: Mode
    dense_score: float | None = None
    dense_rank: int | None = None
    keyword_score: float | None = None
    keyword_rank: int | None = None
    #: the cross-encoder's logit for (question, this passage), when a reranker scored it
    rerank_score: float | None = None


class Citation(Frozen):
    """A numbered source under an answer: which vetted passage supports which sentences."""

    n: int
    doc_id: str
    title: str
    section: str
    url: str
    quote: str


class Resource(Frozen):
    """A help line or service shown beside crisis replies and low-confidence answers."""

    id: str
    name: str
    description: str = ""
    phone: str | None = None
    tel: str | None = None
    sms: str | None = None
    sms_body: str | None = None
    text_instructions: str | None = None
    url: str | None = None
    hours: str | None = None


class SafetyVerdict(Frozen):
    """The crisis check's result: route, category, score and human-readable reasons."""

    route: SafetyRoute
    category: SafetyCategory | None = None
    score: float = 0.0
    reasons: tuple[str, ...] = ()
    language: Language = "en"
    failed_closed: bool = False


class ScopeVerdict(Frozen):
    """The scope guard's result for a message that passed the crisis check."""

    allowed: bool
    kind: DeclineKind = "in_scope"
    reply: str | None = None
    reasons: tuple[str, ...] = ()
    #: what retrieval should search: the message, or what is left of it once prompt injection is removed
    query: str = ""
    injection: bool = False


class Turn(Frozen):
    """One message in a conversation; assistant turns keep their route and citations."""

    role: Literal["user", "assistant"]
    text: str
    route: Route | None = None
    citations: tuple[Citation, ...] = ()
    crisis: bool = False
    crisis_category: SafetyCategory | None = None
    checkin: bool = False  # this assistant turn asked whether the person is safe: the next reply is read in that light


class Answer(Frozen):
    """What the pipeline returns for one user turn; the CLI, the app and the evals all read this."""

    route: Route
    text: str
    citations: tuple[Citation, ...] = ()
    resources: tuple[Resource, ...] = ()
    safety: SafetyVerdict
    query: str = ""
    audience: Audience = "newcomer"
    confidence: float = 0.0
    composer: str = "extractive"
    notice: str | None = None
    decline_kind: DeclineKind | None = None
    pinned_crisis: bool = False
    #: milliseconds per pipeline stage, read-only like the rest of the answer
    timings_ms: Mapping[str, float] = Field(default_factory=dict)

    @field_validator("timings_ms", mode="after")
    @classmethod
    def _read_only(cls, value: Mapping[str, float]) -> Mapping[str, float]:
        return value if isinstance(value, Timings) else Timings(value)

    @field_serializer("timings_ms")
    def _as_dict(self, value: Mapping[str, float]) -> dict[str, float]:
        return dict(value)

    @property
    def latency_ms(self) -> float:
        return round(sum(self.timings_ms.values()), 2)

    def as_turn(self) -> Turn:
        return Turn(
            role="assistant",
            text=self.text,
            route=self.route,
            citations=self.citations,
            crisis=self.route == "crisis",
            crisis_category=self.safety.category if self.route == "crisis" else None,
            checkin=self.safety.route == "checkin" and self.route != "crisis",
        )
