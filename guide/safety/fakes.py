"""The CrisisChecker fake beside the real SafetyChecker: scripted routes, or a failure, for tests and demos.

It never decides anything about real text: a message not in the script gets `default`. Use the real checker
(`SafetyChecker()`, lexicon only, loads in milliseconds) wherever the decision itself is under test."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from guide.types import Language, SafetyCategory, SafetyRoute, SafetyVerdict, Turn


class ScriptedChecker:
    """Routes each scripted message as written; `fail` makes every check raise what it returns for the text."""

    name = "scripted"

    def __init__(self, script: Mapping[str, tuple[SafetyRoute, SafetyCategory | None]] | None = None, *,
                 default: SafetyRoute = "ok", fail: Callable[[str], BaseException] | None = None) -> None:
        self.script = dict(script or {})
        self.default = default
        self.fail = fail
        self.calls: list[str] = []

    def check(self, text: str, history: Sequence[Turn] = (), *, language: Language | None = None) -> SafetyVerdict:
        self.calls.append(text)
        if self.fail is not None:
            raise self.fail(text)
        route, category = self.script.get(text, (self.default, None))
        return SafetyVerdict(route=route, category=category, score=1.0 if route == "crisis" else 0.0,
                             reasons=(f"scripted {route}",), language=language or "en")


__all__ = ["ScriptedChecker"]
