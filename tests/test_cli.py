"""The `guide` command through its real entry point, as a user runs it: exit codes, output and error lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
HEAVY = ("torch", "chromadb", "sentence_transformers", "transformers", "langchain_core", "langchain_chroma", "numpy")


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without GUIDE_* settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDE_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False", PYTHONIOENCODING="utf-8")
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guide.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )


@pytest.fixture()
def env(tmp_path: Path, fixture_corpus: Path) -> dict[str, str]:
    return clean_env(
        GUIDE_DATA_DIR=str(tmp_path / "data"), GUIDE_CORPUS_DIR=str(fixture_corpus), GUIDE_EMBEDDING_MODEL="hash:384"
    )


def assert_clean_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr + proc.stdout
    return proc.stderr


def test_help_lists_the_commands() -> None:
    proc = subprocess.run([str(BIN / "guide"), "--help"], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    listed = re.findall(r"^    (\w+) {2,}", proc.stdout, flags=re.M)
    assert {"ingest", "search", "corpus", "safety", "ask", "chat", "batch", "eval", "bench", "app"} <= set(listed)
    assert "988" in proc.stdout  # the crisis line is on every help page


def test_no_command_prints_help() -> None:
    proc = run([], clean_env())
    assert proc.returncode == 0 and "usage: guide" in proc.stdout


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, guide.cli\nguide.cli.build_parser()\n"
        f"print(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"`guide --help` imports {proc.stdout.strip()}; import them inside the command"


def test_ingest_twice(env: dict[str, str]) -> None:
    first = run(["ingest"], env)
    assert first.returncode == 0, first.stderr
    assert "7 documents (7 added, 0 updated, 0 removed, 0 unchanged); embedded" in first.stdout
    second = run(["ingest"], env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("Index up to date: 7 documents")


def test_search_json(env: dict[str, str]) -> None:
    proc = run(["search", "Is SMART Recovery religious?", "--json"], env)
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert isinstance(hits, list) and 0 < len(hits) <= 5
    for hit in hits:
        assert set(hit) == {"doc_id", "title", "section", "url", "score", "text"}
        assert hit["url"].startswith("https://") and hit["text"]
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert hits[0]["doc_id"] == "smart-recovery"
    assert hits[0]["section"] == "SMART Recovery › Is SMART Recovery religious?"


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_search_modes(env: dict[str, str], mode: str) -> None:
    proc = run(["search", "what is the Big Book", "--json", "--mode", mode, "--k", "3"], env)
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert 0 < len(hits) <= 3
    assert hits[0]["doc_id"] == "alcoholics-anonymous"


def test_search_text_output(env: dict[str, str]) -> None:
    proc = run(["search", "naloxone nasal spray", "--k", "2"], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1. [")
    assert "(naloxone-and-overdose-response)" in proc.stdout and "https://" in proc.stdout


def test_bad_mode_is_rejected_by_argparse(env: dict[str, str]) -> None:
    proc = run(["search", "meetings", "--mode", "semantic"], env)
    assert proc.returncode == 2 and "invalid choice: 'semantic'" in proc.stderr


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_is_a_clean_error(env: dict[str, str], query: str) -> None:
    stderr = assert_clean_error(run(["search", query], env))
    assert "The query is empty" in stderr
    assert not Path(env["GUIDE_DATA_DIR"]).exists()  # refused before any index was built


def test_bad_chroma_url_is_a_config_error(env: dict[str, str]) -> None:
    env["GUIDE_CHROMA_URL"] = "localhost:8000"
    stderr = assert_clean_error(run(["search", "meetings"], env))
    assert "Invalid configuration" in stderr
    assert "GUIDE_CHROMA_URL must look like http://host:port" in stderr


def test_bad_setting_value_is_a_config_error(env: dict[str, str]) -> None:
    env["GUIDE_REGION"] = "Mars"
    stderr = assert_clean_error(run(["corpus", "check"], env))
    assert "GUIDE_REGION must be one of US, CA, UK" in stderr


def test_unknown_embedding_model_is_a_config_error(env: dict[str, str]) -> None:
    env["GUIDE_EMBEDDING_MODEL"] = "openai:text-embedding-3"
    stderr = assert_clean_error(run(["ingest"], env))
    assert "Unknown embedding model 'openai:text-embedding-3'" in stderr and "never downloaded" in stderr


def test_corrupt_corpus_file_is_a_corpus_error_naming_the_file(env: dict[str, str], fixture_corpus: Path) -> None:
    path = fixture_corpus / "docs" / "alateen.md"
    path.write_text(path.read_text(encoding="utf-8").replace("title: Alateen", "title: [Alateen"), encoding="utf-8")
    stderr = assert_clean_error(run(["ingest"], env))
    assert "The corpus is not ready to ingest (1 problem(s))" in stderr
    assert f"{path}: front matter is not valid YAML" in stderr
    check = run(["corpus", "check"], env)
    assert check.returncode == 1
    assert f"✗ {path}: front matter is not valid YAML" in check.stdout


def test_corpus_check_edit_and_vet(env: dict[str, str], fixture_corpus: Path) -> None:
    ok = run(["corpus", "check"], env)
    assert ok.returncode == 0, ok.stdout
    assert ok.stdout.startswith("7 documents checked: OK.")

    path = fixture_corpus / "docs" / "smart-recovery.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nMeetings are listed on the website.\n", encoding="utf-8")
    edited = run(["corpus", "check"], env)
    assert edited.returncode == 1
    assert "docs/smart-recovery.md: changed since it was vetted" in edited.stdout
    assert "guide corpus vet smart-recovery --reviewer NAME" in edited.stdout
    assert "1 problem(s)" in edited.stdout
    assert_clean_error(run(["ingest"], env))

    vetted = run(["corpus", "vet", "smart-recovery", "--reviewer", "Dana Reviewer"], env)
    assert vetted.returncode == 0, vetted.stderr
    assert vetted.stdout.startswith("vetted smart-recovery (") and "by Dana Reviewer" in vetted.stdout
    assert run(["corpus", "check"], env).returncode == 0
    assert "reviewed_by: Dana Reviewer" in path.read_text(encoding="utf-8")

    report = json.loads(run(["corpus", "check", "--json"], env).stdout)
    assert report["ok"] is True and report["documents"] == 7 and report["problems"] == []


def test_corpus_vet_unknown_id_is_a_clean_error(env: dict[str, str]) -> None:
    stderr = assert_clean_error(run(["corpus", "vet", "no-such-doc", "--reviewer", "Dana"], env))
    assert "No document with id 'no-such-doc'" in stderr


def test_changing_the_model_rebuilds_with_a_reason(env: dict[str, str]) -> None:
    assert run(["ingest"], env).returncode == 0
    env["GUIDE_EMBEDDING_MODEL"] = "hash:256"
    proc = run(["ingest"], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Rebuilt index (it was built with embedding model 'hash:384', now 'hash:256')")
    rebuilt = run(["ingest", "--rebuild"], env)
    assert rebuilt.stdout.startswith("Rebuilt index (--rebuild was given)")


def test_search_builds_a_missing_index_first(env: dict[str, str]) -> None:
    proc = run(["search", "Alateen", "--json", "--k", "1"], env)
    assert proc.returncode == 0, proc.stderr
    assert "7 documents (7 added" in proc.stderr  # the build summary goes to stderr, JSON stays clean
    assert json.loads(proc.stdout)[0]["doc_id"] == "alateen"


def corpus_urls(corpus: Path) -> dict[str, str]:
    from guide.corpus import load_vetted

    return {d.id: d.url for d in load_vetted(corpus)}


def test_ask_answers_with_a_citation_to_the_vetted_document(env: dict[str, str], fixture_corpus: Path) -> None:
    proc = run(["ask", "Is SMART Recovery religious?"], env)
    assert proc.returncode == 0, proc.stderr
    body, _, sources = proc.stdout.partition("\nSources:\n")
    assert "not religious" in body and "[1]" in body
    assert "[1] SMART Recovery › Is SMART Recovery religious? — https://smartrecovery.org/" in sources
    assert "988" not in proc.stdout  # an ordinary question gets no crisis block

    answer = json.loads(run(["ask", "Is SMART Recovery religious?", "--json"], env).stdout)
    assert answer["route"] == "answer" and answer["safety"]["route"] == "ok"
    assert answer["citations"][0]["doc_id"] == "smart-recovery"
    urls = corpus_urls(fixture_corpus)
    assert {c["doc_id"]: c["url"] for c in answer["citations"]}.items() <= urls.items()  # real documents, real URLs
    assert all(f"[{c['n']}]" in answer["answer"] for c in answer["citations"])


def test_ask_crisis_message_gets_the_crisis_route_and_988(env: dict[str, str]) -> None:
    answer = json.loads(run(["ask", "i want to kill myself", "--json"], env).stdout)
    assert answer["route"] == "crisis" and answer["safety"]["category"] == "suicide"
    assert "call or text 988" in answer["answer"] and answer["citations"] == []
    assert "988 Suicide & Crisis Lifeline" in [r["name"] for r in answer["resources"]]


def test_safety_crisis_message_prints_the_crisis_route_and_988(env: dict[str, str]) -> None:
    proc = run(["safety", "i want to kill myself"], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("route: crisis   category: suicide")
    assert "988 Suicide & Crisis Lifeline: call or text 988" in proc.stdout


def test_safety_ordinary_question_is_ok_without_a_crisis_reply(env: dict[str, str]) -> None:
    proc = run(["safety", "what time is the AA meeting", "--lexicon-only"], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("route: ok   category: -")
    assert "988" not in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["safety", "--lexicon-only"], 'Give exactly one of: "TEXT", --jsonl FILE, --eval PATH'),
        (["safety", "--jsonl", "/no/such/file.jsonl"], "Cannot read /no/such/file.jsonl"),
        (["ask", "meetings", "--region", "Mars"], "GUIDE_REGION must be one of US, CA, UK"),
    ],
)
def test_bad_input_is_exit_2_with_a_clean_error(env: dict[str, str], args: list[str], message: str) -> None:
    assert message in assert_clean_error(run(args, env))


def test_bad_choice_is_rejected_by_argparse(env: dict[str, str]) -> None:
    proc = run(["ask", "meetings", "--audience", "kid"], env)
    assert proc.returncode == 2 and "invalid choice: 'kid'" in proc.stderr and not proc.stdout


@pytest.fixture(scope="module")
def families_search(real_index) -> subprocess.CompletedProcess[str]:
    """`guide search` on the shipped corpus with the packaged model, reusing the session's real index."""
    settings, _ = real_index
    env = clean_env(GUIDE_DATA_DIR=str(settings.data_dir), GUIDE_CORPUS_DIR=str(settings.corpus_dir))
    return run(["search", "support for families of people who drink", "--json"], env)


@pytest.mark.integration
def test_real_search_puts_al_anon_first_for_families_of_drinkers(families_search) -> None:
    assert families_search.returncode == 0, families_search.stderr
    # The session's index is reused, not built again from scratch.
    assert "Rebuilt" not in families_search.stderr and not re.search(r"\([1-9]\d* added", families_search.stderr)
    ranking = [h["doc_id"] for h in json.loads(families_search.stdout)]
    assert ranking[0] == "al-anon", f"al-anon is not first: {ranking}"
