"""Ingestion (incremental, idempotent) and retrieval over the vetted corpus.

The collection's metadata records the embedding model, chunking and corpus hash: a model or chunking
change triggers a full rebuild with a message saying why; a changed corpus re-embeds only changed docs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guide.corpus import corpus_hash, load_vetted
from guide.errors import IndexNotBuiltError, InputError, StoreUnavailableError
from guide.retrieval.chunking import chunk_documents
from guide.retrieval.expansion import expand_query
from guide.retrieval.hybrid import reciprocal_rank_fusion
from guide.retrieval.keyword import KeywordIndex
from guide.retrieval.rerank import IdentityReranker, Reranker
from guide.retrieval.sentences import SentenceIndex
from guide.types import MODES, Chunk, Document, Hit, Mode

if TYPE_CHECKING:
    import numpy as np

    from guide.config import Settings
    from guide.retrieval.crosslingual import CrossLingualIndex
    from guide.retrieval.embedding import Embedder
    from guide.retrieval.store import VectorStore

log = logging.getLogger("guide.index")
INDEX_FORMAT = "2"

#: progress(stage, done, total); the CLI draws a tqdm bar, the app a st.progress bar.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class IngestReport:
    documents: int
    added: tuple[str, ...]
    updated: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    chunks_embedded: int
    total_chunks: int
    rebuilt: bool
    reason: str | None
    seconds: float
    corpus_hash: str

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.rebuilt)

    def summary(self) -> str:
        if not self.changed:
            return f"Index up to date: {self.documents} documents, {self.total_chunks} chunks ({self.seconds:.1f}s)."
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated", f"{len(self.removed)} removed"]
        head = f"Rebuilt index ({self.reason}). " if self.rebuilt else ""
        return (
            f"{head}{self.documents} documents ({', '.join(parts)}, {self.unchanged} unchanged); "
            f"embedded {self.chunks_embedded} chunks, {self.total_chunks} in total ({self.seconds:.1f}s)."
        )


def _chunking_key(settings: "Settings") -> str:
    return f"{settings.chunk_size}/{settings.chunk_overlap}"


def rebuild_reason(state: dict[str, str], embedder_name: str, chunking: str) -> str | None:
    """Why an existing collection cannot be reused, or None if it can."""
    if not state:
        return None
    if state.get("format") != INDEX_FORMAT:
        return f"index format {state.get('format')!r} is not {INDEX_FORMAT!r}"
    if state.get("embedding_model") != embedder_name:
        return f"it was built with embedding model {state.get('embedding_model')!r}, now {embedder_name!r}"
    if state.get("chunking") != chunking:
        return f"chunking changed from {state.get('chunking')} to {chunking}"
    return None


def ingest(
    settings: "Settings",
    store: "VectorStore",
    embedder: "Embedder",
    *,
    rebuild: bool = False,
    documents: Sequence[Document] | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring the store and keyword index in line with the vetted corpus, embedding only what changed."""
    started = time.perf_counter()
    docs = tuple(documents) if documents is not None else load_vetted(settings.corpus_dir)
    chunking = _chunking_key(settings)
    state = store.get_state()
    reason = "--rebuild was given" if rebuild else rebuild_reason(state, embedder.name, chunking)
    if reason:
        log.warning("Rebuilding the index: %s", reason)
        store.reset()
    existing = store.doc_hashes()
    by_id = {d.id: d for d in docs}
    added = tuple(sorted(i for i in by_id if i not in existing))
    updated = tuple(sorted(i for i in by_id if i in existing and existing[i] != by_id[i].sha256))
    removed = tuple(sorted(i for i in existing if i not in by_id))
    if updated or removed:
        store.delete_docs([*updated, *removed])
    to_embed = chunk_documents([by_id[i] for i in (*added, *updated)], settings.chunk_size, settings.chunk_overlap)
    done = 0
    if progress:
        progress("embedding", 0, len(to_embed))

    def _advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("embedding", done, len(to_embed))

    store.add(to_embed, on_batch=_advance)
    c_hash = corpus_hash(docs)
    store.set_state(
        {"format": INDEX_FORMAT, "embedding_model": embedder.name, "chunking": chunking, "corpus_hash": c_hash,
         "documents": str(len(docs))}
    )
    all_chunks = store.all_chunks()
    KeywordIndex(all_chunks, c_hash).save(settings.keyword_path)
    old = None if reason else SentenceIndex.load(settings.sentences_path)
    sentences = SentenceIndex.build(
        all_chunks, embedder, c_hash, progress=progress, reuse=old, changed_docs=frozenset((*added, *updated))
    )
    sentences.save(settings.sentences_path)
    return IngestReport(
        documents=len(docs),
        added=added,
        updated=updated,
        removed=removed,
        unchanged=len(docs) - len(added) - len(updated),
        chunks_embedded=len(to_embed),
        total_chunks=len(all_chunks),
        rebuilt=bool(reason),
        reason=reason,
        seconds=time.perf_counter() - started,
        corpus_hash=c_hash,
    )


