"""`guide app`: the search index and every first-run cache are built in the terminal before Streamlit starts
(so no visitor waits for them), errors are one clear line and no start, and the Streamlit command and its
environment carry the flags, and the pipeline built there is the one the app's first visitor gets. Streamlit
itself never runs here: start_streamlit is replaced by a recorder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from guide.cli import app as app_cli
from guide.cli import main


@pytest.fixture()
def app_env(fake_settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fast fake settings, as the environment `guide app` reads (a hash encoder stands in for the
    multilingual one, so the cross-lingual cache is built too)."""
    settings = fake_settings.with_overrides(multilingual_model="hash:128")
    for name, value in {"GUIDE_DATA_DIR": settings.data_dir, "GUIDE_CORPUS_DIR": settings.corpus_dir,
                        "GUIDE_EMBEDDING_MODEL": settings.embedding_model, "GUIDE_RERANKER": settings.reranker,
                        "GUIDE_MULTILINGUAL_MODEL": settings.multilingual_model, "GUIDE_REGION": "US"}.items():
        monkeypatch.setenv(name, str(value))
    for name in ("GUIDE_CHROMA_URL", "GUIDE_LLM"):  # set then removed: monkeypatch restores them after the test,
        monkeypatch.setenv(name, "")                 # including what `guide app` writes into os.environ
        monkeypatch.delenv(name)
    return settings


def _record_exec(monkeypatch: pytest.MonkeyPatch, on_exec: Any = None) -> dict[str, Any]:
    """Record what `guide app` would serve: the Streamlit arguments, the environment and the working directory
    at that moment (os.chdir is recorded, not done, so the test's own directory stays put)."""
    seen: dict[str, Any] = {}

    def fake_start(argv: list[str]) -> None:
        seen.update(argv=argv, env=dict(os.environ))
        if on_exec is not None:
            on_exec(seen)

    monkeypatch.setattr(app_cli, "start_streamlit", fake_start)
    monkeypatch.setattr(os, "chdir", lambda path: seen.update(cwd=path))
    return seen


def _cache_files(settings: Any) -> dict[str, float | None]:
    paths = {"chroma": settings.chroma_path / "chroma.sqlite3", "keyword": settings.keyword_path,
             "sentences": settings.sentences_path, "crosslingual": settings.crosslingual_path}
    return {k: p.stat().st_mtime_ns if p.is_file() else None for k, p in paths.items()}


def test_the_index_and_every_cache_exist_before_streamlit_starts(app_env: Any, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture) -> None:
    from guide.retrieval.index import open_retriever

    def at_exec(seen: dict[str, Any]) -> None:
        seen["files"] = _cache_files(app_env)
        # what the Streamlit process does on its first visit: only loads (no build allowed, nothing rewritten)
        retriever, report = open_retriever(app_env, auto_ingest=False)
        seen["report"], seen["chunks"] = report, len(retriever.chunks)
        seen["files_after_open"] = _cache_files(app_env)
        # the key the chat page computes from the environment on its first run (guide/ui/chat.py load_pipeline)
        from guide.config import load_settings
        from guide.ui.session import pipeline_slot

        seen["slot_ready"] = pipeline_slot(load_settings().model_dump_json()).ready

    assert not app_env.data_dir.exists()
    seen = _record_exec(monkeypatch, at_exec)
    assert main(["app", "--port", "8599"]) == 0
    assert all(seen["files"].values()), f"missing when Streamlit started: {seen['files']}"
    assert seen["report"] is None and seen["chunks"] > 0
    assert seen["files_after_open"] == seen["files"], "the app would have rebuilt a cache on its first visit"
    assert seen["slot_ready"], "the app's first visitor would wait for the pipeline to load"
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Checking the search index in ")
    assert out[1].startswith("Search index ready (") and out[2].startswith(
        "Recovery Guide is starting at http://localhost:8599"), out


def test_a_second_start_only_checks_the_index(app_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _record_exec(monkeypatch, lambda s: s.update(files=_cache_files(app_env)))
    assert main(["app"]) == 0
    first = seen["files"]
    assert all(first.values()), first
    assert main(["app"]) == 0
    assert seen["files"] == first, "an up-to-date index is not rebuilt"


def test_streamlit_command_and_environment_carry_the_flags(app_env: Any, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    seen = _record_exec(monkeypatch)
    assert main(["app", "--no-prepare", "--port", "8599", "--host", "127.0.0.1", "--data-dir", "rel-data",
                 "--reranker", "none", "--region", "ca"]) == 0
    argv = seen["argv"]
    assert argv[:2] == ["run", str(app_cli.APP_PATH)]
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1" and argv[argv.index("--server.port") + 1] == "8599"
    assert argv[argv.index("--server.headless") + 1] == "true"
    assert argv[argv.index("--browser.gatherUsageStats") + 1] == "false"
    assert seen["cwd"] == app_cli.REPO_ROOT  # Streamlit reads .streamlit/config.toml from there
    env = seen["env"]
    assert env["GUIDE_DATA_DIR"] == str(tmp_path / "rel-data")  # absolute: Streamlit runs in the repository
    assert (env["GUIDE_EMBEDDING_MODEL"], env["GUIDE_RERANKER"], env["GUIDE_REGION"]) == ("hash:384", "none", "CA")


def test_no_prepare_starts_at_once_without_building(app_env: Any, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    seen = _record_exec(monkeypatch, lambda s: s.update(files=_cache_files(app_env)))
    assert main(["app", "--no-prepare"]) == 0
    assert not any(seen["files"].values())
    assert "--no-prepare" in capsys.readouterr().out


def test_an_unvetted_document_stops_the_start_with_what_to_do(app_env: Any, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    source = app_env.corpus_dir / "docs" / "al-anon.md"
    (source.parent / "new-guide.md").write_text(source.read_text().replace("id: al-anon", "id: new-guide"))
    seen = _record_exec(monkeypatch)
    assert main(["app"]) == 2
    err = capsys.readouterr().err
    assert "did not start" in err and "not vetted" in err and "guide corpus vet new-guide" in err
    assert "Traceback" not in err and "argv" not in seen


def test_a_chroma_server_that_is_down_stops_the_start(app_env: Any, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    from guide.bench.server import free_port

    seen = _record_exec(monkeypatch)
    assert main(["app", "--chroma-url", f"http://127.0.0.1:{free_port()}"]) == 2
    err = capsys.readouterr().err
    assert "Cannot reach the Chroma server" in err and "Traceback" not in err and "argv" not in seen


def test_a_bad_port_fails_before_anything_is_built(app_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _record_exec(monkeypatch)
    assert main(["app", "--port", "70000"]) == 2
    assert "argv" not in seen and not app_env.data_dir.exists()
