"""Parts failing under a running guide: the index missing, deleted or damaged mid-session; the Chroma server
down or hung; the LLM endpoint down or hung; the safety layer raising; the feedback database locked.
Each test asserts what the user sees, that waits are bounded, and that nothing is lost."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from guide.config import Settings
from guide.errors import FeedbackError, IndexNotBuiltError
from guide.pipeline import Pipeline, build_pipeline
from guide.retrieval.index import open_retriever
from guide.types import Answer

QUESTION = "Is SMART Recovery religious?"
KIND_ERROR = "couldn't search the vetted materials"
#: Generous upper bounds for "bounded wait" on a busy 2-core box; the point is that nothing hangs.
BOUND_S = 45


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def has_help_lines(answer: Answer) -> bool:
    return any("988" in f"{r.phone} {r.tel} {r.name}" for r in answer.resources)


def cited_docs(answer: Answer) -> set[str]:
    return {c.doc_id for c in answer.citations}


def index_files(settings: Settings) -> list[Path]:
    return [settings.chroma_path / "chroma.sqlite3", settings.keyword_path, settings.sentences_path]


@pytest.fixture()
def embedded(fake_settings: Settings) -> Settings:
    """The fixture corpus with the hash embedder and a real embedded Chroma store in a tmp data dir."""
    return fake_settings


# --------------------------------------------------------------------------------------------- index missing
def test_missing_index_is_built_on_first_use(embedded: Settings) -> None:
    assert not embedded.data_dir.exists()
    answer = build_pipeline(embedded).answer([], QUESTION)
    assert answer.route == "answer" and "smart-recovery" in cited_docs(answer)
    assert all(p.exists() for p in index_files(embedded))


def test_missing_index_without_auto_build_says_what_to_run(embedded: Settings) -> None:
    with pytest.raises(IndexNotBuiltError, match="guide ingest"):
        open_retriever(embedded, auto_ingest=False)


# --------------------------------------------------------------------------------------------- damaged mid-session
def _garble(path: Path) -> None:
    for p in [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]:
        p.write_bytes(b"\x00garbage\xff" * 64)


@pytest.mark.parametrize("damage", ["delete_everything", "delete_chroma_dir", "garble_chroma_files"])
def test_index_damaged_mid_session_is_detected_and_rebuilt(embedded: Settings, damage: str, caplog) -> None:
    pipeline = build_pipeline(embedded)
    before = pipeline.answer([], QUESTION)
    assert before.route == "answer"
    if damage == "delete_everything":
        shutil.rmtree(embedded.data_dir)
    elif damage == "delete_chroma_dir":
        shutil.rmtree(embedded.chroma_path)
    else:
        _garble(embedded.chroma_path)

    after = pipeline.answer([], QUESTION)
    assert after.route == "answer", after.text
    assert after.text == before.text and after.citations == before.citations, "the same answer as before the damage"
    assert embedded.chroma_path.joinpath("chroma.sqlite3").exists(), "the index is on disk again"
    assert "Index rebuilt" in caplog.text
    # a fresh process would find an up-to-date index, not rebuild again
    from guide.retrieval.index import forget_embedded_client

    forget_embedded_client(embedded)
    _, report = open_retriever(embedded)
    assert report is None


@pytest.mark.parametrize("which", ["keyword", "sentences"])
@pytest.mark.parametrize("how", ["deleted", "garbled"])
def test_damaged_companion_files_are_rebuilt_on_open(embedded: Settings, which: str, how: str) -> None:
    build_pipeline(embedded)
    path = embedded.keyword_path if which == "keyword" else embedded.sentences_path
    if how == "deleted":
        path.unlink()
    else:
        _garble(path)
    answer = build_pipeline(embedded).answer([], QUESTION)
    assert answer.route == "answer" and "smart-recovery" in cited_docs(answer)
    assert path.exists() and b"garbage" not in path.read_bytes()[:200]


def test_index_deleted_while_many_conversations_run_is_rebuilt_once(embedded: Settings, caplog) -> None:
    pipeline = build_pipeline(embedded)
    expected = pipeline.answer([], QUESTION)
    shutil.rmtree(embedded.chroma_path)
    answers: list[Answer] = []
    errors: list[BaseException] = []

    def talk() -> None:
        try:
            answers.append(pipeline.answer([], QUESTION))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=talk) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BOUND_S)
    assert not errors and len(answers) == 8
    # no turn may search the half-built store while another thread rebuilds it ("couldn't find this" under load)
    assert all(a.route == "answer" and a.citations == expected.citations for a in answers), [
        a.text[:120] for a in answers if a.citations != expected.citations]
    assert caplog.text.count("Index rebuilt") == 1


def test_damaged_index_at_start_gives_an_instruction_that_works(embedded: Settings, capsys) -> None:
    from guide.cli import main

    build_pipeline(embedded)
    from guide.retrieval.index import forget_embedded_client

    forget_embedded_client(embedded)
    _garble(embedded.chroma_path)
    flags = ["--data-dir", str(embedded.data_dir), "--corpus", str(embedded.corpus_dir), "--embedding-model", "hash:384"]
    assert main(["ask", QUESTION, *flags]) == 2
    err = capsys.readouterr().err
    assert "guide ingest --rebuild" in err and "Traceback" not in err
    assert main(["ingest", "--rebuild", *flags]) == 0
    assert main(["ask", QUESTION, *flags]) == 0
    out = capsys.readouterr().out
    assert "Sources:" in out and "smartrecovery.org" in out


# --------------------------------------------------------------------------------------------- Chroma server
@pytest.fixture()
def server(tmp_path: Path):
    from guide.bench.server import ChromaServer

    srv = ChromaServer(tmp_path / "chroma-server").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.integration
def test_chroma_server_down_then_back(embedded: Settings, server) -> None:
    settings = embedded.with_overrides(chroma_url=server.url, chroma_timeout_s=2.0)
    pipeline = build_pipeline(settings)
    good = pipeline.answer([], QUESTION)
    assert good.route == "answer"

    server.stop()
    started = time.monotonic()
    down = pipeline.answer([], QUESTION)
    assert time.monotonic() - started < BOUND_S
    assert down.route == "decline" and down.decline_kind == "error"
    assert KIND_ERROR in down.text and has_help_lines(down)

    server.start()  # same port and data directory, like a restarted service
    back = pipeline.answer([], QUESTION)
    assert back.route == "answer" and back.citations == good.citations


@pytest.mark.integration
def test_chroma_server_hung_is_a_bounded_wait(embedded: Settings, server) -> None:
    settings = embedded.with_overrides(chroma_url=server.url, chroma_timeout_s=1.0)
    pipeline = build_pipeline(settings)
    good = pipeline.answer([], QUESTION)
    server.pause()  # accepts connections, never answers
    try:
        started = time.monotonic()
        hung = pipeline.answer([], QUESTION)
        waited = time.monotonic() - started
    finally:
        server.resume()
    assert waited < BOUND_S
    assert hung.route == "decline" and KIND_ERROR in hung.text and has_help_lines(hung)
    assert pipeline.answer([], QUESTION).citations == good.citations


def test_chroma_server_unreachable_at_start_is_a_clear_cli_error(embedded: Settings, capsys) -> None:
    from guide.cli import main

    url = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    code = main(["ask", QUESTION, "--chroma-url", url, "--data-dir", str(embedded.data_dir),
                 "--corpus", str(embedded.corpus_dir), "--embedding-model", "hash:384"])
    assert time.monotonic() - started < BOUND_S
    err = capsys.readouterr().err
    assert code == 2 and f"Cannot reach the Chroma server at {url}" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------- LLM endpoint
class _Hung(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that accepts the request and never answers in time."""

    def do_POST(self) -> None:  # noqa: N802
        time.sleep(30)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def hung_llm():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hung)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("endpoint", ["down", "hung"])
