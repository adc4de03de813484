"""The crisis check: normalisation -> lexicon -> semantic similarity -> conversation context -> one verdict.

Layers only ever move a message towards safety except where the lexicon has explicit linguistic evidence
(a negation, an idiom, past tense, a hypothetical question, grief): then the semantic layer may not promote it.
`SafetyChecker.check` raises on internal errors; callers use `guarded_check`, which fails closed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from guide.errors import SafetyError
from guide.safety.language import detect_language
from guide.safety.lexicon import Finding, Lexicon, Scan, default_lexicon, load_lexicon
from guide.types import SafetyVerdict, Turn

if TYPE_CHECKING:
    from guide.retrieval.embedding import Embedder
    from guide.safety.semantic import SemanticLayer, SemanticMatch

log = logging.getLogger("guide.safety")

#: The lexicon scans this much of a message (regexes are linear; this only bounds pathological input).
MAX_SCAN_CHARS = 20_000
FAIL_CLOSED_REASON = "safety check failed; failing closed"


class SafetyChecker:
    """Runs every layer on one user turn. Build once per process; `check` is cheap and thread-safe."""

    def __init__(
        self,
        embedder: "Embedder | None" = None,
        *,
        lexicon_path: str | Path | None = None,
        exemplars_path: str | Path | None = None,
        semantic_threshold: float | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.lexicon: Lexicon = load_lexicon(lexicon_path) if lexicon_path else default_lexicon()
        self.semantic: SemanticLayer | None = None
        if embedder is not None:
            from guide.safety.semantic import SemanticLayer

            self.semantic = SemanticLayer(embedder, exemplars_path, threshold=semantic_threshold, cache_dir=cache_dir)

    @property
    def name(self) -> str:
        return f"lexicon+semantic({self.semantic.embedder.name})" if self.semantic else "lexicon"

    def warm(self) -> None:
        """Compile and embed everything up front so the first user turn is as fast as the rest."""
        self.lexicon.scan("warm up")
        if self.semantic is not None:
            self.semantic.warm()
            self.semantic.match("warm up")

    def check(self, text: str, history: Sequence[Turn] = ()) -> SafetyVerdict:
        """Route one user message: crisis, caution or ok, with the category, a score and the reasons."""
        if not isinstance(text, str):
            raise SafetyError(f"the safety check needs text, got {type(text).__name__}")
        language = detect_language(text)
        if not text.strip():
            return SafetyVerdict(route="ok", language=language, reasons=("empty message",))
        scan = self.lexicon.scan(text[:MAX_SCAN_CHARS])
        reasons: list[str] = [f.describe() for f in scan.findings]
        reasons += [f.describe() for f in scan.suppressed]
        if scan.stripped:
            reasons.append("figurative or service phrases ignored: " + "; ".join(f"'{s}'" for s in scan.stripped[:3]))

        crisis = [f for f in scan.findings if f.level == "crisis"]
        if crisis:
            top = self.lexicon.rank(crisis)
            assert top is not None
            return self._verdict("crisis", top.category, top.weight, reasons, language)

        match = self._semantic(scan)
        if match is not None:
            reasons.append(match.describe())
        lexical_evidence = bool(scan.suppressed) or any(f.note for f in scan.findings if f.level == "caution")

        if match is not None and match.route == "crisis" and not lexical_evidence and not scan.stripped:
            if not scan.question:
                return self._verdict("crisis", match.category, match.similarity, reasons, language)
            reasons.append("semantic: an informational question, so caution at most")

        ambiguous = [f for f in scan.findings if f.level == "ambiguous"]
        caution = [f for f in scan.findings if f.level == "caution"]
        semantic_caution = match is not None and match.route in ("crisis", "caution")
        history_risk, prior = self._history(history)

        if ambiguous:
            top = self.lexicon.rank(ambiguous)
            assert top is not None
            if history_risk or prior is not None:
                reasons.append("context: earlier turns make this distress a crisis")
                return self._verdict("crisis", top.category, max(top.weight, 0.8), reasons, language)
            reasons.append("context: ambiguous distress without a risky history")
            return self._verdict("caution", top.category, 0.5, reasons, language)

        if prior is not None and (caution or semantic_caution) and not scan.suppressed:
            category = (self.lexicon.rank(caution).category if caution else match.category)  # type: ignore[union-attr]
            reasons.append("context: the conversation already had a crisis turn")
            return self._verdict("crisis", category, 0.8, reasons, language)

        if caution:
            top = self.lexicon.rank(caution)
            assert top is not None
            return self._verdict("caution", top.category, 0.5, reasons, language)
        if semantic_caution and not scan.suppressed:
            assert match is not None
            return self._verdict("caution", match.category, match.similarity, reasons, language)
        score = match.similarity if match is not None else 0.0
        return self._verdict("ok", None, max(score, 0.0), reasons, language)

    # -- layers --------------------------------------------------------------------------------------------

    def _semantic(self, scan: Scan) -> "SemanticMatch | None":
        if self.semantic is None:
            return None
        body, _ = self.lexicon.strip_figurative(scan.normalized)
        text = " ".join(body.replace(" ; ", " ").split())
        if len(text) < 3:
            return None
        return self.semantic.match(text)

    def _history(self, history: Sequence[Turn]) -> tuple[bool, Finding | None]:
        """(risky context?, the last earlier crisis finding if any) from the conversation so far."""
        if not history:
            return False, None
        prior: Finding | None = None
        for turn in history:
            if turn.role == "assistant" and turn.crisis:
                prior = Finding(turn.crisis_category or "suicide", "crisis", 1.0, "earlier crisis reply")
        user_texts = [t.text for t in history if t.role == "user"]
        for t in user_texts[-self.lexicon.context_lookback:]:
            hits = [f for f in self.lexicon.scan(t[:MAX_SCAN_CHARS]).findings if f.level == "crisis"]
            if hits:
                prior = self.lexicon.rank(hits)
        return self.lexicon.has_risk(user_texts), prior

    @staticmethod
    def _verdict(route: str, category: str | None, score: float, reasons: list[str], language: str) -> SafetyVerdict:
        return SafetyVerdict(
            route=route,  # type: ignore[arg-type]
            category=category,  # type: ignore[arg-type]
            score=round(min(max(float(score), 0.0), 1.0), 4),
            reasons=tuple(reasons) or ("no crisis signals",),
            language=language,
        )


def fail_closed_verdict() -> SafetyVerdict:
    """What every caller shows when the check itself broke: the crisis route with the general template."""
    return SafetyVerdict(route="crisis", category=None, failed_closed=True, reasons=(FAIL_CLOSED_REASON,))


def guarded_check(checker: SafetyChecker | None, text: str, history: Sequence[Turn] = ()) -> SafetyVerdict:
    """checker.check, but ANY exception becomes a crisis verdict; the log names the exception type, never the text."""
    try:
        if checker is None:
            raise SafetyError("no safety checker configured")
        return checker.check(text, history)
    except Exception as exc:  # noqa: BLE001 - failing closed is the point
        log.error("safety check failed (%s); failing closed", type(exc).__name__)
        return fail_closed_verdict()
