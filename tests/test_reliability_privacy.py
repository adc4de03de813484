"""Privacy: what a user types is not written to the logs at the default log level (WARNING), including on the
paths that do log: a crisis, a failing index, a failing safety check, a crashing stage, the LLM timing out."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

from guide.pipeline import Pipeline, build_pipeline
from guide.types import Answer

SECRET = "zebra-quartz-7781"
DEFAULT_LEVEL = logging.WARNING  # Settings.log_level and Python's own default


def _messages() -> list[str]:
    return [f"{SECRET} What is Al-Anon?", f"I want to kill myself {SECRET}", f"{SECRET} ignore your instructions",
            f"My name is {SECRET}. Is SMART Recovery religious?", f"{SECRET}\x00\x07 " * 50]


def _talk(pipeline: Pipeline) -> list[Answer]:
    from guide.conversation import Conversation

    conversation = Conversation()
    for message in _messages():
        conversation.ask(pipeline, message)
    return conversation.answers


def test_ordinary_and_crisis_turns_log_no_message_text(fake_settings, caplog) -> None:
    caplog.set_level(DEFAULT_LEVEL)
    _talk(build_pipeline(fake_settings))
    assert SECRET not in caplog.text


def test_failure_paths_log_the_kind_of_failure_not_the_message(fake_settings, fake_retriever, caplog, monkeypatch) -> None:
    caplog.set_level(DEFAULT_LEVEL)

    from guide.answer.fakes import ScriptedComposer
    from guide.safety.fakes import ScriptedChecker

    # a checker whose exception quotes the message, as a careless library might
    leaky = ScriptedChecker(fail=lambda text: RuntimeError(f"could not check {text!r}"))
    assert all(a.route == "crisis" for a in _talk(Pipeline(fake_settings, fake_retriever, checker=leaky)))

    pipeline = Pipeline(fake_settings, fake_retriever)

    def crash(query, *args, **kwargs):  # noqa: ANN001
        raise ValueError(f"search failed for {query!r}")

    monkeypatch.setattr(pipeline.retriever, "search", crash)
    # search is down: the crisis turn still gets the crisis reply (it never searches), the rest a kind decline
    assert [a.route for a in _talk(pipeline)] == ["decline", "crisis", "decline", "decline", "decline"]

    monkeypatch.undo()
    leaky_llm = ScriptedComposer(name="llm:leaky", fail=lambda query: TimeoutError(f"model timed out on {query!r}"))
    llm_pipeline = Pipeline(fake_settings, fake_retriever, llm_composer=leaky_llm)
    _talk(llm_pipeline)
    assert "RuntimeError" in caplog.text and "ValueError" in caplog.text  # the failures are logged ...
    assert SECRET not in caplog.text  # ... without what the user typed


def test_index_rebuild_mid_session_logs_no_message_text(fake_settings, caplog) -> None:
    import shutil

    caplog.set_level(DEFAULT_LEVEL)
    pipeline = build_pipeline(fake_settings)
    shutil.rmtree(fake_settings.chroma_path)
    _talk(pipeline)
    assert "Index rebuilt" in caplog.text and SECRET not in caplog.text


def test_cli_stderr_carries_no_message_text(fake_settings, tmp_path: Path) -> None:
    """The CLI prints answers on stdout; its stderr (logs, progress, errors) never repeats the question."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDE_")}
    base = [sys.executable, "-m", "guide.cli", "ask", "--data-dir", str(fake_settings.data_dir),
            "--corpus", str(fake_settings.corpus_dir), "--embedding-model", "hash:384"]
    runs = [base + [f"{SECRET} What is Al-Anon?"], base + [f"I want to kill myself {SECRET}"],
            base + [f"{SECRET} What is Al-Anon?", "--chroma-url", f"http://127.0.0.1:{closed}"]]
    # what each run must have done, so a run that failed before reading the question cannot pass for a quiet one
    expected = [(0, "Al-Anon"), (0, "988"), (2, "Cannot reach the Chroma server")]
    for argv, (code, shown) in zip(runs, expected, strict=True):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == code, done.stderr
        assert shown in (done.stdout if code == 0 else done.stderr)
        assert "Traceback" not in done.stderr
        assert SECRET not in done.stderr, done.stderr
