"""One browser session's conversation, and the guarded call into the pipeline — no Streamlit here.

The app keeps a `Conversation` in st.session_state; everything it decides (what history the pipeline
sees, when crisis resources become pinned, what a failure looks like) lives here so it can be tested
and reused without a browser.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from guide.types import Answer, Resource, SafetyVerdict, Turn

log = logging.getLogger("guide.ui")


@dataclass
class Conversation:
    """History as the pipeline sees it, one Answer per assistant turn, and the pinned crisis resources."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    history: list[Turn] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)
    pinned: tuple[Resource, ...] = ()
    feedback_ids: dict[int, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.answers

    def add(self, question: str, answer: Answer) -> None:
        """Append one exchange; a crisis turn pins its resources for the rest of the conversation."""
        from guide.pipeline import history_after

        self.history = history_after(self.history, question, answer)
        self.questions.append(question)
        self.answers.append(answer)
        if answer.route == "crisis" and answer.resources:
            self.pinned = tuple(answer.resources)

    def exchanges(self) -> Iterator[tuple[int, str, Answer]]:
        for i, (q, a) in enumerate(zip(self.questions, self.answers, strict=True)):
            yield i, q, a


def error_answer(region: str, conversation: Conversation, audience: str = "newcomer") -> Answer:
    """What the user sees when the pipeline itself broke: a kind message and the help lines, no traceback."""
    from guide import safety
    from guide.ui.render import ERROR_TEXT

    try:
        visible = tuple(safety.always_visible(region))
    except Exception:  # noqa: BLE001 - the resources file itself failed; fall back to the US lines
        visible = ()
    return Answer(
        route="decline", decline_kind="error", text=ERROR_TEXT, audience=audience,
        safety=SafetyVerdict(route="caution", reasons=("the app could not run the pipeline",)),
        resources=tuple({r.id: r for r in (*visible, *conversation.pinned)}.values()),
        pinned_crisis=bool(conversation.pinned),
    )


def ask(pipeline: Any, conversation: Conversation, message: str, audience: str, region: str) -> tuple[list[str], Answer]:
    """Run one turn through the pipeline's stream: the text pieces to show, and the Answer.

    Any exception becomes `error_answer` (logged without the message text)."""
    try:
        pieces: list[str] = []
        answer: Answer | None = None
        for item in pipeline.stream(conversation.history, message, audience):
            if isinstance(item, Answer):
                answer = item
            else:
                pieces.append(str(item))
        if answer is None:
            raise RuntimeError("the pipeline stream ended without an Answer")
        return pieces, answer
    except Exception as exc:  # noqa: BLE001 - the page shows a kind error and the help lines instead
        log.error("Pipeline failed in the app (%s)", type(exc).__name__, exc_info=True)
        answer = error_answer(region, conversation, audience)
        return [answer.text], answer
