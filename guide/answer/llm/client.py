"""The chat model behind the LLM composer: GUIDE_LLM parsed into an endpoint, a LangChain client for it, and
bounded calls (a hard deadline each, then a rest after a failure: a hung server costs at most `llm_timeout_s`)."""

from __future__ import annotations

import contextvars
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from guide.errors import ConfigError, LLMError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from guide.config import Settings

#: Ollama serves an OpenAI-compatible API here, so no extra LangChain package is needed for it.
OLLAMA_BASE_URL = "http://127.0.0.1:11434/v1"
#: After a failed or timed-out call the model is skipped for this long (turns go straight to extractive).
COOLDOWN_S = 30.0
SPEC_FORMS = "'ollama:MODEL' (e.g. ollama:llama3.2) or 'openai:MODEL' with GUIDE_LLM_BASE_URL for an OpenAI-compatible server"
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
T = TypeVar("T")


@dataclass(frozen=True)
class LLMSpec:
    """A parsed GUIDE_LLM value with the endpoint it talks to."""

    provider: str
    model: str
    base_url: str | None
    api_key: str

    @property
    def name(self) -> str:
        return f"llm:{self.provider}:{self.model}"


def parse_llm_spec(settings: "Settings") -> LLMSpec:
    """GUIDE_LLM (+ base URL and key) → LLMSpec, or a ConfigError naming the accepted forms."""
    raw = (settings.llm or "").strip()
    provider, _, model = raw.partition(":")
    provider, model = provider.strip().lower(), model.strip()
    if provider not in ("ollama", "openai") or not model:
        raise ConfigError(f"Bad GUIDE_LLM value {raw!r}: use {SPEC_FORMS}, or leave it unset for the extractive composer.")
    base_url = (settings.llm_base_url or "").strip().rstrip("/") or None
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise ConfigError(f"Bad GUIDE_LLM_BASE_URL {base_url!r}: it must look like http://host:port/v1.")
    if provider == "ollama":
        return LLMSpec("ollama", model, base_url or OLLAMA_BASE_URL, settings.llm_api_key or "ollama")
    if base_url is None and not settings.llm_api_key:
        raise ConfigError(
            f"GUIDE_LLM={raw!r} needs GUIDE_LLM_BASE_URL (an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1) "
            "or GUIDE_LLM_API_KEY (for the OpenAI API)."
        )
    return LLMSpec("openai", model, base_url, settings.llm_api_key or "not-needed")


def make_chat_model(spec: LLMSpec, timeout_s: float) -> "BaseChatModel":
    """A ChatOpenAI client for the spec; building it does not contact the server."""
    try:
        from langchain_openai import ChatOpenAI
    except ImportError:  # pragma: no cover - install problem
        raise ConfigError("GUIDE_LLM needs langchain-openai: run `.venv/bin/pip install -e .`.") from None
    return ChatOpenAI(
        # langchain-openai's ChatOpenAI declares these through pydantic aliases its stubs do not show
        model=spec.model, base_url=spec.base_url, api_key=spec.api_key,  # type: ignore[arg-type]
        timeout=timeout_s, max_retries=0, temperature=0, max_tokens=600,  # type: ignore[call-arg]
    )


def _text_of(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, list):
        content = "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return _THINK.sub("", str(content)).strip()


def call_with_deadline(fn: Callable[[], T], timeout_s: float) -> T:
    """Run fn in a daemon thread and give up after timeout_s, so a hung call cannot hold the turn."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
        finally:
            done.set()

    context = contextvars.copy_context()  # LangChain callbacks and tracing follow the call into the thread
    threading.Thread(target=context.run, args=(run,), name="guide-llm-call", daemon=True).start()
    if not done.wait(timeout_s):
        raise LLMError(f"The language model did not answer within {timeout_s:g} s.")
    if "error" in box:
        raise box["error"]
    return box["value"]


class ChatClient:
    """One chat model behind bounded calls: a failure or timeout rests it for `cooldown_s` (turns then go straight
    to the fallback instead of waiting on a model that just failed)."""

    def __init__(self, chat_model: Any, *, timeout_s: float = 20.0, cooldown_s: float = COOLDOWN_S) -> None:
        self.chat_model = chat_model
        self.timeout_s = timeout_s
        self.cooldown_s = cooldown_s
        self._unavailable_until = 0.0
        self._lock = threading.Lock()

    def invoke(self, messages: list[Any]) -> str:
        """The model's reply text (reasoning tags removed), or LLMError."""
        with self._lock:
            if time.monotonic() < self._unavailable_until:
                raise LLMError("The language model failed recently; skipping it for a while.")
        try:
            reply = call_with_deadline(lambda: self.chat_model.invoke(messages), self.timeout_s)
        except Exception as exc:
            with self._lock:
                self._unavailable_until = time.monotonic() + self.cooldown_s
            if isinstance(exc, LLMError):
                raise
            raise LLMError(f"The language model call failed ({type(exc).__name__}).") from exc
        return _text_of(reply)
