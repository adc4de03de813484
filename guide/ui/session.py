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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from guide.conversation import Conversation
from guide.types import Answer, SafetyVerdict, as_audience

if TYPE_CHECKING:
    from guide.pipeline import Pipeline

log = logging.getLogger("guide.ui")


@dataclass
class ChatConversation(Conversation):
    """The domain conversation plus what the chat page remembers about it: which answers were rated."""

    feedback_ids: dict[int, int] = field(default_factory=dict)


def error_answer(region: str, conversation: Conversation, audience: str = "newcomer") -> Answer:
    """What the user sees when the pipeline itself broke: a kind message and the help lines, no traceback."""
    from guide import safety
    from guide.ui.render import ERROR_TEXT

    try:
        visible = tuple(safety.always_visible(region))
    except Exception:  # noqa: BLE001 - the resources file itself failed; fall back to the US lines
        visible = ()
    return Answer(
        route="decline", decline_kind="error", text=ERROR_TEXT, audience=as_audience(audience),
        safety=SafetyVerdict(route="caution", reasons=("the app could not run the pipeline",)),
        resources=tuple({r.id: r for r in (*visible, *conversation.pinned)}.values()),
        pinned_crisis=bool(conversation.pinned),
    )


def ask(pipeline: "Pipeline", conversation: Conversation, message: str, audience: str, region: str) -> Answer:
    """One turn through the pipeline, appended to the conversation; any exception becomes `error_answer`."""
    try:
        return conversation.ask(pipeline, message, audience)
    except Exception as exc:  # noqa: BLE001 - the page shows a kind error and the help lines instead
        # the exception text may quote the message, and conversations are not logged: type only (traceback at DEBUG)
        log.error("Pipeline failed in the app (%s)", type(exc).__name__)
        log.debug("Pipeline failure details", exc_info=True)
        answer = error_answer(region, conversation, audience)
        conversation.add(message, answer)
        return answer


_SLOTS: dict[str, "PipelineSlot"] = {}
_SLOTS_LOCK = threading.Lock()


def pipeline_slot(settings_key: str) -> "PipelineSlot":
    """The process's slot for one configuration (its settings as JSON). `guide app` fills it before the server
    starts; the pages of every session read it, so the pipeline is built once per process."""
    with _SLOTS_LOCK:
        return _SLOTS.setdefault(settings_key, PipelineSlot())


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

    def put(self, pipeline: "Pipeline") -> None:
        """A pipeline built elsewhere (by `guide app`, before the server started)."""
        with self._lock:
            self.pipeline, self.error = pipeline, None
            self.state = ("ready", 1, 1)
            self._done.set()

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
