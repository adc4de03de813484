"""The reranker seam: a Protocol and the identity reranker used by default.

A cross-encoder can be plugged in later without touching retrieval or the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from guide.types import Hit


class Reranker(Protocol):
    name: str

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]: ...


class IdentityReranker:
    """Keeps the fused order; the default until a packaged cross-encoder is available offline."""

    name = "identity"

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        return list(hits)
