"""Query expansion from a reviewed synonym file: brand names, slang, abbreviations and core Spanish
terms gain the words the corpus uses ("suboxone" → "buprenorphine"), so both search sides can match."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import yaml

from guide.retrieval.keyword import fold

_WORD = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=1)
def synonyms() -> dict[str, str]:
    data = yaml.safe_load(resources.files("guide.retrieval").joinpath("data/synonyms.yaml").read_text("utf-8"))
    merged: dict[str, str] = {}
    for table in data.values():
        merged.update({fold(str(k)): str(v) for k, v in table.items()})
    return merged


@lru_cache(maxsize=1)
def phrases() -> dict[str, str]:
    """Entries whose key is several words ("alcoholicos anonimos"), matched as a whole phrase."""
    return {k: v for k, v in synonyms().items() if " " in k}


def expand_query(query: str) -> str:
    """The query plus the expansions of its phrases and words (each expansion once; a word inside a matched
    phrase is not expanded again on its own)."""
    table = synonyms()
    folded = fold(query)
    words = _WORD.findall(folded)
    padded = f" {' '.join(words)} "
    matched = [(phrase, expansion) for phrase, expansion in phrases().items() if f" {phrase} " in padded]
    covered = {w for phrase, _ in matched for w in phrase.split()}
    extra: list[str] = []
    for expansion in [table.get(w) for w in words if w not in covered] + [e for _, e in matched]:
        if expansion and expansion not in extra and expansion not in folded:
            extra.append(expansion)
    return f"{query} ({'; '.join(extra)})" if extra else query
