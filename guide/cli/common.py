"""What every `guide` subcommand shares: settings from the common flags, and a terminal progress bar."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guide.config import Settings
    from guide.retrieval.index import Progress


def settings_from(args: argparse.Namespace) -> "Settings":
    from guide.config import load_settings

    return load_settings(
        data_dir=getattr(args, "data_dir", None),
        corpus_dir=getattr(args, "corpus", None),
        chroma_url=getattr(args, "chroma_url", None),
        embedding_model=getattr(args, "embedding_model", None),
        reranker=getattr(args, "reranker", None),
        region=getattr(args, "region", None),
    )


def tqdm_progress(desc: str) -> "Progress":
    """A Progress callback drawing a tqdm bar on stderr (silent when stderr is not a terminal)."""
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=desc, unit="chunk", file=sys.stderr, disable=not sys.stderr.isatty())
        b = bar["bar"]
        b.total = total
        b.n = done
        b.refresh()
        if done >= total:
            b.close()

    return progress