def test_llm_endpoint_failure_falls_back_to_extractive_in_bounded_time(embedded: Settings, endpoint: str, request) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1" if endpoint == "down" else request.getfixturevalue("hung_llm")
    settings = embedded.with_overrides(llm="openai:test-model", llm_base_url=url, llm_timeout_s=2.0, min_confidence=0.0)
    pipeline = build_pipeline(settings)
    assert pipeline.llm_composer is not None
    started = time.monotonic()
    answer = pipeline.answer([], QUESTION)
    waited = time.monotonic() - started
    assert waited < BOUND_S
    assert answer.route == "answer" and answer.composer == "extractive-fallback"
    assert "smart-recovery" in cited_docs(answer)
    started = time.monotonic()
    again = pipeline.answer([], "What happens at a SMART Recovery meeting?")
    assert again.route == "answer" and again.composer.startswith("extractive")
    assert time.monotonic() - started < BOUND_S


# --------------------------------------------------------------------------------------------- safety layer
@pytest.mark.parametrize("message", ["What is Al-Anon?", "", "I feel fine today"])
def test_safety_layer_raising_fails_closed_with_crisis_resources(fake_settings, fake_retriever, message: str) -> None:
    from guide.safety.fakes import ScriptedChecker

    pipeline = Pipeline(fake_settings, fake_retriever, checker=ScriptedChecker(fail=lambda _: RuntimeError("lexicon exploded")))
    answer = pipeline.answer([], message)
    assert answer.route == "crisis" and answer.safety.failed_closed
    assert has_help_lines(answer) and answer.text
    assert "exploded" not in answer.text and not answer.citations


