"""--compare on two synthetic runs: metric deltas, newly failing and newly passing cases, at the top."""

from __future__ import annotations

from pathlib import Path

import pytest
from _eval_synthetic import synthetic_run

from guide.evals.compare import changed_metrics, compare
from guide.evals.render import to_html, to_markdown


@pytest.fixture()
def runs(tmp_path: Path):
    a = synthetic_run(tmp_path, "A", run_id="run-A")
    b = synthetic_run(tmp_path, "B", run_id="run-B")
    return a, b


def test_newly_failing_and_newly_passing(runs) -> None:
    a, b = runs
    c = compare(a, b, "runs/run-A")
    assert c.previous_run_id == "run-A" and c.previous_path == "runs/run-A"
    assert [(x.suite, x.id, x.before, x.after) for x in c.newly_failing] == [("safety", "s2", "pass", "fail")]
    assert "expected crisis, got ok (miss)" in c.newly_failing[0].detail
    assert [(x.suite, x.id) for x in c.newly_passing] == [("conversations", "c2"), ("retrieval", "r3@hybrid")]
    assert c.added_cases == [] and c.removed_cases == []


def test_metric_deltas(runs) -> None:
    a, b = runs
    c = compare(a, b)
    deltas = {m.metric: m for m in c.metrics}
    assert deltas["safety.recall"].before == 1.0
    assert deltas["safety.recall"].after == pytest.approx(2 / 3, abs=1e-6)
    assert deltas["safety.recall"].delta == pytest.approx(-1 / 3, abs=1e-5)
    assert deltas["answers.citation_validity"].delta == pytest.approx(0.25)
    assert deltas["retrieval.hybrid.mrr"].delta == pytest.approx(1 / 3, abs=1e-5)
    moved = [m.metric for m in changed_metrics(c)]
    assert "safety.recall" in moved and "safety.false_alarm_all_noncrisis" not in moved  # s5 is still the only false alarm
    assert all(abs(m.delta) > 0 for m in changed_metrics(c) if m.delta is not None)


def test_nothing_changed_when_comparing_a_run_with_itself(runs) -> None:
    a, _ = runs
    c = compare(a, a)
    assert c.newly_failing == [] and c.newly_passing == [] and changed_metrics(c) == []
    assert c.changed_settings == {} and c.changed_inputs == []


def test_changed_settings_inputs_and_cases(runs) -> None:
    a, b = runs
    meta = b.run.model_copy(update={
        "settings": {**b.run.settings, "top_k": 8},
        "inputs": {**b.run.inputs, "lexicon.yaml": "0" * 64},
        "corpus_hash": "f" * 64,
    })
    cases = [*b.safety.cases, b.safety.cases[0].model_copy(update={"id": "s7", "passed": False, "outcome": "miss"})]
    b2 = b.model_copy(update={"run": meta, "safety": b.safety.model_copy(update={"cases": cases})})
    c = compare(a, b2)
    assert c.changed_settings["top_k"] == [5, 8]
    assert "corpus_hash" in c.changed_settings
    assert c.changed_inputs == ["lexicon.yaml"]
    assert c.added_cases == ["safety:s7"]
    assert ("s7", "absent") in [(x.id, x.before) for x in c.newly_failing]


def test_reports_put_the_comparison_first(runs) -> None:
    a, b = runs
    b = b.model_copy(update={"comparison": compare(a, b, "runs/run-A")})
    md = to_markdown(b)
    assert md.index("## Changes since run run-A") < md.index("## Headline")
    assert md.index("**Newly failing: 1**") < md.index("## Gate")
    assert "| safety | `s2` | pass |" in md
    assert "Newly passing: `c2`, `r3@hybrid`" in md
    assert "| safety.recall | 1.0000 | 0.6667 | -0.3333 |" in md
    html = to_html(b)
    assert html.index("Changes since run run-A") < html.index("Headline")
    assert "Newly failing: 1" in html