def clean_query(query: str, max_chars: int) -> str:
    """Strip control characters and whitespace; cut very long queries to max_chars (documented)."""
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in query)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise InputError("The query is empty. Type a question, for example: what happens at a first AA meeting?")
    return cleaned[:max_chars]


class Retriever:
    """Dense, keyword and hybrid (RRF) search returning typed Hits with provenance."""

    def __init__(
        self,
        store: "VectorStore",
        keyword: KeywordIndex,
        embedder: "Embedder",
        *,
        rrf_k: int = 60,
        max_query_chars: int = 4000,
        reranker: Reranker | None = None,
        sentences: SentenceIndex | None = None,
        crosslingual: "CrossLingualIndex | None" = None,
    ) -> None:
        self.store = store
        self.sentences = sentences
        #: multilingual vectors of the same chunks: what questions in other languages are searched with
        self.crosslingual = crosslingual
        self.keyword = keyword
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.max_query_chars = max_query_chars
        self.reranker = reranker or IdentityReranker()
        self._chunks: dict[str, Chunk] = {c.id: c for c in keyword.chunks}
        self._by_doc: dict[str, list[Chunk]] = {}
        for c in sorted(keyword.chunks, key=lambda c: c.position):
            self._by_doc.setdefault(c.doc_id, []).append(c)
        self.doc_ids = frozenset(self._by_doc)
        self._lock = threading.Lock()

    @property
    def chunks(self) -> dict[str, Chunk]:
        return self._chunks

    def doc_chunks(self, doc_id: str) -> list[Chunk]:
        """A document's chunks in order, without scanning the whole corpus (it matters at ×100)."""
        return self._by_doc.get(doc_id, [])

    def prepare(self, query: str) -> str:
        """The text both search sides see: cleaned, bounded and expanded with the reviewed synonyms."""
        return expand_query(clean_query(query, self.max_query_chars))

    def dense(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        vector = self.embedder.embed([query])[0]
        return self.store.query(vector, k)

    def _crosslingual(self, query: str, k: int) -> list[tuple[Chunk, float]]:
        """Dense matches under the multilingual encoder. It reads the expanded question: the reviewed synonyms add
        the corpus's English term for a drug name it barely knows ("metadona" → "methadone")."""
        assert self.crosslingual is not None
        return [(self._chunks[cid], s) for cid, s in self.crosslingual.search(query, k) if cid in self._chunks]

    def search(self, query: str, k: int = 5, mode: Mode = "hybrid", rerank: bool = True,
               language: str = "en") -> list[Hit]:
        """The k best hits; in hybrid mode the reranker orders the fused candidates unless `rerank` is False
        (the pipeline turns it off for questions the English-only cross-encoder cannot read). For a question in another
        language, the dense side uses the multilingual vectors when the index has them (docs/evaluation.md)."""
        if mode not in MODES:
            raise InputError(f"Unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}.")
        if k < 1:
            raise InputError("k must be at least 1.")
        asked = clean_query(query, self.max_query_chars)  # the reranker reads the question as asked
        query = expand_query(asked)
        pool = max(k * 4, 20)
        crosslingual = language != "en" and self.crosslingual is not None
        if mode == "dense" and crosslingual:
            return [Hit(chunk=c, score=s, rank=i, mode="dense", dense_score=s, dense_rank=i)
                    for i, (c, s) in enumerate(self._crosslingual(query, k), 1)]
        if mode == "dense":
            dense = self.dense(query, k)
            return [Hit(chunk=c, score=s, rank=i, mode="dense", dense_score=s, dense_rank=i)
                    for i, (c, s) in enumerate(dense, 1)]
        if mode == "keyword":
            kw = self.keyword.search(query, k)
            return [Hit(chunk=c, score=s, rank=i, mode="keyword", keyword_score=s, keyword_rank=i)
                    for i, (c, s) in enumerate(kw, 1)]
        dense = self._crosslingual(query, pool) if crosslingual else self.dense(query, pool)
        kw = self.keyword.search(query, pool)
        d_info = {c.id: (s, r) for r, (c, s) in enumerate(dense, 1)}
        k_info = {c.id: (s, r) for r, (c, s) in enumerate(kw, 1)}
        chunks = {c.id: c for c, _ in [*dense, *kw]}
        fused = reciprocal_rank_fusion([[c.id for c, _ in dense], [c.id for c, _ in kw]], k=self.rrf_k)
        hits = []
        for rank, (cid, score) in enumerate(fused[: max(k, pool)], 1):
            ds, dr = d_info.get(cid, (None, None))
            ks, kr = k_info.get(cid, (None, None))
            hits.append(Hit(chunk=chunks[cid], score=score, rank=rank, mode="hybrid",
                            dense_score=ds, dense_rank=dr, keyword_score=ks, keyword_rank=kr))
        if rerank:
            hits = self.reranker.rerank(asked, hits)
        return [h.model_copy(update={"rank": i}) for i, h in enumerate(hits[:k], 1)]


def load_keyword(settings: "Settings", store: "VectorStore", expected_hash: str) -> KeywordIndex:
    """The persisted BM25 index, rebuilt from the store when missing or stale."""
    try:
        kw = KeywordIndex.load(settings.keyword_path)
        if kw.corpus_hash == expected_hash and len(kw):
            return kw
        log.warning("Keyword index is stale; rebuilding it from the vector store.")
    except IndexNotBuiltError as exc:
        log.warning("%s Rebuilding it from the vector store.", exc)
    kw = KeywordIndex(store.all_chunks(), expected_hash)
    kw.save(settings.keyword_path)
    return kw


def open_retriever(
    settings: "Settings",
    *,
    embedder: "Embedder | None" = None,
    store: "VectorStore | None" = None,
    progress: Progress | None = None,
    auto_ingest: bool = True,
    reranker: Reranker | None = None,
) -> tuple[Retriever, IngestReport | None]:
    """Open the index, building or updating it first if it is missing or the corpus changed."""
    from guide.retrieval.embedding import make_embedder
    from guide.retrieval.store import ChromaStore, make_chroma_client

    embedder = embedder or make_embedder(settings.embedding_model)
    if store is None:
        store = ChromaStore(make_chroma_client(settings), settings.collection, embedder)
    docs = load_vetted(settings.corpus_dir)
    state = store.get_state()
    needs = (
        store.count() == 0
        or state.get("corpus_hash") != corpus_hash(docs)
        or rebuild_reason(state, embedder.name, _chunking_key(settings)) is not None
    )
    report = None
    if needs:
        if not auto_ingest:
            raise IndexNotBuiltError("The index is missing or out of date. Run `guide ingest`.")
        report = ingest(settings, store, embedder, documents=docs, progress=progress)
    c_hash = store.get_state().get("corpus_hash", "")
    kw = load_keyword(settings, store, c_hash)
    sentences = SentenceIndex.load(settings.sentences_path)
    if sentences is None or sentences.corpus_hash != c_hash or set(sentences.sentences) != {c.id for c in kw.chunks}:
        log.warning("Sentence cache missing or stale; rebuilding it.")
        sentences = SentenceIndex.build(kw.chunks, embedder, c_hash, progress=progress, reuse=sentences)
        sentences.save(settings.sentences_path)
    if reranker is None:
        from guide.retrieval.rerank import make_reranker

        reranker = make_reranker(settings.reranker, settings.rerank_depth)
    crosslingual = None
    if settings.multilingual_model != "none":
        from guide.retrieval.crosslingual import open_crosslingual

        crosslingual = open_crosslingual(settings.crosslingual_path, make_embedder(settings.multilingual_model),
                                         kw.chunks, sentences, c_hash, progress=progress)
    retriever = Retriever(store, kw, embedder, rrf_k=settings.rrf_k, max_query_chars=settings.max_message_chars,
                          sentences=sentences, reranker=reranker, crosslingual=crosslingual)
    return retriever, report


def forget_embedded_client(settings: "Settings") -> None:
    """Drop chromadb's per-process cache of the embedded client for this data dir, so the next client opens
    the files again instead of reusing a connection to deleted or damaged ones (server clients are not cached)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    if settings.chroma_url is None:
        SharedSystemClient._identifier_to_system.pop(str(settings.chroma_path), None)
        SharedSystemClient._identifier_to_refcount.pop(str(settings.chroma_path), None)


def discard_embedded_index(settings: "Settings") -> None:
    """Delete the embedded index directory (derived data, rebuilt from the corpus) so a damaged index can be
    recreated."""
    import shutil

    forget_embedded_client(settings)
    if settings.chroma_url is None:
        shutil.rmtree(settings.chroma_path, ignore_errors=True)


def reopen_retriever(settings: "Settings", failed: Retriever, progress: Progress | None = None) -> Retriever:
    """Self-healing after the index failed mid-session: open it again with fresh clients (rebuilding what is
    missing); an embedded index that still cannot be opened is damaged, so it is deleted and rebuilt."""
    from guide.retrieval.store import ChromaStore

    if not isinstance(failed.store, ChromaStore):  # a fake or custom store is not ours to rebuild
        raise StoreUnavailableError("The search index failed and cannot be reopened in place.")
    forget_embedded_client(settings)
    try:
        retriever, report = open_retriever(settings, embedder=failed.embedder, progress=progress,
                                           reranker=failed.reranker)
    except StoreUnavailableError:
        if settings.chroma_url is not None:
            raise
        log.warning("The embedded index at %s is damaged; rebuilding it from the corpus.", settings.chroma_path)
        discard_embedded_index(settings)
        retriever, report = open_retriever(settings, embedder=failed.embedder, progress=progress,
                                           reranker=failed.reranker)
    if report is not None:
        log.warning("Index rebuilt: %s", report.summary())
    return retriever


__all__ = ["IngestReport", "Retriever", "StoreUnavailableError", "ingest", "open_retriever", "clean_query", "MODES",
           "reopen_retriever", "discard_embedded_index", "forget_embedded_client"]
