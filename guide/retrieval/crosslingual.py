"""Cross-lingual search: questions in Spanish or French matched against the English corpus by meaning.

The English bi-encoder and the English-only cross-encoder cannot read "¿La metadona es solo cambiar una droga por
otra?", so such questions used to land on whatever passage mentions Spanish. A multilingual encoder (USE
multilingual v3 by default, the one the crisis classifier already loads) places a question and the English passage
that answers it close together. This index holds that encoder's vectors for every chunk (heading path + passage)
and every sentence (title + sentence, as the composer scores them), computed once per corpus and cached in the data
dir beside the sentence cache, like it. Measured on the real-words dev split (docs/evaluation.md).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from guide.types import Chunk

if TYPE_CHECKING:
    import numpy as np

    from guide.retrieval.embedding import Embedder
    from guide.retrieval.sentences import SentenceIndex

log = logging.getLogger("guide.crosslingual")


def chunk_text(chunk: Chunk) -> str:
    """What the multilingual encoder reads for a passage: its heading path, then the passage."""
    return f"{chunk.section or chunk.title}. {chunk.text}"


def sentence_text(chunk: Chunk, sentence: str) -> str:
    """What it reads for a sentence: the document title, then the sentence (the composer's `scored_text`)."""
    return f"{chunk.title}. {sentence}"


class CrossLingualIndex:
    """chunk id → unit vector of the passage, and → unit vectors of its sentences, under one multilingual encoder."""

    def __init__(self, embedder: "Embedder", ids: Sequence[str], matrix: "np.ndarray",
                 sentences: "dict[str, np.ndarray]", corpus_hash: str) -> None:
        self.embedder = embedder
        self.ids = list(ids)
        self.matrix = matrix
        self.sentence_vectors = sentences
        self.corpus_hash = corpus_hash

    @classmethod
    def build(cls, chunks: Sequence[Chunk], sentences: "SentenceIndex", embedder: "Embedder", corpus_hash: str,
              progress: Callable[[str, int, int], None] | None = None, batch: int = 128) -> "CrossLingualIndex":
        import numpy as np

        ordered = sorted(chunks, key=lambda c: c.id)
        texts = [chunk_text(c) for c in ordered]
        flat = [(c.id, sentence_text(c, s)) for c in ordered for s in sentences.sentences.get(c.id, [])]
        todo = texts + [t for _, t in flat]
        vecs = []
        for start in range(0, len(todo), batch):
            vecs.append(np.asarray(embedder.embed(todo[start:start + batch]), dtype=np.float32))
            if progress:
                progress("multilingual", min(start + batch, len(todo)), len(todo))
        allv = np.concatenate(vecs) if vecs else np.zeros((0, embedder.dim), dtype=np.float32)
        matrix, rest = allv[: len(texts)], allv[len(texts):]
        per_chunk: dict[str, np.ndarray] = {}
        i = 0
        for c in ordered:
            n = len(sentences.sentences.get(c.id, []))
            per_chunk[c.id] = rest[i:i + n]
            i += n
        return cls(embedder, [c.id for c in ordered], matrix, per_chunk, corpus_hash)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """The k chunk ids closest to the question, with their cosines."""
        import numpy as np

        if not self.ids or k < 1:
            return []
        q = np.asarray(self.embedder.embed([query])[0], dtype=np.float32)
        scores = self.matrix @ q
        order = np.argsort(-scores, kind="stable")[:k]
        return [(self.ids[i], float(scores[i])) for i in order]

    def known_sentences(self, chunks: "dict[str, Chunk]", sentences: "SentenceIndex") -> "dict[str, np.ndarray]":
        """scored text → vector, for the cosine sentence scorer (so answers embed only the question)."""
        known: dict = {}
        for cid, vectors in self.sentence_vectors.items():
            chunk = chunks.get(cid)
            if chunk is not None:
                texts = [sentence_text(chunk, s) for s in sentences.sentences.get(cid, [])]
                known.update(zip(texts, vectors, strict=True))
        return known

    def matches(self, corpus_hash: str, chunk_ids: set[str], sentences: "SentenceIndex") -> bool:
        return (self.corpus_hash == corpus_hash and set(self.ids) == chunk_ids
                and all(len(self.sentence_vectors.get(c, ())) == len(sentences.sentences.get(c, ())) for c in chunk_ids))

    def save(self, path: Path) -> None:
        import numpy as np

        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"corpus_hash": self.corpus_hash, "encoder": self.embedder.name, "ids": self.ids}
        arrays = {f"s{n}": self.sentence_vectors[cid] for n, cid in enumerate(self.ids)}
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, meta=np.array(json.dumps(meta)), matrix=self.matrix, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, embedder: "Embedder") -> "CrossLingualIndex | None":
        """The cached index, or None when it is missing, damaged or from another encoder (it is then rebuilt)."""
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("encoder") != embedder.name:
                    return None
                ids = meta["ids"]
                sentences = {cid: data[f"s{n}"] for n, cid in enumerate(ids)}
                matrix = data["matrix"]
            return cls(embedder, ids, matrix, sentences, meta["corpus_hash"])
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - a damaged cache is rebuilt
            log.warning("Cross-lingual cache %s unreadable (%s); it will be rebuilt.", path, type(exc).__name__)
            return None


def open_crosslingual(path: Path, embedder: "Embedder", chunks: Sequence[Chunk], sentences: "SentenceIndex",
                      corpus_hash: str, progress: Callable[[str, int, int], None] | None = None) -> CrossLingualIndex:
    """The cached index when it matches the corpus, else a fresh one (saved for the next start)."""
    cached = CrossLingualIndex.load(path, embedder)
    if cached is not None and cached.matches(corpus_hash, {c.id for c in chunks}, sentences):
        return cached
    log.warning("Cross-lingual cache missing or stale; building it (%d passages).", len(chunks))
    index = CrossLingualIndex.build(chunks, sentences, embedder, corpus_hash, progress=progress)
    index.save(path)
    return index
