"""The staff page (guide/ui/staff.py) through AppTest: run the suites with progress, read metrics and charts,
browse failing cases side by side, compare with a kept run, download, and turn feedback into an eval case.
Fast tier: fixture corpus, hash embedder, fixture suites, tmp data dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")
from _staff import fixture_dirs, open_staff_page  # noqa: E402
from _staff import page_text as _text  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402


def _answer(route: str, text: str) -> Any:
    from guide.types import Answer, Citation, SafetyVerdict

    cites = (Citation(n=1, doc_id="al-anon", title="Al-Anon Family Groups", section="Al-Anon › Cost",
                      url="https://al-anon.org/", quote="Al-Anon is free."),) if route == "answer" else ()
    return Answer(route=route, text=text, citations=cites, safety=SafetyVerdict(route="ok"))  # type: ignore[arg-type]


@pytest.fixture()
def dirs(tmp_path: Path) -> dict[str, Path]:
    from _eval_synthetic import synthetic_run

    from guide.evals.render import write_outputs
    from guide.feedback import SQLiteFeedbackStore

    dirs = fixture_dirs(tmp_path)
    data = dirs["data"]
    # a kept run to compare with (synthetic, so its case ids differ from the fixture suites)
    write_outputs(synthetic_run(tmp_path / "synthetic", "A", run_id="20200101-000000"), data / "runs" / "20200101-000000")
    store = SQLiteFeedbackStore(data / "feedback.sqlite3")
    store.record(1, "What is Al-Anon?", _answer("answer", "Al-Anon is free. [1]"))
    store.record(-1, "is al-anon only for wives", _answer("answer", "Al-Anon is free. [1]"), comment="did not answer me")
    return dirs


@pytest.fixture()
def page(dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return open_staff_page(monkeypatch, dirs)


def test_page_shows_the_kept_run_with_gate_metrics_charts_and_downloads(page: AppTest) -> None:
    assert page.title[0].value == "Staff: evaluation"
    view = page.selectbox(key="staff_view")
    assert view.value.endswith("20200101-000000")
    assert "Gate failed" in _text(page.main) and "answers.citation_validity" in _text(page.main)
    labels = [m.label for m in page.metric]
    assert {"Crisis recall", "Answer pass rate", "Citation validity"} <= set(labels)
    assert len(page.get("plotly_chart")) >= 4
    assert len(page.get("download_button")) == 4  # html, json, md and the per-case csv
    # failing conversations: question, answer and citations side by side
    failing = [e for e in page.expander if e.label.startswith("c2")]
    assert failing, [e.label for e in page.expander]
    body = _text(failing[0]).replace("\\", "")  # markdown escapes
    assert "Q2b" in body and "cites unknown document 'no-such-doc'" in body and "Al-Anon is free" in body


def test_failing_safety_and_retrieval_cases_can_be_browsed(page: AppTest) -> None:
    page.radio(key="staff_fail_suite").set_value("safety").run()
    assert not page.exception
    rows = page.dataframe[-1].value  # the failing-case table closes the results section
    assert list(rows["case"]) == ["s5"] and list(rows["outcome"]) == ["false_alarm"]
    page.radio(key="staff_fail_suite").set_value("retrieval").run()
    assert list(page.dataframe[-1].value["case"]) == ["r3"]


def test_run_from_the_page_then_compare_with_the_kept_run(page: AppTest, dirs: dict[str, Path]) -> None:
    page.multiselect(key="staff_suites").set_value(["safety", "conversations"]).run()
    page.button(key="staff_run").click().run()
    assert not page.exception, page.exception
    runs = sorted(p.name for p in (dirs["data"] / "runs").iterdir())
    assert len(runs) == 2
    new = dirs["data"] / "runs" / runs[-1]
    assert (new / "report.html").is_file() and (new / "report.json").is_file()
    assert page.selectbox(key="staff_view").value == str(new)
    assert "Gate passed" in _text(page.main)  # the fixture suites' lenient gate
    page.selectbox(key="staff_compare").set_value(str(dirs["data"] / "runs" / "20200101-000000")).run()
    assert not page.exception
    text = _text(page.main)
    assert "Since 20200101-000000" in text and "newly failing" in text
    deltas = page.dataframe[-1].value  # the synthetic run had retrieval, this one did not
    assert {"retrieval.hybrid.mrr", "latency.total.p50_ms"} <= set(deltas["metric"])
    assert "Changed:" in text


def test_feedback_thumbs_down_first_and_one_click_to_an_eval_case(page: AppTest, dirs: dict[str, Path]) -> None:
    feedback = [e for e in page.expander if e.label.startswith(("👎", "👍"))]
    assert [e.label[:1] for e in feedback] == ["👎", "👍"]
    assert "did not answer me" in _text(feedback[0])
    page.button(key="staff_fb_case_2").click().run()
    assert not page.exception
    assert "Added fb-00002" in _text(page.main)
    lines = (dirs["evals"] / "conversations" / "from-feedback.jsonl").read_text(encoding="utf-8").splitlines()
    case = json.loads(lines[-1])
    assert case["id"] == "fb-00002" and case["turns"] == ["is al-anon only for wives"]
    assert case["expect"]["route"] == "answer" and "needs-review" in case["tags"]
    assert case["feedback"]["comment"] == "did not answer me"
    # the new case is a valid conversation case, and the page now says it exists
    from guide.evals.cases import ConversationCase, load_cases

    assert "fb-00002" in {c.id for c in load_cases(dirs["evals"] / "conversations", ConversationCase)}
    page.run()
    assert "Eval case fb-00002 exists." in _text(page.main)
