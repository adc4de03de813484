"""`guide ask` and `guide batch` through the real entry point (hash embedder + fixture corpus for speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture()
def env(tmp_path: Path, fixture_corpus: Path) -> dict[str, str]:
    return {**os.environ, "GUIDE_DATA_DIR": str(tmp_path / "data"), "GUIDE_CORPUS_DIR": str(fixture_corpus),
            "GUIDE_EMBEDDING_MODEL": "hash:384", "GUIDE_MIN_CONFIDENCE": "0"}


def _guide(args: list[str], env: dict[str, str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "guide.cli", *args], env=env, input=stdin, capture_output=True,
                          timeout=300)


def test_ask_json_contract(env) -> None:
    proc = _guide(["ask", "Is SMART Recovery religious?", "--json"], env)
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert out["route"] == "answer"
    assert out["citations"] and {"doc_id", "title", "section", "url"} <= set(out["citations"][0])
    top = out["citations"][0]
    assert (top["doc_id"], top["url"]) == ("smart-recovery", "https://smartrecovery.org/")
    assert "not religious" in out["answer"] and "[1]" in out["answer"]
    assert "Traceback" not in proc.stderr.decode()


def test_batch_contract_with_bad_lines(env, tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "turns": ["What is SMART Recovery?", "Is it religious?"]}).encode(),
        b"{not json",
        json.dumps({"id": "c", "turns": []}).encode(),
        b'{"id": "d", "turns": ["\xff\xfe bad utf8"]}',
        json.dumps({"id": "e", "turns": ["i want to end my life"]}).encode(),
    ]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out_file = tmp_path / "out.jsonl"
    proc = _guide(["batch", str(src), "--out", str(out_file)], env)
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(rows) == 5
    a, bad_json, empty, bad_utf8, crisis = rows
    assert a["id"] == "a" and a["route"] == "answer" and len(a["turns"]) == 2
    assert set(a) >= {"id", "route", "answer", "citations", "resources", "latency_ms", "turns"}
    assert set(a["citations"][0]) == {"doc_id", "title", "section", "url"}
    assert {c["doc_id"] for c in a["citations"]} == {"smart-recovery"}  # both turns are about SMART Recovery
    assert "error" in bad_json and "JSON" in bad_json["error"]
    assert empty["id"] == "c" and "turns" in empty["error"]
    assert "UTF-8" in bad_utf8["error"]
    assert crisis["route"] == "crisis" and "988" in crisis["answer"] and crisis["resources"]
    assert "Traceback" not in proc.stderr.decode()


def test_batch_missing_file_is_a_clear_error(env, tmp_path: Path) -> None:
    proc = _guide(["batch", str(tmp_path / "nope.jsonl")], env)
    assert proc.returncode == 2 and b"Cannot read" in proc.stderr and b"Traceback" not in proc.stderr
