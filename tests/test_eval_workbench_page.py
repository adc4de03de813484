"""The staff workbench (guide/ui/staff.py) through AppTest: upload your own questions (a bad file, bad rows),
run them under two set-ups side by side, grade the answers without expectations in the queue, and download
one report holding all of it. Fast tier: fixture corpus, hash embedder, fake reranker, tmp data dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")
from _staff import FAST_MODELS, SUITE, fixture_dirs, open_staff_page  # noqa: E402
from _staff import page_text as _text  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

BAD_ROWS = ('bad1,,meeting,,,answer,,\n'
            'bad2,What is AA?,(unclosed,,,answer,,\n'
            'bad3,What is NA?,,,,maybe,,\n')


@pytest.fixture()
def dirs(tmp_path: Path) -> dict[str, Path]:
    return fixture_dirs(tmp_path)


@pytest.fixture()
def page(dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return open_staff_page(monkeypatch, dirs, **FAST_MODELS)


def _upload(page: AppTest, name: str, data: bytes) -> AppTest:
    page.get("file_uploader")[0].set_value((name, data, "text/csv"))
    page.run()
    assert not page.exception, page.exception
    return page


def test_a_bad_file_gives_a_clear_message_and_cannot_run(page: AppTest) -> None:
    _upload(page, "export.csv", b"PK\x03\x04\x00\x00binary spreadsheet")
    assert any("looks like a binary file" in e.value and "CSV UTF-8" in e.value for e in page.error)
    assert page.button(key="wb_run").disabled
    _upload(page, "notes.csv", b"name,phone\nSam,555\n")
    assert any("no 'question' or 'turns' column" in e.value for e in page.error)
    assert page.button(key="wb_run").disabled


def test_upload_run_two_setups_grade_the_queue_and_download(page: AppTest, dirs: dict[str, Path]) -> None:
    _upload(page, "clinic.csv", SUITE.read_bytes() + BAD_ROWS.encode())
    problems = _frame(page, "what to fix")
    assert list(problems["row"]) == [51, 52, 53]
    assert list(problems["column"]) == ["question", "expect_any", "route"]
    assert "not a valid regular expression" in problems["what to fix"][1]
    assert "50 will run, 3 not run, 10 without expectations" in _text(page.main)

    page.selectbox(key="wb_setup_b").set_value("keyword").run()
    page.button(key="wb_run").click().run()
    assert not page.exception, page.exception
    [run_dir] = list((dirs["data"] / "runs").iterdir())
    assert (run_dir / "suite.csv").read_bytes().endswith(BAD_ROWS.encode())  # the upload as given, bad rows too
    text = _text(page.main)
    assert "Set-ups side by side: A current settings · B keyword only" in text
    assert "Paired test:" in text
    totals = _frame(page, "set-up", "pass rate")
    assert list(totals["set-up"]) == ["A: current settings", "B: keyword only"]
    # the report's own-suite section keeps the bad rows
    assert [list(f["row"]) for f in _frames(page, "what to fix")] == [[51, 52, 53], [51, 52, 53]]  # the upload preview and the report
    assert {b.label for b in page.get("download_button")} >= {"Download report.csv", "Download report.html"}

    # grading: 10 cases without expectations × 2 set-ups, one at a time; 4 got the same answer under both
    # (g01, g06, g08, g10: one grade each covers A and B), 6 did not (A's answer, then B's): 16 to grade
    page.text_input(key="wb_reviewer").input("Sam")
    page.run()
    assert "16 left" in _text(page.main) and "Both set-ups gave this answer" in _text(page.main)
    page.radio(key="wb_grade").set_value("wrong")
    page.text_input(key="wb_note").input("misses the question")
    _submit(page)
    assert "15 left" in _text(page.main) and "Saved: g01 (A and B) wrong." in _text(page.main)
    assert "The set-ups answered this case differently" in _text(page.main)  # g02 under A, then under B
    for _ in range(15):
        page.radio(key="wb_grade").set_value("correct")
        _submit(page)
    assert "Nothing left to grade" in _text(page.main)
    from guide.feedback import SQLiteFeedbackStore

    grades = SQLiteFeedbackStore(dirs["data"] / "feedback.sqlite3").grades(run_dir.name)
    assert len(grades) == 20 and {g.reviewer for g in grades} == {"Sam"}
    assert [(g.setup, g.note) for g in grades if g.grade == "wrong"] == [("A", "misses the question"),
                                                                         ("B", "misses the question")]
    summary = _frame(page, "graded", "still to grade")
    assert list(summary["graded"]) == ["10", "10"] and list(summary["still to grade"]) == ["0", "0"]

    # one report with everything: the CSV the download button builds
    from guide.evals.grading import with_grades
    from guide.evals.render import to_csv, to_html
    from guide.evals.report import load_report

    report = with_grades(load_report(run_dir), grades)
    rows = to_csv(report).splitlines()
    assert rows[0].startswith("setup,id,question,route,expected,verdict,grade")
    assert sum(",ungraded,correct," in r for r in rows) == 18
    html = to_html(report)
    assert "Graded by hand" in html and "Own suite: clinic.csv" in html and "Set-ups side by side" in html


def test_grading_needs_a_name_and_a_grade(page: AppTest, dirs: dict[str, Path]) -> None:
    _upload(page, "clinic.csv", SUITE.read_bytes())
    page.button(key="wb_run").click().run()
    page.radio(key="wb_grade").set_value("correct")
    _submit(page)
    assert any("Type your name above first" in e.value for e in page.error)
    page.text_input(key="wb_reviewer").input("Sam")
    _submit(page)
    assert any("Choose correct, partly or wrong" in e.value for e in page.error)
    assert "10 left" in _text(page.main)


def _frames(page: AppTest, *columns: str) -> list[Any]:
    """The dataframes on the page (AppTest keeps no widget key for them) that have all these columns."""
    return [d.value for d in page.dataframe if set(columns) <= set(d.value.columns)]


def _frame(page: AppTest, *columns: str) -> Any:
    frames = _frames(page, *columns)
    assert frames, [list(d.value.columns) for d in page.dataframe]
    return frames[0]


def _submit(page: AppTest) -> None:
    [button] = [b for b in page.get("button") if getattr(b, "label", "") == "Save grade"]
    button.click().run()
    assert not page.exception, page.exception


def test_a_second_run_of_the_same_suite_is_compared_with_the_first(page: AppTest, dirs: dict[str, Path]) -> None:
    from guide.evals.report import list_runs, load_report

    _upload(page, "clinic.csv", SUITE.read_bytes())
    page.button(key="wb_run").click().run()
    first = list_runs(dirs["data"] / "runs")[0]
    assert load_report(first).comparison is None
    page.button(key="wb_run").click().run()
    assert not page.exception, page.exception
    second = list_runs(dirs["data"] / "runs")[0]
    assert second != first and load_report(second).comparison.previous_run_id == first.name
    assert f"Since {first.name}: 0 newly failing, 0 newly passing" in _text(page.main)
