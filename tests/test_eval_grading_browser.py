"""The grading queue in a real browser, keyboard only: Tab to the Grading tab, type a name, pick a grade with the
arrow keys, type a note, press Enter; the grade lands in the feedback database and the next answer shows.
`guide app` runs on a loopback port over the fixture corpus (hash embedder, fake reranker)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import browser_marks, launch, serve_app
from _staff import FAST_MODELS, SUITE, fixture_dirs, subprocess_env

pytestmark = browser_marks()
TIMEOUT_S = 180


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A run of the 50-question fixture suite with 10 answers to grade, and `guide app` serving its data dir."""
    dirs = fixture_dirs(tmp_path)
    env = subprocess_env(dirs, **FAST_MODELS)
    run = subprocess.run([sys.executable, "-m", "guide.cli", "eval", "conversations", "--suite", str(SUITE),
                          "--out", str(dirs["data"] / "runs" / "r1")],
                         env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    with serve_app(env, tmp_path / "streamlit.log", TIMEOUT_S) as url:
        yield url, env


def _active(page: Any) -> dict[str, str]:
    return page.evaluate("""() => { const e = document.activeElement;
        return {tag: e.tagName, role: e.getAttribute('role') || '', type: e.type || '', text: (e.innerText || '').trim(),
                label: e.getAttribute('aria-label') || ''}; }""")


def _tab_until(page: Any, matches: Any, limit: int = 150) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if matches(_active(page)):
            return
    pytest.fail(f"could not reach the element with the Tab key (last focus {_active(page)})")


def test_grading_queue_keyboard_only(app: tuple[str, dict[str, str]]) -> None:
    from playwright.sync_api import sync_playwright

    from guide.feedback import SQLiteFeedbackStore

    url, env = app
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_S * 1000)
            page.goto(f"{url}/staff", wait_until="domcontentloaded")
            page.get_by_role("tab", name="Grading").wait_for(state="visible")
            # the tab list: Tab onto it, then the arrow keys to "Grading", Enter to open it
            _tab_until(page, lambda a: a["role"] == "tab")
            for _ in range(5):
                if _active(page)["text"] == "Grading":
                    break
                page.keyboard.press("ArrowRight")
            assert _active(page)["text"] == "Grading"
            page.keyboard.press("Enter")
            panel = page.get_by_role("tabpanel", name="Grading")
            panel.get_by_text("10 left").wait_for(state="visible")
            # the reviewer's name
            _tab_until(page, lambda a: a["tag"] == "INPUT" and a["label"].startswith("Your name"))
            page.keyboard.type("Sam")
            page.keyboard.press("Tab")  # leaving the field commits it
            for expected_left, key, note in (("9 left", "ArrowRight", "half right"), ("8 left", None, "")):
                # the grade: Tab into the radio group, Space picks the focused option, arrows move it
                _tab_until(page, lambda a: a["type"] == "radio")
                page.keyboard.press("Space")
                if key:
                    page.keyboard.press(key)
                _tab_until(page, lambda a: a["tag"] == "INPUT" and a["label"].startswith("Note"), limit=10)
                page.keyboard.type(note)
                page.keyboard.press("Enter")
                panel.get_by_text(expected_left).wait_for(state="visible")
            store = SQLiteFeedbackStore(Path(env["GUIDE_DATA_DIR"]) / "feedback.sqlite3")
            from guide.evals.report import load_report

            grades = store.grades(load_report(Path(env["GUIDE_DATA_DIR"]) / "runs" / "r1").run.id)
            assert [(g.case_id, g.grade, g.note, g.reviewer) for g in grades] == [
                ("g01", "partly", "half right", "Sam"), ("g02", "correct", "", "Sam")]
        finally:
            browser.close()

