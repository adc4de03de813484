"""The crisis check: normalisation -> lexicon -> trained risk classifier -> conversation context -> one verdict.

A message is a crisis when the classifier says so, or when the lexicon finds an explicit crisis phrase and the
classifier's risk reaches the lexicon floor (chosen on dev, docs/safety.md). The lexicon's findings are also features
of the classifier; its idiom, negation and question rules veto nothing (the classifier learned those from its hard
negatives).
Distress (hopelessness, passive wishes) becomes `checkin`; after a check-in, "yes", "kind of" or "I have pills"
is a crisis. `SafetyChecker.check` raises on internal errors; callers use `guarded_check`, which fails closed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from guide.errors import SafetyError
from guide.safety.language import detect_language
from guide.safety.lexicon import Finding, Lexicon, default_lexicon, load_lexicon
from guide.types import CATEGORIES, Language, SafetyCategory, SafetyRoute, SafetyVerdict, Turn

if TYPE_CHECKING:
    from guide.safety.classifier import RiskModel, RiskScores
    from guide.safety.lexicon import Scan

log = logging.getLogger("guide.safety")

#: The lexicon scans this much of a message (regexes are linear; this only bounds pathological input).
MAX_SCAN_CHARS = 20_000
#: The classifier reads a message whole up to this length; longer ones are read in overlapping windows.
WINDOW_CHARS = 700
MAX_WINDOWS = 32
FAIL_CLOSED_REASON = "safety check failed; failing closed"

#: A reply to a check-in that says yes, or not quite no ("kind of", "sometimes"), in the languages we claim.
_AFFIRMS = re.compile(
    r"^\W*(y(e|a)(s|h|p)?\b|yeah|yup|kind ?of|kinda|sort ?of|sorta|maybe|a (little|bit)|i think so|sometimes|"
    r"i (guess|do|am|have)\b|not sure|idk|honestly yes|si+\b|s[ií]\b|claro|a veces|un poco|tal vez|quiz[aá]s?|"
    r"m[aá]s o menos|creo que s[ií]|oui|ouais|un peu|peut-?[eê]tre|parfois|je crois|je pense que oui)",
    re.IGNORECASE,
)


#: In a message longer than FOCUS_CHARS each lexicon crisis or distress phrase is also read up close: its sentence,
#: at most FOCUS_CONTEXT characters either side (whole words), so the rest of a long post does not drown it out,
#: while an idiom keeps the words that make it one. Doing this for short messages too was measured and rejected:
#: on the third-party dev split it turned 5/499 false alarms into 13/499 for 2 more held-out team crises. 16 characters
#: of context rather than 24 measured 3/499 against 5/499 there, with the same recall.
FOCUS_CHARS = 300
FOCUS_CONTEXT = 16
MAX_FOCUS = 4


def focus_windows(scan: "Scan", half: int = FOCUS_CONTEXT) -> list[str]:
    """Short windows of the normalised text around the lexicon's crisis and distress phrases."""
    out: list[str] = []
    text = scan.normalized
    for finding in scan.findings:
        if finding.level not in ("crisis", "ambiguous") or len(out) >= MAX_FOCUS:
            continue
        at = text.find(finding.phrase.split(" … ")[0])
        if at < 0:
            continue
        stop = at + len(finding.phrase)
        start, end = max(0, at - half), min(len(text), stop + half)
        while start > 0 and text[start - 1] != " ":  # whole words only
            start += 1
        while end < len(text) and text[end] != " ":
            end -= 1
        before = max((text.rfind(c, start, at) for c in ".!?;\n"), default=-1)  # and within its sentence
        after = [i for i in (text.find(c, stop, end) for c in ".!?;\n") if i >= 0]
        out.append(text[max(start, before + 1):min(after, default=end)].strip())
    return out


@dataclass(frozen=True)
class Context:
    """What earlier turns say about this one (computed once per turn from the history)."""

    prior_crisis: Finding | None  # an earlier crisis reply or crisis phrase
    after_checkin: bool  # the assistant's last turn was a check-in
    risky: bool  # relapse, loss or an earlier caution hit in the last few user turns


