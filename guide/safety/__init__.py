"""The safety layer: a crisis check that runs first and fails closed, fixed crisis replies, a scope guard and
an output check. Everything here is callable without the app; data (lexicon, exemplars, resources, templates)
lives in `guide/safety/data/` and is reviewed like code.

    verdict = guarded_check(checker, text, history)      # never raises: errors become a crisis verdict
    if verdict.route == "crisis":
        reply = crisis_reply(verdict.category, language=verdict.language, region=settings.region)
"""

from __future__ import annotations

from collections.abc import Sequence

from guide.safety.detector import FAIL_CLOSED_REASON, SafetyChecker, default_checker, fail_closed_verdict, guarded_check
from guide.safety.language import detect_language
from guide.safety.output import OutputVerdict, output_check
from guide.safety.resources import (
    CrisisReply,
    always_visible,
    caution_resources,
    caution_text,
    checkin_lead,
    checkin_reply,
    crisis_reply,
    decline_text,
    pinned_resources,
    resources_for,
)
from guide.safety.scope import guarded_scope_check, scope_check
from guide.types import SafetyVerdict, Turn

__all__ = [
    "FAIL_CLOSED_REASON",
    "CrisisReply",
    "OutputVerdict",
    "SafetyChecker",
    "always_visible",
    "caution_resources",
    "caution_text",
    "check",
    "checkin_lead",
    "checkin_reply",
    "default_checker",
    "crisis_reply",
    "decline_text",
    "detect_language",
    "fail_closed_verdict",
    "guarded_check",
    "output_check",
    "pinned_resources",
    "resources_for",
    "guarded_scope_check",
    "scope_check",
]

_default_checker: SafetyChecker | None = None


def _default() -> SafetyChecker:
    global _default_checker
    if _default_checker is None:
        _default_checker = default_checker()
    return _default_checker


def check(text: str, history: Sequence[Turn] = (), *, checker: SafetyChecker | None = None) -> SafetyVerdict:
    """The pure entry point: route one user turn (the shipped lexicon + classifier unless one is given). Fails closed."""
    try:
        chosen = checker if checker is not None else _default()
    except Exception:  # noqa: BLE001 - even a broken lexicon file must not let a message through unchecked
        return guarded_check(None, text, history)
    return guarded_check(chosen, text, history)
