"""One browser session's conversation, the guarded call into the pipeline and the background build of
the pipeline itself — no Streamlit here.

The app keeps a `Conversation` in st.session_state; everything it decides (what history the pipeline
sees, when crisis resources become pinned, what a failure looks like) lives here so it can be tested
and reused without a browser.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
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

    Any exception becomes `error_answer`."""
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
        # the exception text may quote the message, and conversations are not logged: type only (traceback at DEBUG)
        log.error("Pipeline failed in the app (%s)", type(exc).__name__)
        log.debug("Pipeline failure details", exc_info=True)
        answer = error_answer(region, conversation, audience)
        return [answer.text], answer


class PipelineSlot:
    """The process's one pipeline, built in a background thread.

    Streamlit stops a script run when its user reruns or leaves; a build done inside the run would be cut
    short and start over. Here the build keeps going whatever happens to the run that started it, and any
    run can watch its progress (`state`) and wait for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self.pipeline: Any = None
        self.error: BaseException | None = None
        self.state: tuple[str, int, int] = ("loading", 0, 0)
        self.seconds: float = 0.0

    @property
    def ready(self) -> bool:
        return self.pipeline is not None

    def start(self, build: Callable[[Callable[[str, int, int], None]], Any]) -> None:
        """Start building unless a build is running or done; a failed build is retried."""
        with self._lock:
            if self.pipeline is not None or (self._thread is not None and self._thread.is_alive()):
                return
            self.error = None
            self._done.clear()
            self._thread = threading.Thread(target=self._run, args=(build,), name="guide-build", daemon=True)
            self._thread.start()

    def _run(self, build: Callable[[Callable[[str, int, int], None]], Any]) -> None:
        started = time.perf_counter()
        try:
            self.pipeline = build(self._progress)
        except BaseException as exc:  # noqa: BLE001 - reported to whichever run is waiting
            log.error("Building the pipeline failed (%s)", type(exc).__name__, exc_info=True)
            self.error = exc
        finally:
            self.seconds = time.perf_counter() - started
            self._done.set()

    def _progress(self, stage: str, done: int, total: int) -> None:
        self.state = (stage, done, total)

    def wait(self, timeout: float | None = None) -> bool:
        """True once the build has finished (successfully or not)."""
        return self._done.wait(timeout)
