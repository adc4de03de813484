"""The Composer fake beside the real ones: a fixed composition, or a failure, for tests and demos."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from guide.answer.composer import Composition
from guide.types import Hit, Turn


class ScriptedComposer:
    """Returns `composition` (default: "not covered") for every question; `fail` makes each call raise what it
    returns for the question (a timeout, a model error that quotes the question…)."""

    def __init__(self, composition: Composition | None = None, *, name: str = "scripted",
                 fail: Callable[[str], BaseException] | None = None) -> None:
        self.composition = composition or Composition.uncovered(0.0)
        self.name = name
        self.fail = fail
        self.calls: list[str] = []

    def compose(self, query: str, hits: Sequence[Hit], *, audience: str = "newcomer",
                history: Sequence[Turn] = ()) -> Composition:
        self.calls.append(query)
        if self.fail is not None:
            raise self.fail(query)
        return self.composition


__all__ = ["ScriptedComposer"]
