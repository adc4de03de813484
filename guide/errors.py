"""The guide's errors: one base class, and every message says what to do next."""

from __future__ import annotations

from typing import ClassVar, Literal


class GuideError(Exception):
    """Base class for errors a user can act on; the CLI prints the message, never a traceback."""

    exit_code = 2
    #: the command that fixes it, for replies that suggest one ("ingest": rebuild the search index)
    action: ClassVar[Literal["ingest"] | None] = None


class ConfigError(GuideError):
    """A setting has a value the guide cannot use."""


class CorpusError(GuideError):
    """A corpus document or the vetting manifest is malformed, unvetted or changed."""


class IndexNotBuiltError(GuideError):
    """The search index is missing or was built for something else."""

    action = "ingest"


class StoreUnavailableError(GuideError):
    """The vector store (an embedded directory or a Chroma server) cannot be reached."""


class InputError(GuideError):
    """A user message or input file cannot be used as given."""


class SafetyError(GuideError):
    """The safety layer could not evaluate a message (the pipeline fails closed on it)."""


class LLMError(GuideError):
    """The optional language model failed; callers fall back to the extractive composer."""


class FeedbackError(GuideError):
    """Feedback could not be saved (the SQLite database stayed locked or is not writable)."""
