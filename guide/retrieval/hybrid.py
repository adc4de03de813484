"""Reciprocal rank fusion: combine rankings without calibrating their scores against each other.

score(d) = sum over rankings of 1 / (k + rank(d)), ranks starting at 1, k = 60 as in Cormack, Clarke and
Büttcher (SIGIR 2009); a larger k flattens the advantage of the very top ranks.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[K]], k: int = 60) -> list[tuple[K, float]]:
    """Fuse ranked id lists into one list of (id, score), best first; ties keep first-seen order."""
    if k <= 0:
        raise ValueError("k must be positive")
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    order = {key: i for i, key in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))
