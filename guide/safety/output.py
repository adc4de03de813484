"""The output check: every composed answer is scanned before it is shown.

It flags dose amounts, dosing or taper schedules and self-harm / overdose method details. Grounding and
citations are checked by the composer; this is the last, content-level gate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNIT = (r"(?:mg|mcg|µg|ug|milligrams?|micrograms?|grams?|g|ml|mls|milliliters?|millilitres?|cc|units?|iu|"
         r"pills?|tablets?|tabs?|capsules?|caps|doses?|drops?|patch(?:es)?|strips?|films?|puffs?|sprays?|bars?|shots?)")
_NUMBER = r"(?:\d+(?:[.,]\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|a half|half a|half|a quarter|quarter)"

_DOSE = re.compile(rf"\b{_NUMBER}\s*(?:(?:-|to|–|or)\s*{_NUMBER}\s*)?{_UNIT}\b", re.I)
_SCHEDULE = [
    re.compile(r"\b(?:every|each)\s+\d+\s*(?:(?:-|to|–)\s*\d+\s*)?(?:hours?|hrs?|h)\b", re.I),
    re.compile(r"\b(?:once|twice|three times|four times|\d+ times)\s+(?:a|per|each)\s+(?:day|night|week)\b(?=[^.]{0,60}\b(?:take|dose|pill|tablet|mg|medication)\b)|\b(?:take|dose|pill|tablet|mg|medication)\b[^.]{0,60}\b(?:once|twice|three times|\d+ times)\s+(?:a|per|each)\s+(?:day|night)\b", re.I),
    re.compile(r"\b(?:reduce|decrease|lower|cut|drop|taper|increase|raise)\w*\s+(?:\w+\s+){0,3}by\s+(?:\d+|a quarter|a half|half|ten|twenty)\s*(?:%|percent|mg|milligrams?)?", re.I),
    re.compile(r"\btaper(?:ing)?\s+(?:schedule|plan|protocol|by)\b", re.I),
    re.compile(r"\b(?:increase|decrease|raise|lower|double|halve)\s+(?:your|the|his|her)\s+dose\b", re.I),
    re.compile(r"\b(?:take|give|use)\s+(?:it|them|one|two|\d+)\s+(?:every|each|twice|once|at bedtime|in the morning)\b", re.I),
    re.compile(r"\b(?:daily|nightly|starting|maximum|max|maintenance)\s+dose\s+(?:is|of)\b", re.I),
]
_METHOD = [
    re.compile(r"\b(?:lethal|fatal|deadly|toxic|overdose)\s+(?:dose|amount|quantity|level|threshold)s?\b", re.I),
    re.compile(r"\bhow\s+(?:many|much)\s+(?:\w+\s+){0,3}(?:to|would|will|it takes to)\s+(?:die|kill|overdose|od)\b", re.I),
    re.compile(r"\b(?:hang|hanging)\s+(?:yourself|oneself|myself|themselves|himself|herself)\b|\bnoose\b", re.I),
    re.compile(r"\bslit\w*\b|\b(?:cut|cutting|slash\w*)\s+(?:deep(?:er|ly)?|vertical\w*|along|your wrists?|the wrists?|an artery)\b", re.I),
    re.compile(r"\bjump(?:ing)?\s+(?:off|from)\s+(?:a|the)\s+(?:bridge|building|roof|ledge|cliff|balcony)\b", re.I),
    re.compile(r"\b(?:carbon monoxide|exhaust fumes|helium|exit bag|suicide bag|plastic bag over)\b", re.I),
    re.compile(r"\b(?:suicide|overdose)\s+(?:method|methods|technique|instructions)\b|\bpainless\s+(?:way|method)\b", re.I),
    re.compile(r"\b(?:gun|firearm|pistol)\s+to\s+(?:your|my|his|her)\s+head\b", re.I),
    re.compile(r"\b(?:drink|swallow|ingest)\w*\s+(?:bleach|antifreeze|poison)\b", re.I),
    re.compile(r"\b(?:mix|combine|take)\s+(?:\w+\s+){0,3}(?:with|and)\s+(?:\w+\s+){0,2}to\s+(?:die|get higher|overdose|stop breathing)\b", re.I),
]


@dataclass(frozen=True)
class OutputVerdict:
    """Whether a composed answer may be shown; `problems` says what was found, for the log and the tests."""

    ok: bool
    problems: tuple[str, ...] = ()


def output_check(text: str) -> OutputVerdict:
    """Flag dose amounts, dosing/taper schedules and method details in an answer before it is shown."""
    problems: list[str] = []
    for m in _DOSE.finditer(text):
        problems.append(f"dose amount: '{m.group(0)}'")
    for rx in _SCHEDULE:
        m = rx.search(text)
        if m:
            problems.append(f"dosing schedule: '{m.group(0)[:60]}'")
    for rx in _METHOD:
        m = rx.search(text)
        if m:
            problems.append(f"method detail: '{m.group(0)[:60]}'")
    return OutputVerdict(ok=not problems, problems=tuple(problems))
