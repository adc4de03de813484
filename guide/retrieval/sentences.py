"""Sentence embeddings for every chunk, computed once at ingest and cached in the data dir, so the
extractive composer can score sentences against a question without embedding them per request."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from guide.types import Chunk

if TYPE_CHECKING:
    import numpy as np

    from guide.retrieval.embedding import Embedder

log = logging.getLogger("guide.sentences")
_SPLIT = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“(]?[A-Z0-9])")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of a chunk: bullets become their own sentences; very short fragments are dropped."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", text):
        block = " ".join(_BULLET.sub("", line).strip() for line in block.splitlines()).strip()
        if not block:
            continue
        for sentence in _SPLIT.split(block):
            sentence = sentence.strip()
            if len(sentence.split()) >= 4:
                if sentence[-1] not in ".!?\"”’)":
                    sentence += "."
                out.append(sentence)
    return out


class SentenceIndex:
    """chunk id → (sentences, unit vectors)."""

    def __init__(
        self, sentences: dict[str, list[str]], vectors: "dict[str, np.ndarray]", corpus_hash: str,
        headings: "dict[str, np.ndarray] | None" = None,
    ) -> None:
        self.sentences = sentences
        self.vectors = vectors
        self.corpus_hash = corpus_hash
        #: chunk id → unit vector of its header path ("Alcoholics Anonymous (AA) › Does AA cost money?")
        self.headings = headings or {}

    @classmethod
    def build(
        cls, chunks: Sequence[Chunk], embedder: "Embedder", corpus_hash: str,
        progress: Callable[[str, int, int], None] | None = None, batch: int = 256,
        reuse: "SentenceIndex | None" = None, changed_docs: frozenset[str] = frozenset(),
    ) -> "SentenceIndex":
        """Embed every chunk's sentences, reusing vectors of chunks whose document did not change."""
        import numpy as np

        per_chunk = {c.id: split_sentences(c.text) for c in chunks}
        labels = sorted({c.section for c in chunks})
        label_vecs = dict(zip(labels, embedder.embed(labels), strict=True)) if labels else {}
        headings = {c.id: label_vecs[c.section] for c in chunks}
        kept: dict[str, np.ndarray] = {}
        if reuse is not None:
            for c in chunks:
                if c.doc_id not in changed_docs and reuse.sentences.get(c.id) == per_chunk[c.id]:
                    kept[c.id] = reuse.vectors[c.id]
        flat = [(cid, s) for cid, ss in per_chunk.items() if cid not in kept for s in ss]
        vecs: list[np.ndarray] = []
        for start in range(0, len(flat), batch):
            vecs.append(embedder.embed([s for _, s in flat[start:start + batch]]))
            if progress:
                progress("sentences", min(start + batch, len(flat)), len(flat))
        matrix = np.concatenate(vecs) if vecs else np.zeros((0, embedder.dim), dtype=np.float32)
        vectors: dict[str, np.ndarray] = dict(kept)
        i = 0
        for cid, ss in per_chunk.items():
            if cid in kept:
                continue
            vectors[cid] = matrix[i:i + len(ss)]
            i += len(ss)
        return cls(per_chunk, vectors, corpus_hash, headings)

    @property
    def count(self) -> int:
        return sum(len(s) for s in self.sentences.values())

    def save(self, path: Path) -> None:
        import numpy as np

        path.parent.mkdir(parents=True, exist_ok=True)
        ids = sorted(self.sentences)
        meta = {"corpus_hash": self.corpus_hash, "ids": ids, "sentences": [self.sentences[i] for i in ids]}
        arrays = {f"v{n}": self.vectors[i] for n, i in enumerate(ids)}
        arrays.update({f"h{n}": self.headings[i] for n, i in enumerate(ids) if i in self.headings})
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, meta=np.array(json.dumps(meta, ensure_ascii=False)), **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "SentenceIndex | None":
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                vectors = {cid: data[f"v{n}"] for n, cid in enumerate(meta["ids"])}
                headings = {cid: data[f"h{n}"] for n, cid in enumerate(meta["ids"]) if f"h{n}" in data}
            sentences = dict(zip(meta["ids"], meta["sentences"], strict=True))
            if len(headings) != len(sentences):
                return None  # an older cache without heading vectors: rebuild
            return cls(sentences, vectors, meta["corpus_hash"], headings)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - a damaged cache is rebuilt
            log.warning("Sentence cache %s unreadable (%s); it will be rebuilt.", path, type(exc).__name__)
            return None
