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


def expand_query(query: str) -> str:
    """The query plus the expansions of any words it contains (each expansion once)."""
    table = synonyms()
    folded = fold(query)
    extra = []
    for word in _WORD.findall(folded):
        expansion = table.get(word)
        if expansion and expansion not in extra and expansion not in folded:
            extra.append(expansion)
    for phrase in ("al anon", "nar anon"):
        if phrase in folded:
            extra.append(phrase.replace(" ", "-"))
    return f"{query} ({'; '.join(extra)})" if extra else query
