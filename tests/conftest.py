"""Shared fixtures: no network but loopback, the fake embedder, a tiny vetted fixture corpus."""

from __future__ import annotations

import ipaddress
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURE_CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    elif isinstance(address, str):  # AF_UNIX paths are local
        return True
    else:
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may talk to 127.0.0.1 (a Chroma server, a fake LLM, Streamlit) and nothing else."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise RuntimeError(f"network access blocked in tests: {address!r}")
        return real_connect(self, address)

    def guarded_ex(self: socket.socket, address: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise RuntimeError(f"network access blocked in tests: {address!r}")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_ex)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture()
def fixture_corpus(tmp_path: Path) -> Path:
    """A writable copy of the tiny vetted fixture corpus."""
    dest = tmp_path / "corpus"
    shutil.copytree(FIXTURE_CORPUS, dest)
    return dest


@pytest.fixture()
def fake_settings(tmp_path: Path, fixture_corpus: Path):
    """Settings for fast tests: fixture corpus, hash embedder, data dir in tmp."""
    from guide.config import Settings

    return Settings(data_dir=tmp_path / "data", corpus_dir=fixture_corpus, embedding_model="hash:384", chroma_url=None,
                    reranker="fake", multilingual_model="none")


@pytest.fixture()
def fake_retriever(fake_settings):
    """A Retriever over the fixture corpus with the in-memory fake store and hash embedder."""
    from guide.retrieval.embedding import make_embedder
    from guide.retrieval.index import open_retriever
    from guide.retrieval.store import InMemoryStore

    embedder = make_embedder("hash:384")
    retriever, _ = open_retriever(fake_settings, embedder=embedder, store=InMemoryStore(embedder))
    return retriever


@pytest.fixture(scope="session")
def real_settings_factory():
    """Settings on the real shipped corpus and packaged model, per data dir."""
    from guide.config import Settings

    def make(data_dir: Path, **kw: object):
        return Settings(data_dir=data_dir, corpus_dir=REPO / "corpus", **kw)

    return make


# --- integration tier: the real index, a real Chroma server, numbers in the terminal summary ----------------

_SUMMARY_KEY = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SUMMARY_KEY] = []


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    """Print what tests reported through `report_section` (e.g. the retrieval metrics table), so CI shows it."""
    for title, text in config.stash.get(_SUMMARY_KEY, []):
        terminalreporter.write_sep("=", title)
        terminalreporter.write_line(text)


@pytest.fixture(scope="session")
def report_section(request: pytest.FixtureRequest):
    """report_section(title, text): show a block of text in the terminal summary at the end of the run."""

    def add(title: str, text: str) -> None:
        request.config.stash[_SUMMARY_KEY].append((title, text))

    return add


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory, real_settings_factory):
    """(settings, retriever) over the shipped corpus with the packaged model and an embedded Chroma store,
    built once per session in a temporary data dir; shared by retrieval, pipeline and eval tests."""
    from guide.retrieval.index import open_retriever

    settings = real_settings_factory(
        tmp_path_factory.mktemp("real-index"), embedding_model="packaged:all-MiniLM-L6-v2:int8", chroma_url=None
    )
    retriever, report = open_retriever(settings)
    assert report is not None and report.chunks_embedded > 0, "the real index should have been built from scratch"
    return settings, retriever


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    """URL of a real Chroma server (`chroma run` from this venv) on a free loopback port, stopped at teardown."""
    from guide.bench.server import ChromaServer
    from guide.errors import StoreUnavailableError

    server = ChromaServer(tmp_path_factory.mktemp("chroma-server"))
    try:
        server.start()
    except StoreUnavailableError as exc:
        pytest.fail(str(exc))
    try:
        yield server.url
    finally:
        server.stop()