@pytest.mark.parametrize(("message", "spanish"), [
    ("How much suboxone should I take?", False), ("What is Al-Anon?", False), ("¿Qué es Al-Anon?", True),
])
def test_scope_guard_raising_declines_the_turn_without_answering_or_a_traceback(
    fake_settings, fake_retriever, monkeypatch, caplog, message: str, spanish: bool,
) -> None:
    import guide.safety.scope as scope

    def explode(*_a: Any, **_k: Any) -> Any:
        raise ValueError("scope regex exploded")

    monkeypatch.setattr(scope, "scope_check", explode)
    with caplog.at_level("ERROR", logger="guide.safety"):
        answer = Pipeline(fake_settings, fake_retriever).answer([], message)
    assert answer.route == "decline" and answer.decline_kind == "unavailable"
    assert not answer.citations and "exploded" not in answer.text
    assert "1-800-662-4357" in answer.text  # the SAMHSA helpline, never a dose or an unchecked answer
    assert ("Lo siento" in answer.text) is spanish
    assert "scope guard failed (ValueError)" in caplog.text and message not in caplog.text


# --------------------------------------------------------------------------------------------- feedback database
def _answer(fake_settings, fake_retriever) -> Answer:
    return Pipeline(fake_settings, fake_retriever).answer([], "What is Al-Anon?")


def _lock_for(path: Path, seconds: float, locked: threading.Event) -> threading.Thread:
    def hold() -> None:
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    return thread


def test_feedback_database_locked_for_a_moment_is_retried_and_nothing_is_lost(
    tmp_path: Path, fake_settings, fake_retriever,
) -> None:
    from guide.feedback import SQLiteFeedbackStore

    store = SQLiteFeedbackStore(tmp_path / "feedback.sqlite3", busy_timeout_ms=50)
    answer = _answer(fake_settings, fake_retriever)
    locked = threading.Event()
    holder = _lock_for(store.path, 1.0, locked)
    locked.wait(5)
    entry_id = store.record(-1, "What is Al-Anon?", answer, comment="too long")  # waits, retries, then succeeds
    holder.join(10)
    [entry] = store.list()
    assert entry.id == entry_id and entry.rating == -1 and entry.comment == "too long"
    assert entry.answer == answer.text and entry.citations == answer.citations


def test_feedback_database_locked_too_long_is_a_clear_error_then_saves(
    tmp_path: Path, fake_settings, fake_retriever,
) -> None:
    from guide.feedback import SQLiteFeedbackStore

    store = SQLiteFeedbackStore(tmp_path / "feedback.sqlite3", busy_timeout_ms=20, retries=2)
    answer = _answer(fake_settings, fake_retriever)
    locked = threading.Event()
    holder = _lock_for(store.path, 3.0, locked)
    locked.wait(5)
    with pytest.raises(FeedbackError, match="Could not save feedback") as info:
        store.record(1, "What is Al-Anon?", answer)
    assert "try again" in str(info.value)
    holder.join(10)
    store.record(1, "What is Al-Anon?", answer)
    assert store.count() == 1
