"""Layer 1: turn what people actually type into text the lexicon can match.

Unicode NFKC, case, accents, curly quotes, contractions, leetspeak ("k1ll", "$uicide"), stretched letters
("diiiie"), slang ("kms") and common misspellings ("myslef", "sucide") - the last by a bounded edit-distance
match against the lexicon's own vocabulary, so a typo can only ever turn into a word the lexicon cares about.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'",
                         "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
                         "\u2013": "-", "\u2014": "-", "\u2026": "..."})
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
_TOKEN = re.compile(r"[^\s]+")
# Digits that are really numbers: 2nd, 90s, 20mg, 3am, 24/7, 1-800-...; never leet-translated.
_NUMERIC = re.compile(r"^[\d.,:/+%-]*\d(?:st|nd|rd|th|s|mg|mcg|ml|g|am|pm|k|x|h|hrs?|mins?|yo|yrs?|lbs?|kg|d|m)?[.,!?]*$")
_REPEAT3 = re.compile(r"([a-z])\1{2,}")
_SPACES = re.compile(r"\s+")

# Contractions, with and without the apostrophe where the bare form is unambiguous.
_CONTRACTIONS = [
    (re.compile(r"\b(can)'?t\b"), "cannot"),
    (re.compile(r"\bwon'?t\b"), "will not"),
    (re.compile(r"\bain'?t\b"), "is not"),
    (re.compile(r"\b(do|does|did|is|are|was|were|have|has|had|could|would|should|must|need)n'?t\b"), r"\1 not"),
    (re.compile(r"\b(\w+)n't\b"), r"\1 not"),
    (re.compile(r"\bi'?m\b"), "i am"),
    (re.compile(r"\bi'?ve\b"), "i have"),
    (re.compile(r"\b(i|you|he|she|we|they|it|that|there|who)'ll\b"), r"\1 will"),
    (re.compile(r"\b(i|you|he|she|we|they|it|that|there|who)'d\b"), r"\1 would"),
    (re.compile(r"\b(you|we|they|who)'re\b"), r"\1 are"),
    (re.compile(r"\b(you|we|they|who)'ve\b"), r"\1 have"),
    (re.compile(r"\b(he|she|it|that|there|what|who|where|everything|nothing|life)'s\b"), r"\1 is"),
    (re.compile(r"\b(youre)\b"), "you are"),
    (re.compile(r"\b(gonna|gunna|gona|finna|boutta|bout to)\b"), "going to"),
    (re.compile(r"\b(wanna|wana|wnna)\b"), "want to"),
    (re.compile(r"\b(gotta)\b"), "got to"),
    (re.compile(r"\b(tryna)\b"), "trying to"),
]


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def _deleet_token(token: str) -> str:
    if not any(ch in _LEET for ch in token) or _NUMERIC.match(token):
        return token
    letters = sum(ch.isalpha() for ch in token)
    if letters < 2:
        return token
    out = []
    for i, ch in enumerate(token):
        if ch in _LEET:
            prev_alpha = i > 0 and token[i - 1].isalpha()
            next_alpha = i + 1 < len(token) and token[i + 1].isalpha()
            # "!" and "|" only inside a word ("k!ll"); digits and @/$ also at a word's edge ("$uicide", "di3").
            inside = prev_alpha and next_alpha
            edge = prev_alpha or next_alpha
            if inside or (edge and ch not in "!|"):
                out.append(_LEET[ch])
                continue
        out.append(ch)
    return "".join(out)


def basic_normalize(text: str) -> str:
    """Unicode, case, accents, quotes, leetspeak, stretched letters and contractions. Pure and cheap."""
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH.sub("", text).translate(_QUOTES).casefold()
    text = _strip_accents(text)
    text = _TOKEN.sub(lambda m: _deleet_token(m.group(0)), text)
    text = _REPEAT3.sub(r"\1\1", text)
    for pattern, repl in _CONTRACTIONS:
        text = pattern.sub(repl, text)
    return _SPACES.sub(" ", text).strip()


def damerau_levenshtein(a: str, b: str, limit: int = 2) -> int:
    """Optimal-string-alignment distance, giving up (returning limit+1) once it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
            best = min(best, cur[j])
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _squeeze(word: str) -> str:
    return re.sub(r"([a-z])\1+", r"\1", word)


_WORD = re.compile(r"[a-z]+")


class Normalizer:
    """basic_normalize, then slang and misspelling repair against the lexicon's vocabulary.

    Fuzzy repair is bounded: only tokens of 5+ letters, only towards `fuzzy_targets` (long, distinctive words
    such as "suicide" or "overdose"), edit distance 1 (2 for 9+ letters), never for `protected` words, and
    memoised per token.
    """

    def __init__(
        self,
        *,
        slang: Mapping[str, str] | None = None,
        misspellings: Mapping[str, str] | None = None,
        fuzzy_targets: Iterable[str] = (),
        protected: Iterable[str] = (),
    ) -> None:
        self.slang = {k.lower(): v.lower() for k, v in (slang or {}).items()}
        self.misspellings = {k.lower(): v.lower() for k, v in (misspellings or {}).items()}
        self.targets = frozenset(t.lower() for t in fuzzy_targets)
        self.protected = frozenset(p.lower() for p in protected) | self.targets
        self._by_len: dict[int, list[str]] = {}
        for t in self.targets:
            self._by_len.setdefault(len(t), []).append(t)
        self._squeezed = {}
        for t in self.targets:
            self._squeezed.setdefault(_squeeze(t), t)
        # Slang containing spaces or punctuation ("sewer slide", "od'd") is replaced as a phrase first.
        phrases = sorted((k for k in self.slang if not k.isalpha()), key=len, reverse=True)
        self._slang_phrases = (
            re.compile(r"(?<![a-z'])(" + "|".join(map(re.escape, phrases)) + r")(?![a-z'])") if phrases else None
        )
        self.repair = lru_cache(maxsize=8192)(self._repair)

    def _repair(self, word: str) -> str:
        if word in self.slang:
            return self.slang[word]
        if word in self.misspellings:
            return self.misspellings[word]
        if word in self.protected:
            return word
        squeezed = _squeeze(word)
        if squeezed != word and squeezed in self._squeezed:
            return self._squeezed[squeezed]
        if len(word) < 5:
            return word
        limit = 2 if len(word) >= 9 else 1
        best, best_d = word, limit + 1
        for length in range(len(word) - limit, len(word) + limit + 1):
            for target in self._by_len.get(length, ()):
                if target[0] != word[0] and target[-1] != word[-1]:
                    continue
                d = damerau_levenshtein(word, target, limit)
                if d < best_d:
                    best, best_d = target, d
        return best

    def __call__(self, text: str) -> str:
        text = basic_normalize(text)
        if self._slang_phrases is not None:
            text = self._slang_phrases.sub(lambda m: self.slang[m.group(1)], text)
        return _WORD.sub(lambda m: self.repair(m.group(0)), text)


def normalize(text: str) -> str:
    """The default normalisation used by the lexicon layer (slang and misspellings from the shipped lexicon)."""
    from guide.safety.lexicon import default_lexicon

    return default_lexicon().normalizer(text)
