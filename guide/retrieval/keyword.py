"""BM25 keyword retrieval (rank-bm25's Okapi BM25) with a real tokenizer, persisted as JSON.

The tokenizer folds case and accents, drops stopwords, applies a light suffix stemmer, and maps
out-of-vocabulary query words to the closest indexed word so that "recovry" still finds "recovery".
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from guide.errors import IndexNotBuiltError
from guide.types import Chunk

if TYPE_CHECKING:
    import numpy as np

FORMAT_VERSION = 2
_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    im ive id dont doesnt isnt cant wont get got really also ok okay please tell know want like thing things
    el la los las un una unos unas de del y o que en es por para con se su sus al lo como mas pero mi me
    le les ya muy sin sobre este esta esto hay ser son le du des et est pour dans une qui""".split()
)
_SUFFIXES = ("ational", "ization", "fulness", "iveness", "ations", "ation", "ments", "ment", "ings", "ing",
             "ness", "ies", "ied", "ers", "est", "ed", "es", "ly", "er", "s")


def fold(text: str) -> str:
    """Lower case without accents: the form both the tokenizer and query expansion match on."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light, deterministic suffix stemmer (enough to match meeting/meetings, drinking/drinks)."""
    if len(word) <= 4 or word.isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if suffix == "ies":
                base += "y"
            return base
    return word


@lru_cache(maxsize=1)
def tokenizer_id() -> str:
    """Changes whenever this module changes, so saved tokens from an older tokenizer are not reused."""
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


_COMPOUND = re.compile(r"\b([a-z]+)-([a-z]+)\b")


def tokenize(text: str) -> list[str]:
    """Tokens for BM25: folded, stopwords removed, stemmed; "Al-Anon" also yields "alanon"."""
    out = []
    folded = fold(text)
    for a, b in _COMPOUND.findall(folded):
        if len(a) + len(b) >= 5:
            out.append(stem(a + b))
    for tok in _TOKEN.findall(folded):
        tok = tok.replace("’", "'").split("'")[0]
        if tok and tok not in STOPWORDS and (len(tok) > 1 or tok.isdigit()):
            out.append(stem(tok))
    return out


class KeywordIndex:
    """BM25 over chunk texts (header path included); holds the chunks so hits carry provenance."""

    def __init__(self, chunks: Sequence[Chunk], corpus_hash: str = "", tokens: Sequence[list[str]] | None = None) -> None:
        from rank_bm25 import BM25Okapi

        self.chunks = list(chunks)
        self.corpus_hash = corpus_hash
        # saved tokens spare a re-tokenisation of every chunk on each start (seconds at ×10 the corpus)
        self._tokens = ([list(t) for t in tokens] if tokens is not None and len(tokens) == len(self.chunks)
                        else [tokenize(c.search_text) for c in self.chunks])
        self._vocab = sorted({t for toks in self._tokens for t in toks})
        self._vocab_set = set(self._vocab)
        self._bm25 = BM25Okapi(self._tokens) if self.chunks else None
        self._postings = self._build_postings()

    def _build_postings(self) -> "dict[str, tuple[np.ndarray, np.ndarray]]":
        """term -> (chunk indices, precomputed BM25 term weights without idf), so a query touches only the
        chunks that contain its terms; scores equal rank-bm25's get_scores, which loops over every chunk."""
        import numpy as np

        if self._bm25 is None:
            return {}
        bm, rows = self._bm25, {}
        k1, b, avgdl = bm.k1, bm.b, bm.avgdl
        for i, freqs in enumerate(bm.doc_freqs):
            norm = k1 * (1 - b + b * bm.doc_len[i] / avgdl)
            for term, tf in freqs.items():
                rows.setdefault(term, ([], []))
                rows[term][0].append(i)
                rows[term][1].append(tf * (k1 + 1) / (tf + norm))
        return {t: (np.asarray(ix, dtype=np.int64), np.asarray(w, dtype=np.float64)) for t, (ix, w) in rows.items()}

    def scores(self, tokens: Sequence[str]) -> "np.ndarray":
        """BM25 score of every chunk for the query tokens (a repeated token counts again, as in rank-bm25)."""
        import numpy as np

        out = np.zeros(len(self.chunks), dtype=np.float64)
        if self._bm25 is None:
            return out
        for token in tokens:
            posting = self._postings.get(token)
            idf = self._bm25.idf.get(token) or 0.0
            if posting is not None and idf:
                out[posting[0]] += idf * posting[1]
        return out

    def __len__(self) -> int:
        return len(self.chunks)

    def _correct(self, token: str) -> str:
        if token in self._vocab_set or len(token) < 4 or token.isdigit():
            return token
        close = difflib.get_close_matches(token, self._vocab, n=1, cutoff=0.8)
        return close[0] if close else token

    def query_tokens(self, query: str) -> list[str]:
        tokens = tokenize(query)
        corrected = {t: self._correct(t) for t in dict.fromkeys(tokens)}  # difflib once per distinct word
        return [corrected[t] for t in tokens]

    def search(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        if self._bm25 is None:
            return []
        tokens = self.query_tokens(query)
        if not tokens:
            return []
        import numpy as np

        scores = self.scores(tokens)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > k:  # keep everything tied with the k-th best, then order exactly
            kth = np.partition(scores[candidates], len(candidates) - k)[len(candidates) - k]
            candidates = candidates[scores[candidates] >= kth]
        order = candidates[np.lexsort((candidates, -scores[candidates]))][:k]
        return [(self.chunks[i], float(scores[i])) for i in order]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": FORMAT_VERSION,
            "corpus_hash": self.corpus_hash,
            "chunks": [c.model_dump(mode="json") for c in self.chunks],
            "tokenizer": tokenizer_id(),
            "tokens": self._tokens,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "KeywordIndex":
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if payload.get("format") != FORMAT_VERSION:
                raise ValueError("old format")
            chunks = [Chunk.model_validate(c) for c in payload["chunks"]]
        except FileNotFoundError:
            raise IndexNotBuiltError(f"Keyword index {path} is missing. Run `guide ingest`.") from None
        except (ValueError, KeyError, TypeError):
            raise IndexNotBuiltError(f"Keyword index {path} is unreadable or outdated. Run `guide ingest --rebuild`.") from None
        tokens = payload.get("tokens") if payload.get("tokenizer") == tokenizer_id() else None
        return cls(chunks, payload.get("corpus_hash", ""), tokens if isinstance(tokens, list) else None)