def windows(text: str, size: int = WINDOW_CHARS, limit: int = MAX_WINDOWS) -> list[str]:
    """The whole message if short, else overlapping windows (head and tail first), so a crisis sentence inside
    a long post is read at the length the classifier was trained on."""
    text = text.strip()
    if len(text) <= size:
        return [text]
    # overlap a quarter of a window, or less when that many windows would not cover the whole text
    step = max(size * 3 // 4, -(-(len(text) - size) // (limit - 1)))
    starts = list(range(0, len(text) - size + 1, step))
    if starts[-1] + size < len(text):
        starts.append(len(text) - size)
    return [text[s:s + size] for s in starts[:limit]]


class CrisisChecker(Protocol):
    """The seam the pipeline calls first on every turn: `SafetyChecker` is the real one; tests pass fakes. `language`
    is the turn's, when the caller already detected it. May raise: callers go through `guarded_check`."""

    def check(self, text: str, history: Sequence[Turn] = (), *, language: Language | None = None) -> SafetyVerdict: ...


class SafetyChecker:
    """Runs every layer on one user turn. Build once per process; `check` is cheap and thread-safe."""

    def __init__(self, model: "RiskModel | None" = None, *, lexicon_path: str | Path | None = None) -> None:
        self.lexicon: Lexicon = load_lexicon(lexicon_path) if lexicon_path else default_lexicon()
        self.model = model

    @property
    def name(self) -> str:
        return f"lexicon+{self.model.name}" if self.model is not None else "lexicon"

    def warm(self) -> None:
        """Compile and load everything up front so the first user turn is as fast as the rest."""
        self.lexicon.scan("warm up")
        if self.model is not None:
            self.model.score(["warm up"])

    def context(self, history: Sequence[Turn]) -> Context:
        prior: Finding | None = None
        for turn in history:
            if turn.role == "assistant" and turn.crisis:
                prior = Finding(turn.crisis_category or "suicide", "crisis", 1.0, "earlier crisis reply")
        risky = False
        user_texts = [t.text for t in history if t.role == "user"]
        for t in user_texts[-self.lexicon.context_lookback:]:  # one (cached) scan per earlier message
            scan = self.lexicon.scan(t[:MAX_SCAN_CHARS])
            hits = [f for f in scan.findings if f.level == "crisis"]
            if hits:
                prior = self.lexicon.rank(hits)
            risky = risky or self.lexicon.risky(scan)
        assistant = [t for t in history if t.role == "assistant"]
        after_checkin = bool(assistant) and assistant[-1].checkin
        return Context(prior, after_checkin, risky)

    def score(self, text: str, scan: "Scan | None" = None) -> "RiskScores | None":
        """The classifier's view of a message: the riskiest window (a short message is one window, whose lexicon
        scan is the one the check already made)."""
        if self.model is None:
            return None
        pieces = windows(text)
        scans = [scan] if scan is not None and len(pieces) == 1 else [self.lexicon.scan(p) for p in pieces]
        if scan is not None and len(text) > FOCUS_CHARS:  # a risky phrase inside a long message: read it up close
            for focus in focus_windows(scan):
                if focus:
                    pieces.append(focus)
                    scans.append(self.lexicon.scan(focus, normalized=True))
        scored = self.model.score(pieces, scans)
        order = {"crisis": 2, "checkin": 1, "none": 0}
        return max(scored, key=lambda s: (order[s.decision], s.crisis_mass + s.p("distress")))

    def check(self, text: str, history: Sequence[Turn] = (), *, language: Language | None = None) -> SafetyVerdict:
        """Route one user message: crisis, checkin, caution or ok, with the category, a score and the reasons."""
        if not isinstance(text, str):
            raise SafetyError(f"the safety check needs text, got {type(text).__name__}")
        language = language or detect_language(text)
        if not text.strip():
            return SafetyVerdict(route="ok", language=language, reasons=("empty message",))
        if len(text) > MAX_SCAN_CHARS:  # head and tail, as the pipeline does: a crisis at the end of a paste counts
            text = text[: MAX_SCAN_CHARS // 2] + " " + text[-MAX_SCAN_CHARS // 2:]
        scan = self.lexicon.scan(text)
        reasons: list[str] = [f.describe() for f in (*scan.findings, *scan.suppressed)]
        risk = self.score(text, scan)
        if risk is not None:
            reasons.append(risk.describe())
        ctx = self.context(history) if history else Context(None, False, False)

        def verdict(route: SafetyRoute, category: str | None, score: float, why: str | None = None) -> SafetyVerdict:
            if why:
                reasons.append(why)
            return SafetyVerdict(route=route, category=_known(category), score=round(min(max(float(score), 0.0), 1.0), 4),
                                 reasons=tuple(reasons), language=language)

        crisis = [f for f in scan.findings if f.level == "crisis"]
        if risk is None and crisis:  # lexicon-only checker (GUIDE_SAFETY_CLASSIFIER=0): its crisis phrases decide
            top = self.lexicon.rank(crisis)
            assert top is not None
            return verdict("crisis", top.category, top.weight)
        if risk is not None and risk.decision == "crisis":  # the classifier, or a lexicon phrase it does not doubt
            return verdict("crisis", risk.category, max(risk.crisis_mass, risk.p(risk.category or "suicide")))

        distress = (risk is not None and risk.decision == "checkin") or any(f.level == "ambiguous" for f in scan.findings)
        category = _category(scan.findings, risk, self.lexicon)
        if ctx.after_checkin and (distress or _AFFIRMS.search(text)):
            return verdict("crisis", ctx.prior_crisis.category if ctx.prior_crisis else category or "suicide", 0.8,
                           "context: the reply to a check-in says yes or still sounds unsafe")
        if distress and (ctx.prior_crisis is not None or ctx.risky):
            return verdict("crisis", (ctx.prior_crisis.category if ctx.prior_crisis else None) or category or "suicide",
                           0.8, "context: earlier turns make this distress a crisis")
        if distress:
            return verdict("checkin", category, (risk.crisis_mass + risk.p("distress")) if risk else 0.5,
                           "distress without present danger: check in")
        # a caution phrase, or an explicit crisis phrase the classifier doubts: answer, with the help lines beside it
        caution = [f for f in scan.findings if f.level in ("caution", "crisis")]
        if caution:
            top = self.lexicon.rank(caution)
            assert top is not None
            return verdict("caution", top.category, 0.5, "lexicon phrase without classifier support: caution"
                           if top.level == "crisis" else None)
        return verdict("ok", None, risk.crisis_mass if risk else 0.0, None if reasons else "no crisis signals")


def _known(category: str | None) -> SafetyCategory | None:
    """A category name as the typed vocabulary (the lexicon and the classifier name only these)."""
    for known in CATEGORIES:
        if category == known:
            return known
    return None


def _category(findings: Sequence[Finding], risk: "RiskScores | None", lexicon: Lexicon) -> SafetyCategory | None:
    if risk is not None and risk.category is not None:
        return _known(risk.category)
    top = lexicon.rank([f for f in findings if f.level in ("ambiguous", "caution")])
    return _known(top.category) if top is not None else None


def fail_closed_verdict(language: Language = "en") -> SafetyVerdict:
    """What every caller shows when the check itself broke: the crisis route with the general template (in the
    turn's language when the caller knows it)."""
    return SafetyVerdict(route="crisis", category=None, failed_closed=True, reasons=(FAIL_CLOSED_REASON,),
                         language=language)


def guarded_check(checker: CrisisChecker | None, text: str, history: Sequence[Turn] = (), *,
                  language: Language | None = None) -> SafetyVerdict:
    """checker.check, but ANY exception becomes a crisis verdict; the log names the exception type, never the text."""
    try:
        if checker is None:
            raise SafetyError("no safety checker configured")
        return checker.check(text, history, language=language)
    except Exception as exc:  # noqa: BLE001 - failing closed is the point
        log.error("safety check failed (%s); failing closed", type(exc).__name__)
        return fail_closed_verdict(language or "en")


def default_checker(enabled: bool = True) -> SafetyChecker:
    """The shipped check: the lexicon plus the committed classifier (its encoder loads once per process)."""
    if not enabled:
        return SafetyChecker()
    from guide.safety.classifier import shipped_model

    return SafetyChecker(shipped_model())
