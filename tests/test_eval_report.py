"""report.json is versioned and matches its JSON Schema; report.md and report.html say what a reviewer
needs (gate, headline, failing cases) and the HTML is self-contained (plotly inlined, nothing fetched)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _eval_synthetic import synthetic_run

from guide.errors import InputError
from guide.evals.render import to_html, to_markdown, write_outputs
from guide.evals.report import (
    SCHEMA_PATH,
    SCHEMA_VERSION,
    json_schema,
    list_runs,
    load_report,
    validate_report_json,
)


@pytest.fixture()
def run_a(tmp_path: Path):
    return synthetic_run(tmp_path, "A")


def test_shipped_schema_matches_the_models() -> None:
    shipped = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert shipped == json_schema(), "run `python -m guide.evals.report` to regenerate report.schema.json"
    assert re.fullmatch(shipped["properties"]["schema_version"]["pattern"], SCHEMA_VERSION)
    assert "schema_version" in shipped["required"]


REPORT_1_0 = Path(__file__).resolve().parent / "fixtures" / "reports" / "report-1.0.json"


def test_a_report_written_by_schema_1_0_still_validates_and_loads(tmp_path: Path) -> None:
    """report-1.0.json was written by the guide before 1.1 (no own suite, set-ups, grades or ungraded cases):
    a minor version only adds fields, so CI and the staff page keep reading older runs."""
    data = json.loads(REPORT_1_0.read_text(encoding="utf-8"))
    assert data["schema_version"] == "1.0" and "grades" not in data
    assert "ungraded" not in data["answers"]["cases"][0]
    validate_report_json(data)
    report = load_report(REPORT_1_0)
    assert report.suite is None and report.setups is None and report.grades == []
    assert not any(c.ungraded for c in report.answers.cases)
    for version in ("2.0", "1", "1.x"):
        with pytest.raises(InputError, match="schema_version"):
            validate_report_json({**data, "schema_version": version})


def test_written_report_validates_against_the_schema(run_a, tmp_path: Path) -> None:
    paths = write_outputs(run_a, tmp_path / "out")
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    validate_report_json(data)
    assert data["schema_version"] == SCHEMA_VERSION
    run = data["run"]
    assert run["git_commit"] is None or re.fullmatch(r"[0-9a-f]{40}", run["git_commit"])
    assert len(run["corpus_hash"]) == 64 and run["documents"] == 7
    assert run["settings"]["embedding_model"] == "hash:384" and run["settings"]["safety_checker"] == "scripted"
    assert set(run["suite_seconds"]) == {"setup", "safety", "retrieval", "conversations"}
    assert "evals/safety/cases.jsonl" in run["inputs"] and "evals/thresholds.yaml" in run["inputs"]
    assert {c["id"] for c in data["answers"]["cases"]} == {"c1", "c2", "c3"}
    assert load_report(tmp_path / "out") == run_a  # the run dir or its report.json both load


def test_schema_rejects_a_broken_report(run_a) -> None:
    data = run_a.model_dump(mode="json")
    bad = {**data, "metrics": {"safety.recall": "high"}}
    with pytest.raises(InputError, match="metrics"):
        validate_report_json(bad)
    missing = {k: v for k, v in data.items() if k != "run"}
    with pytest.raises(InputError, match="run"):
        validate_report_json(missing)


def test_an_older_report_reads_under_the_current_metric_names(tmp_path: Path, run_a) -> None:
    data = run_a.model_dump(mode="json")
    data["metrics"] = {("safety.false_alarm" if k == "safety.false_alarm_all_noncrisis" else k): v
                       for k, v in data["metrics"].items()}
    (tmp_path / "report.json").write_text(json.dumps(data), encoding="utf-8")
    assert load_report(tmp_path / "report.json").metrics == run_a.metrics


def test_load_report_refuses_another_major_version(tmp_path: Path, run_a) -> None:
    data = run_a.model_dump(mode="json")
    data["schema_version"] = "2.0"
    (tmp_path / "report.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match="schema 2.0"):
        load_report(tmp_path / "report.json")
    with pytest.raises(InputError, match="No eval report"):
        load_report(tmp_path / "nowhere")


def test_markdown_names_the_gate_breach_and_failing_cases(run_a) -> None:
    md = to_markdown(run_a)
    assert md.index("Gate: FAILED") < md.index("## Headline")
    assert "**answers.citation_validity** = 0.7500" in md and "`c2`" in md
    assert "| Crisis recall | 100.0% (3/3; 95% CI 43.9%–100.0%) |" in md
    assert "`s5`" in md  # the false alarm is listed
    assert "no-such-doc" in md  # the failing conversation shows what it cited


def test_html_is_self_contained_with_charts(run_a, tmp_path: Path) -> None:
    html = to_html(run_a)
    assert html.startswith("<!DOCTYPE html>")
    # every chart, and plotly.js once, inline; nothing loaded from the network
    assert html.count("Plotly.newPlot") == 8  # 6 + pass rate by tag + answer latency distribution
    assert html.count("\n* plotly.js v") == 1  # the bundle's own banner: inlined exactly once
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=\"?https?:", html)
    for title in ("Crisis recall per category", "Safety routes: expected vs predicted",
                  "Conversation routes: expected vs predicted", "Latency per pipeline stage"):
        assert title in html
    assert "Gate: FAILED" in html and "c2" in html


def test_html_escapes_case_text(tmp_path: Path, run_a) -> None:
    evil = run_a.safety.cases[4].model_copy(update={"text": "<script>alert(1)</script>"})
    cases = list(run_a.safety.cases)
    cases[4] = evil
    report = run_a.model_copy(update={"safety": run_a.safety.model_copy(update={"cases": cases})})
    html = to_html(report)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_list_runs_newest_first(tmp_path: Path, run_a) -> None:
    import os

    runs = tmp_path / "runs"
    for i, name in enumerate(["20250101-000000", "20250102-000000"]):
        write_outputs(run_a, runs / name)
        os.utime(runs / name / "report.json", (1_700_000_000 + i, 1_700_000_000 + i))
    (runs / "empty").mkdir()
    assert [p.name for p in list_runs(runs)] == ["20250102-000000", "20250101-000000"]
    assert list_runs(tmp_path / "missing") == []
