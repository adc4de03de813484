"""The `guide safety` contract other tools depend on."""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from guide.cli import safety as safety_cli

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / ".venv" / "bin" / "guide"
HAVE_MAIN_CLI = GUIDE.exists()  # the console script make install puts in .venv


def run_guide(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    cmd = [str(GUIDE)] if HAVE_MAIN_CLI else [sys.executable, "-c", "raise SystemExit(2)"]
    return subprocess.run([*cmd, "safety", *args], input=stdin, capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(REPO)})


def parse(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    safety_cli.add_parser(sub)
    return parser.parse_args(["safety", *argv])


def test_module_import_is_light():
    code = "import sys, guide.cli.safety; print(any(m.startswith(('torch', 'sentence_transformers', 'numpy')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_run_single_text_json(capsys):
    from guide.config import Settings

    assert safety_cli.run(parse(["i want to kil myself", "--json", "--lexicon-only"]), Settings()) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["route"] == "crisis" and payload["category"] == "suicide"
    assert "988" in payload["reply"]


def test_run_jsonl_stream(capsys, monkeypatch, tmp_path):
    from guide.config import Settings

    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "text": "kms"}\nnot json\n{"text": 3}\n{"id": 9, "text": "What is AA?"}\n[1]\n',
                    encoding="utf-8")
    assert safety_cli.run(parse(["--jsonl", str(path), "--lexicon-only"]), Settings()) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 5
    assert lines[0] == {"id": "a", "route": "crisis", "category": "suicide", "score": 1.0}
    assert set(lines[1]) == {"error"} and "error" in lines[2] and "error" in lines[4]
    assert lines[3] == {"id": 9, "route": "ok", "category": None, "score": 0.0}


@pytest.mark.skipif(not HAVE_MAIN_CLI, reason="the main guide CLI is not installed")
def test_subprocess_contract():
    single = run_guide("my friend took too many pills and isn't breathing", "--json", "--lexicon-only")
    assert single.returncode == 0, single.stderr
    assert json.loads(single.stdout)["category"] == "overdose"
    stream = run_guide("--jsonl", "-", "--lexicon-only",
                       stdin='{"id": 1, "text": "quiero morir"}\n{"text": "This traffic is killing me"}\n{bad\n')
    assert stream.returncode == 0, stream.stderr
    out = [json.loads(line) for line in stream.stdout.splitlines()]
    assert out[0]["id"] == 1 and out[0]["route"] == "crisis"
    assert out[1] == {"route": "ok", "category": None, "score": 0.0}
    assert "error" in out[2]


@pytest.mark.skipif(not HAVE_MAIN_CLI, reason="the main guide CLI is not installed")
def test_subprocess_eval_exit_codes(tmp_path):
    good = run_guide("--eval", str(REPO / "evals" / "safety"), "--lexicon-only")
    assert good.returncode == 0, good.stdout[-2000:] + good.stderr
    assert "Gate: PASSED" in good.stdout and "| safety.recall >= " in good.stdout
    assert "Crisis recall" in good.stdout and "p95" in good.stdout and "expected \\ predicted" in good.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x1", "text": "hello there", "expected_route": "crisis", "category": "suicide", '
                   '"kind": "direct"}\n', encoding="utf-8")
    failing = run_guide("--eval", str(bad), "--lexicon-only")
    assert failing.returncode == 1 and "Gate: FAILED" in failing.stdout
    assert "Misses (crisis not caught): 1" in failing.stdout and "`x1`" in failing.stdout


def test_eval_json_and_bad_suite(capsys, tmp_path):
    from guide.config import Settings
    from guide.errors import InputError

    suite = tmp_path / "s.jsonl"
    suite.write_text('{"id": "a", "text": "I want to die", "expected_route": "crisis", "category": "suicide", "kind": "direct"}\n'
                     '{"id": "b", "text": "What is AA?", "expected_route": "ok", "category": null, "kind": "question", '
                     '"difficulty": "hard"}\n', encoding="utf-8")
    assert safety_cli.run(parse(["--eval", str(suite), "--json", "--lexicon-only"]), Settings()) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["metrics"]["safety.recall"] == 1.0
    assert report["metrics"]["safety.false_alarm_hard_negatives"] == 0.0  # b is a hard negative, routed ok
    assert {c["metric"] for c in report["gate"]} >= {"safety.recall", "safety.false_alarm_hard_negatives"}
    assert report["latency_ms"]["n"] == 2 and report["latency_ms"]["p95_ms"] > 0
    suite.write_text('{"id": "a", "text": "x", "expected_route": "maybe"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="expected_route"):
        safety_cli.run(parse(["--eval", str(suite), "--lexicon-only"]), Settings())
    suite.write_text('{"id": "a", "text": "x", "expected_route": "crisis"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="needs a category"):
        safety_cli.run(parse(["--eval", str(suite), "--lexicon-only"]), Settings())


def test_exactly_one_mode():
    from guide.config import Settings
    from guide.errors import InputError

    with pytest.raises(InputError):
        safety_cli.run(parse(["--lexicon-only"]), Settings())
