"""One VectorStore contract, run against the in-memory fake the fast tests use, embedded Chroma
(PersistentClient) and a real Chroma server (`chroma run`), with the real packaged embedding model."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import pytest

from guide.config import Settings
from guide.corpus import load_vetted
from guide.errors import StoreUnavailableError
from guide.retrieval.chunking import chunk_documents
from guide.retrieval.embedding import PACKAGED_MINILM_INT8, make_embedder
from guide.retrieval.index import ingest, open_retriever
from guide.retrieval.store import ChromaStore, InMemoryStore, VectorStore, make_chroma_client

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "corpus"


class MemoEmbedder:
    """The real model's vectors, each text embedded once per module: both backends store the same vectors,
    and the suite stays quick."""

    def __init__(self, real) -> None:  # noqa: ANN001
        self.real, self.name, self.dim = real, real.name, real.dim
        self._memo: dict[str, object] = {}

    def embed(self, texts):  # noqa: ANN001, ANN201
        import numpy as np

        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            self._memo.update(zip(missing, self.real.embed(missing), strict=True))
        return np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)


@pytest.fixture(scope="module")
def embedder() -> MemoEmbedder:
    return MemoEmbedder(make_embedder(PACKAGED_MINILM_INT8))


@pytest.fixture(scope="module")
def chunks():
    return chunk_documents(load_vetted(FIXTURE))


#: Every backend runs every contract test; persistence across clients is Chroma's alone.
BACKENDS = ["memory", "embedded", "server"]
PERSISTENT_BACKENDS = ["embedded", "server"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture()
def settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path, fixture_corpus: Path) -> Settings:
    """Settings for one backend, each test with its own collection (the server is shared by the session)."""
    url = request.getfixturevalue("chroma_server") if backend == "server" else None
    return Settings(
        data_dir=tmp_path / "data", corpus_dir=fixture_corpus, embedding_model=PACKAGED_MINILM_INT8,
        chroma_url=url, collection=f"contract-{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture()
def open_store(backend: str, settings: Settings, embedder):  # noqa: ANN201
    """open_store(): this test's store. Chroma opens a new client on the same collection at each call (what
    another process sees); the in-memory store is one instance per test (it lives as long as its process)."""
    memory = InMemoryStore(embedder)

    def open_() -> VectorStore:
        if backend == "memory":
            return memory
        return ChromaStore(make_chroma_client(settings), settings.collection, embedder)

    return open_


@pytest.fixture()
def store(open_store) -> VectorStore:  # noqa: ANN001
    return open_store()


def test_empty_store(store: VectorStore, embedder) -> None:
    assert store.count() == 0
    assert store.doc_hashes() == {}
    assert store.all_chunks() == []
    assert store.query(embedder.embed(["anything"])[0], 5) == []


def test_add_count_and_all_chunks_round_trip(store: VectorStore, chunks) -> None:
    batches: list[int] = []
    store.add(chunks, on_batch=batches.append)
    assert store.count() == len(chunks)
    assert sum(batches) == len(chunks)
    assert store.all_chunks() == sorted(chunks, key=lambda c: (c.doc_id, c.position))
    store.add(chunks[:3])  # an upsert: the same ids again replace, never duplicate
    assert store.count() == len(chunks)
    store.add([])
    assert store.count() == len(chunks)


def test_query_ranks_the_right_chunk_first(store: VectorStore, chunks, embedder) -> None:
    store.add(chunks)
    results = store.query(embedder.embed(["Is SMART Recovery religious?"])[0], 5)
    assert len(results) == 5
    top, score = results[0]
    assert top.section == "SMART Recovery › Is SMART Recovery religious?"
    assert top == next(c for c in chunks if c.id == top.id)
    scores = [s for _, s in results]
    assert scores == sorted(scores, reverse=True) and 0 < score <= 1.0001
    assert len(store.query(embedder.embed(["naloxone"])[0], 10_000)) == len(chunks)


def test_doc_hashes_and_delete_docs(store: VectorStore, chunks) -> None:
    store.add(chunks)
    assert store.doc_hashes() == {c.doc_id: c.doc_sha for c in chunks}
    store.delete_docs(["alateen", "al-anon", "not-there"])
    remaining = [c for c in chunks if c.doc_id not in {"alateen", "al-anon"}]
    assert store.count() == len(remaining)
    assert set(store.doc_hashes()) == {c.doc_id for c in remaining}
    assert store.all_chunks() == sorted(remaining, key=lambda c: (c.doc_id, c.position))


def test_state_round_trip_and_reset(store: VectorStore, chunks) -> None:
    state = {"format": "2", "embedding_model": PACKAGED_MINILM_INT8, "corpus_hash": "abc123", "documents": "7"}
    store.add(chunks[:5])
    store.set_state(state)
    assert store.get_state() == state
    store.set_state({"corpus_hash": "def456"})  # replaces the whole state, never merges into it
    assert store.get_state() == {"corpus_hash": "def456"}
    store.reset()
    assert store.count() == 0
    assert store.get_state() == {}
    store.add(chunks[:3])
    assert store.count() == 3


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
def test_data_persists_for_a_new_client(open_store, chunks) -> None:  # noqa: ANN001
    store = open_store()
    store.add(chunks)
    store.set_state({"corpus_hash": "abc"})
    reopened = open_store()
    assert reopened is not store
    assert reopened.count() == len(chunks)
    assert reopened.get_state() == {"corpus_hash": "abc"}


def test_ingest_and_open_retriever(backend: str, settings: Settings, open_store, embedder) -> None:  # noqa: ANN001
    # Chroma: open_retriever makes its own client from the settings; the in-memory store has to be handed over.
    given = open_store() if backend == "memory" else None
    retriever, report = open_retriever(settings, embedder=embedder, store=given)
    assert report is not None and len(report.added) == 7 and report.chunks_embedded == report.total_chunks > 0
    for mode in ("hybrid", "dense", "keyword"):
        hits = retriever.search("Is SMART Recovery religious?", k=3, mode=mode)
        assert hits[0].chunk.doc_id == "smart-recovery", mode
        assert hits[0].chunk.url == "https://smartrecovery.org/"
    assert retriever.search("my teenage son's dad drinks, is there a group for him", k=3)[0].chunk.doc_id == "alateen"
    assert retriever.search("what is the Big Book", k=1)[0].chunk.doc_id == "alcoholics-anonymous"

    store = open_store()
    again = ingest(settings, store, embedder)
    assert again.chunks_embedded == 0 and not again.changed
    assert store.count() == report.total_chunks
    _, reopened = open_retriever(settings, embedder=embedder, store=given)
    assert reopened is None  # up to date: nothing to build


def closed_port() -> int:
    """A loopback port that was free a moment ago: bound, then released, so nothing listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_down_is_a_clear_error_within_bounded_time(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    settings = Settings(data_dir=tmp_path, chroma_url=url, embedding_model="hash:384")
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        make_chroma_client(settings)
    assert time.monotonic() - started < 15
    message = str(info.value)
    assert f"Cannot reach the Chroma server at {url}" in message
    assert "chroma run --host 127.0.0.1 --port PORT --path DIR" in message
    assert "unset GUIDE_CHROMA_URL" in message
    with pytest.raises(StoreUnavailableError):
        open_retriever(settings.with_overrides(corpus_dir=FIXTURE))
