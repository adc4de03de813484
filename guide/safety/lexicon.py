"""Layer 2: the category lexicon (data/lexicon.yaml) with idiom, negation, past-tense and hypothetical handling.

`Lexicon.scan(text)` is pure: it returns every finding with its category, level and the reason it was kept,
downgraded or dropped, so the detector (and a reviewer) can see exactly why a message was routed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from guide.errors import ConfigError
from guide.safety.normalize import Normalizer
from guide.types import CATEGORIES

#: How many scans a lexicon remembers (a conversation's earlier turns are read again on every new turn).
SCAN_CACHE = 2048

DEFAULT_LEXICON = Path(__file__).resolve().parent / "data" / "lexicon.yaml"
Level = Literal["crisis", "caution", "ambiguous"]
_MACRO = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
_SENTENCE = re.compile(r"[.!?\n]+")


@dataclass(frozen=True)
class Pattern:
    category: str
    level: Level
    regex: re.Pattern[str]
    weight: float = 1.0
    negatable: bool = True

    @property
    def source(self) -> str:
        return self.regex.pattern


@dataclass(frozen=True)
class Finding:
    """One lexicon hit after context rules: `level` is what it counts as, `note` why (negated, past, idiom...)."""

    category: str
    level: Level
    weight: float
    phrase: str
    note: str = ""

    def describe(self) -> str:
        extra = f" ({self.note})" if self.note else ""
        return f"lexicon {self.level}: {self.category} '{self.phrase}'{extra}"


@dataclass(frozen=True)
class Scan:
    """Everything the lexicon saw in one message."""

    normalized: str
    findings: tuple[Finding, ...] = ()
    suppressed: tuple[Finding, ...] = field(default=())  # negated matches: evidence the semantic layer must respect
    stripped: tuple[str, ...] = ()  # idioms / service phrases removed before matching
    question: bool = False  # the whole message only asks a question about someone else or a topic

    def best(self, level: Level) -> Finding | None:
        hits = [f for f in self.findings if f.level == level]
        return max(hits, key=lambda f: f.weight) if hits else None


def _compile(pattern: str, macros: dict[str, str], where: str) -> re.Pattern[str]:
    def expand(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in macros:
            raise ConfigError(f"{where}: unknown macro {{{name}}} in the crisis lexicon. Define it under `macros:`.")
        return macros[name]

    expanded = pattern
    for _ in range(3):  # macros may use macros
        expanded = _MACRO.sub(expand, expanded)
    try:
        return re.compile(expanded)
    except re.error as exc:
        raise ConfigError(f"{where}: bad regex in the crisis lexicon ({exc}): {pattern!r}") from None


def _entry(raw: Any) -> tuple[str, float, bool]:
    if isinstance(raw, str):
        return raw, 1.0, True
    return str(raw["p"]), float(raw.get("w", 1.0)), bool(raw.get("neg", True))


class Lexicon:
    """A compiled lexicon. Build it once (`load_lexicon`), then call `scan` per message."""

    def __init__(self, data: dict[str, Any], source: str = "<memory>") -> None:
        macros = {k: str(v) for k, v in (data.get("macros") or {}).items()}
        norm = data.get("normalization") or {}
        self.source = source
        self.normalizer = Normalizer(
            slang=norm.get("slang") or {},
            misspellings=norm.get("misspellings") or {},
            fuzzy_targets=norm.get("fuzzy_targets") or (),
            protected=norm.get("protected") or (),
        )
        c = lambda p, w: _compile(p, macros, w)  # noqa: E731 - local shorthand
        self.idioms = tuple(c(p, "idioms") for p in data.get("idioms") or ())
        self.services = tuple(c(p, "services") for p in data.get("services") or ())
        neg = data.get("negation") or {}
        self.negation = c(neg.get("cues", r"\bnot\b"), "negation.cues")
        self.negation_window = int(neg.get("window", 5))
        self.clause_breaks = c(neg.get("clause_breaks", r"[.,;:!?]"), "negation.clause_breaks")
        past = data.get("past") or {}
        self.past = c(past["cues"], "past.cues")
        self.recent = c(past["recent"], "past.recent")
        self.death = c(past["death"], "past.death")
        hyp = data.get("hypothetical") or {}
        self.hypothetical = c(hyp["cues"], "hypothetical.cues")
        self.present = c(hyp["present"], "hypothetical.present")
        self.definition = c(hyp["definition"], "hypothetical.definition") if hyp.get("definition") else None
        self.personal = c(hyp.get("personal", r"\b(?:i|me|my)\b"), "hypothetical.personal")
        question = data.get("question") or {}
        self.question = c(question["cues"], "question.cues") if question.get("cues") else None
        self.self_reference = c(question.get("self", r"\b(?:i|me|myself)\b"), "question.self")
        ctx = data.get("context") or {}
        self.context_risk = c(ctx.get("risk", r"\brelapse"), "context.risk")
        self._scans: dict[tuple[str, bool], Scan] = {}
        self.context_lookback = int(ctx.get("lookback", 6))
        self.priority = tuple(data.get("priority") or CATEGORIES)
        jest = data.get("jest") or {}
        self.jest = c(jest["cues"], "jest.cues") if jest.get("cues") else None
        self.jest_categories = frozenset(jest.get("categories") or ())
        self.patterns: list[Pattern] = []
        for category, levels in (data.get("categories") or {}).items():
            if category not in CATEGORIES:
                raise ConfigError(f"Unknown category {category!r} in the crisis lexicon; use one of {CATEGORIES}.")
            for level in get_args(Level):
                for i, raw in enumerate(levels.get(level) or ()):
                    p, w, negatable = _entry(raw)
                    self.patterns.append(Pattern(category, level, c(p, f"{category}.{level}[{i}]"), w, negatable))
        self.combos: list[tuple[str, float, tuple[re.Pattern[str], ...]]] = []
        for i, combo in enumerate(data.get("combos") or ()):
            regs = tuple(c(p, f"combos[{i}]") for p in combo["all"])
            self.combos.append((str(combo["category"]), float(combo.get("w", 1.0)), regs))

    # -- helpers -------------------------------------------------------------------------------------------

    def strip_figurative(self, text: str) -> tuple[str, tuple[str, ...]]:
        """Remove idioms and talk about crisis services; returns the remaining text and what was removed."""
        removed: list[str] = []

        def cut(m: re.Match[str]) -> str:
            removed.append(m.group(0))
            return " ; "

        for rx in (*self.idioms, *self.services):
            text = rx.sub(cut, text)
        return text, tuple(removed)

    def _negated(self, text: str, start: int, end: int) -> bool:
        clause_start = 0
        for m in self.clause_breaks.finditer(text, 0, start):
            clause_start = m.end()
        before = text[clause_start:start].split()
        window = " ".join(before[-self.negation_window:])
        inside = text[start:end]
        return bool(self.negation.search(window) or self.negation.search(inside))

    @staticmethod
    def _sentence(text: str, start: int, end: int) -> str:
        left = max((m.end() for m in _SENTENCE.finditer(text, 0, start)), default=0)
        right_m = _SENTENCE.search(text, end)
        right = right_m.start() if right_m else len(text)
        return text[left:right]

    def _context_note(self, text: str, whole: str, start: int, end: int) -> str:
        """Why a crisis match counts only as caution: grief, past tense or a hypothetical/informational question."""
        sentence = self._sentence(text, start, end)
        if self.death.search(sentence):
            return "grief"
        if self.past.search(sentence) and not self.recent.search(sentence):
            return "past"
        if self.hypothetical.search(sentence) and not self.present.search(whole):
            return "hypothetical"
        if self._definition(text, whole, start, end):
            return "definition"
        return ""

    def _definition(self, text: str, whole: str, start: int, end: int) -> bool:
        """'What are the DTs?': the term is the subject of a what-is question and nobody is said to have it.

        The question words may sit before the match or open it ("what is an overdose" matches "... is ...
        overdose"), so both the text before the match and that text plus all but the match's last word are tried.
        """
        if self.definition is None or self.personal.search(whole) or self.present.search(whole):
            return False
        left = max((m.end() for m in _SENTENCE.finditer(text, 0, start)), default=0)
        prefix = text[left:start]
        head = prefix + text[start:end].rsplit(" ", 1)[0] + " " if " " in text[start:end].strip() else prefix
        return bool(self.definition.search(prefix) or self.definition.search(head))

    def informational_question(self, normalized: str) -> bool:
        """One question about someone else or a topic, nothing happening now: the semantic layer may only caution."""
        body = normalized.strip()
        if self.question is None or not body:
            return False
        return bool(self.question.search(body)) and not self.self_reference.search(body) \
            and not self.present.search(body)

    # -- the scan ------------------------------------------------------------------------------------------

    def normalize(self, text: str) -> str:
        return self.normalizer(text)

    def scan(self, text: str, *, normalized: bool = False) -> Scan:
        """Match every category pattern in `text`; negated matches are dropped, past/hypothetical become caution.

        Scans are remembered (a bounded cache): every earlier turn of a conversation is read again as context on
        each new turn, and a scan depends only on the text and this lexicon."""
        key = (text, normalized)
        found = self._scans.get(key)
        if found is None:
            found = self._scan(text, normalized=normalized)
            if len(self._scans) >= SCAN_CACHE:
                self._scans.pop(next(iter(self._scans), key), None)
            self._scans[key] = found
        return found

    def _scan(self, text: str, *, normalized: bool) -> Scan:
        norm = text if normalized else self.normalizer(text)
        body, stripped = self.strip_figurative(norm)
        findings: list[Finding] = []
        suppressed: list[Finding] = []
        for pat in self.patterns:
            for m in pat.regex.finditer(body):
                phrase = m.group(0).strip()
                if pat.negatable and self._negated(body, m.start(), m.end()):
                    suppressed.append(Finding(pat.category, pat.level, pat.weight, phrase, "negated"))
                    continue
                level: Level = pat.level
                note = ""
                if level == "crisis":
                    note = self._context_note(body, body, m.start(), m.end())
                    if not note and pat.category in self.jest_categories and self.jest and self.jest.search(body):
                        note = "joking"
                    if note:
                        level = "caution"
                findings.append(Finding(pat.category, level, pat.weight, phrase, note))
                break  # one finding per pattern is enough
        for category, weight, regs in self.combos:
            matches = [m for m in (rx.search(body) for rx in regs) if m is not None]
            if len(matches) == len(regs):
                first = min(matches, key=lambda m: m.start())
                last = max(matches, key=lambda m: m.end())
                phrase = " … ".join(m.group(0) for m in matches)
                if self._negated(body, first.start(), first.end()):
                    suppressed.append(Finding(category, "crisis", weight, phrase, "negated"))
                    continue
                combo_level: Level = "crisis" if weight >= 0.75 else "ambiguous"
                note = self._context_note(body, body, first.start(), last.end()) if combo_level == "crisis" else ""
                findings.append(Finding(category, "caution" if note else combo_level, weight, phrase,
                                        note or "combination"))
        return Scan(normalized=norm, findings=tuple(findings), suppressed=tuple(suppressed), stripped=stripped,
                    question=self.informational_question(norm))

    def risky(self, scan: Scan) -> bool:
        """Does this earlier message make later ambiguous distress a crisis? (relapse, loss, a crisis or caution hit)"""
        return bool(self.context_risk.search(scan.normalized)) or any(f.level in ("crisis", "caution")
                                                                       for f in scan.findings)

    def rank(self, findings: Sequence[Finding]) -> Finding | None:
        """The finding that decides the category: highest weight, then the lexicon's priority order."""
        if not findings:
            return None
        order = {c: i for i, c in enumerate(self.priority)}
        return min(findings, key=lambda f: (-f.weight, order.get(f.category, 99)))


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """Read and compile a lexicon file (the shipped one by default); errors say which entry is wrong."""
    import yaml

    p = Path(path) if path else DEFAULT_LEXICON
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read the crisis lexicon {p}: {exc}. Restore it from the repository.") from None
    return Lexicon(data, source=str(p))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    return load_lexicon()
