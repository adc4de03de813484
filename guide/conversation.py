"""A conversation: the history the pipeline sees, one Answer per exchange, and the crisis resources a crisis turn
pinned. The CLI's ask, chat and batch, the evaluations, the bench and the app all play turns through this one type,
so "what the next turn sees" is decided in one place."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from guide.types import Answer, Resource, Turn

if TYPE_CHECKING:
    from guide.pipeline import Pipeline


@dataclass
class Conversation:
    """History as the pipeline sees it, one Answer per assistant turn (mutable: one per chat session or case)."""

    audience: str = "newcomer"
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    history: list[Turn] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.answers

    @property
    def last(self) -> Answer | None:
        return self.answers[-1] if self.answers else None

    @property
    def pinned(self) -> tuple[Resource, ...]:
        """Once a turn got the crisis reply, its resources stay attached to every later reply (the pipeline pins
        the same ones from the history: guide.safety.resources.pinned_resources)."""
        return next((a.resources for a in reversed(self.answers) if a.route == "crisis"), ())

    def ask(self, pipeline: "Pipeline", message: str, audience: str | None = None) -> Answer:
        """One turn through the pipeline, appended to the conversation."""
        answer = pipeline.answer(self.history, message, audience or self.audience)
        self.add(message, answer)
        return answer

    def add(self, question: str, answer: Answer) -> None:
        """Append one exchange (the user's message and the assistant turn the next one reads)."""
        self.history = [*self.history, Turn(role="user", text=question), answer.as_turn()]
        self.questions.append(question)
        self.answers.append(answer)

    def exchanges(self) -> Iterator[tuple[int, str, Answer]]:
        for i, (q, a) in enumerate(zip(self.questions, self.answers, strict=True)):
            yield i, q, a

