"""Vector stores: a Protocol, Chroma (embedded PersistentClient or a server via HttpClient) through
langchain-chroma, and an in-memory fake. The same ChromaStore code serves both Chroma clients; only the
injected client differs (GUIDE_CHROMA_URL unset → embedded under the data dir)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from guide.errors import StoreUnavailableError
from guide.types import Chunk

if TYPE_CHECKING:
    import numpy as np

    from guide.config import Settings
    from guide.retrieval.embedding import Embedder


class VectorStore(Protocol):
    """What retrieval and ingestion need from a vector database."""

    def add(self, chunks: Sequence[Chunk], on_batch: Callable[[int], None] | None = None) -> None: ...
    def delete_docs(self, doc_ids: Sequence[str]) -> None: ...
    def query(self, vector: "np.ndarray", k: int) -> list[tuple[Chunk, float]]: ...
    def doc_hashes(self) -> dict[str, str]: ...
    def all_chunks(self) -> list[Chunk]: ...
    def count(self) -> int: ...
    def get_state(self) -> dict[str, str]: ...
    def set_state(self, state: dict[str, str]) -> None: ...
    def reset(self) -> None: ...


def chunk_metadata(chunk: Chunk) -> dict[str, Any]:
    return {
        "doc_id": chunk.doc_id,
        "title": chunk.title,
        "section": chunk.section,
        "url": chunk.url,
        "position": chunk.position,
        "audience": ",".join(chunk.audience),
        "topics": ",".join(chunk.topics),
        "doc_sha": chunk.doc_sha,
        "summary": chunk.summary,
        "text": chunk.text,
    }


def chunk_from(chunk_id: str, meta: dict[str, Any]) -> Chunk:
    """Rebuild a Chunk from Chroma metadata (the stored document is the search text, the chunk text is in metadata)."""
    return Chunk(
        id=chunk_id,
        text=str(meta.get("text", "")),
        doc_id=str(meta["doc_id"]),
        title=str(meta["title"]),
        section=str(meta["section"]),
        url=str(meta["url"]),
        position=int(meta.get("position", 0)),
        audience=tuple(a for a in str(meta.get("audience", "")).split(",") if a),
        topics=tuple(t for t in str(meta.get("topics", "")).split(",") if t),
        doc_sha=str(meta.get("doc_sha", "")),
        summary=str(meta.get("summary", "")),
    )


class EmbedderAsLangChain:
    """Adapter: our Embedder as a LangChain `Embeddings`, so langchain-chroma embeds with our model
    (Chroma's own default embedding function would download one)."""

    def __init__(self, embedder: "Embedder") -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed([text])[0].tolist()


def make_chroma_client(settings: "Settings") -> Any:
    """Embedded PersistentClient under the data dir, or an HttpClient when GUIDE_CHROMA_URL is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
    if settings.chroma_url is None:
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        try:
            return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)
        except Exception as exc:  # a corrupted directory shows up here
            raise StoreUnavailableError(
                f"The embedded index at {settings.chroma_path} cannot be opened ({type(exc).__name__}: {exc}). "
                "Run `guide ingest --rebuild` (it recreates the directory)."
            ) from None
    url = urlparse(settings.chroma_url)
    try:
        import httpx

        # HttpClient() itself talks to the server with no timeout, so a hung server would hang us: probe first.
        httpx.get(f"{settings.chroma_url}/api/v2/heartbeat", timeout=settings.chroma_timeout_s).raise_for_status()
        client = chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
        _bound_wait(client, settings.chroma_timeout_s)
        client.heartbeat()
        return client
    except Exception as exc:
        raise StoreUnavailableError(
            f"Cannot reach the Chroma server at {settings.chroma_url} ({type(exc).__name__}). Start it "
            "(`chroma run --host 127.0.0.1 --port PORT --path DIR`) or unset GUIDE_CHROMA_URL to use the embedded store."
        ) from None


def _bound_wait(client: Any, seconds: float) -> None:
    """chromadb's HttpClient waits forever on a hung server; give its httpx session a timeout instead."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(seconds)


class ChromaStore:
    """Chroma through langchain-chroma, with our embedder; state (model, corpus hash) kept in collection metadata."""

    def __init__(self, client: Any, collection: str, embedder: "Embedder", batch_size: int = 64) -> None:
        from langchain_chroma import Chroma

        self.client = client
        self.name = collection
        self.embedder = embedder
        self.batch_size = batch_size
        self._lock = threading.Lock()
        try:
            self._raw = client.get_or_create_collection(
                collection, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
            )
            self._lc = Chroma(collection_name=collection, client=client, embedding_function=EmbedderAsLangChain(embedder))
        except Exception as exc:
            raise StoreUnavailableError(f"Cannot open collection {collection!r}: {type(exc).__name__}: {exc}") from None

    def _guard(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except StoreUnavailableError:
            raise
        except Exception as exc:
            raise StoreUnavailableError(
                f"The vector store failed while {what} ({type(exc).__name__}: {exc}). "
                "If the index files were removed or damaged, run `guide ingest --rebuild`; "
                "if you use a Chroma server, check that it is running."
            ) from None

    def add(self, chunks: Sequence[Chunk], on_batch: Callable[[int], None] | None = None) -> None:
        for start in range(0, len(chunks), self.batch_size):
            batch = list(chunks[start:start + self.batch_size])
            self._guard(
                "adding chunks",
                lambda b=batch: self._lc.add_texts(
                    [c.search_text for c in b], metadatas=[chunk_metadata(c) for c in b], ids=[c.id for c in b]
                ),
            )
            if on_batch:
                on_batch(len(batch))

    def delete_docs(self, doc_ids: Sequence[str]) -> None:
        for doc_id in doc_ids:
            ids = self._guard("finding chunks", lambda d=doc_id: self._raw.get(where={"doc_id": d}, include=[])["ids"])
            if ids:
                self._guard("deleting chunks", lambda i=ids: self._raw.delete(ids=i))

    def query(self, vector: "np.ndarray", k: int) -> list[tuple[Chunk, float]]:
        # No count() first: Chroma returns [] for an empty collection and at most n results when k > n,
        # and a COUNT per query grows with the collection (measured by `guide bench`).
        results = self._guard(
            "searching",
            lambda: self._lc.similarity_search_by_vector_with_relevance_scores(vector.tolist(), k=k),
        )
        out = []
        for doc, distance in results:
            out.append((chunk_from(str(doc.id), doc.metadata), 1.0 - float(distance)))
        return out

    #: Rows read per get(): one unpaged get() of a large collection fails in embedded Chroma with
    #: "too many SQL variables" (seen at 52,000 chunks by `guide bench --scale 100`).
    page_size = 5000

    def _all(self, include: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"ids": [], **{key: [] for key in include}}
        offset = 0
        while True:
            page = self._guard("reading the collection",
                               lambda o=offset: self._raw.get(include=include, limit=self.page_size, offset=o))
            out["ids"] += page["ids"]
            for key in include:
                out[key] += page.get(key) or []
            if len(page["ids"]) < self.page_size:
                return out
            offset += self.page_size

    def doc_hashes(self) -> dict[str, str]:
        got = self._all(["metadatas"])
        return {str(m["doc_id"]): str(m.get("doc_sha", "")) for m in got["metadatas"] or []}

    def all_chunks(self) -> list[Chunk]:
        got = self._all(["metadatas"])
        chunks = [chunk_from(cid, meta) for cid, meta in zip(got["ids"], got["metadatas"], strict=True)]
        return sorted(chunks, key=lambda c: (c.doc_id, c.position))

    def count(self) -> int:
        return int(self._guard("counting", self._raw.count))

    def get_state(self) -> dict[str, str]:
        raw = self._guard("reading state", lambda: self.client.get_collection(self.name, embedding_function=None))
        return {k: str(v) for k, v in (raw.metadata or {}).items()}

    def set_state(self, state: dict[str, str]) -> None:
        self._guard("saving state", lambda: self._raw.modify(metadata=dict(state)))

    def reset(self) -> None:
        from langchain_chroma import Chroma

        with self._lock:
            try:
                self.client.delete_collection(self.name)
            except Exception:  # noqa: BLE001 - absent collection is fine
                pass
            self._raw = self._guard(
                "recreating the collection",
                lambda: self.client.get_or_create_collection(
                    self.name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
                ),
            )
            self._lc = Chroma(
                collection_name=self.name, client=self.client, embedding_function=EmbedderAsLangChain(self.embedder)
            )


class InMemoryStore:
    """A fake VectorStore for fast tests: exact cosine search over numpy arrays."""

    def __init__(self, embedder: "Embedder") -> None:
        self.embedder = embedder
        self._chunks: dict[str, Chunk] = {}
        self._vectors: dict[str, Any] = {}
        self._state: dict[str, str] = {}

    def add(self, chunks: Sequence[Chunk], on_batch: Callable[[int], None] | None = None) -> None:
        vectors = self.embedder.embed([c.search_text for c in chunks]) if chunks else []
        for c, v in zip(chunks, vectors, strict=True):
            self._chunks[c.id] = c
            self._vectors[c.id] = v
        if on_batch:
            on_batch(len(chunks))

    def delete_docs(self, doc_ids: Sequence[str]) -> None:
        for cid in [cid for cid, c in self._chunks.items() if c.doc_id in set(doc_ids)]:
            del self._chunks[cid], self._vectors[cid]

    def query(self, vector: "np.ndarray", k: int) -> list[tuple[Chunk, float]]:
        scored = [(self._chunks[cid], float(vector @ v)) for cid, v in self._vectors.items()]
        return sorted(scored, key=lambda cs: (-cs[1], cs[0].id))[:k]

    def doc_hashes(self) -> dict[str, str]:
        return {c.doc_id: c.doc_sha for c in self._chunks.values()}

    def all_chunks(self) -> list[Chunk]:
        return sorted(self._chunks.values(), key=lambda c: (c.doc_id, c.position))

    def count(self) -> int:
        return len(self._chunks)

    def get_state(self) -> dict[str, str]:
        return dict(self._state)

    def set_state(self, state: dict[str, str]) -> None:
        self._state = dict(state)

    def reset(self) -> None:
        self._chunks.clear()
        self._vectors.clear()
        self._state = {}
