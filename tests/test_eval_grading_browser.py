"""The grading queue in a real browser, keyboard only: Tab to the Grading tab, type a name, pick a grade with the
arrow keys, type a note, press Enter; the grade lands in the feedback database and the next answer shows.
`guide app` runs on a loopback port over the fixture corpus (hash embedder, fake reranker)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guide.bench.server import free_port

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHROMIUM = Path(os.environ.get("GUIDE_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_S = 180


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"!!! BROWSER TEST SKIPPED: {CHROMIUM} not found (apt-get install -y chromium) !!!"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "!!! BROWSER TEST SKIPPED: playwright is not installed (pip install -e '.[test]') !!!"
    return None


if (_reason := _skip_reason()) is not None:
    print(_reason, file=sys.stderr)
    pytestmark = [pytest.mark.browser, pytest.mark.skip(reason=_reason)]


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A graded-by-hand run of the 50-question fixture suite, and `guide app` serving its data dir."""
    import httpx

    shutil.copytree(FIXTURES / "corpus", tmp_path / "corpus")
    shutil.copytree(FIXTURES / "evals", tmp_path / "evals")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("GUIDE_")},
           "GUIDE_DATA_DIR": str(tmp_path / "data"), "GUIDE_CORPUS_DIR": str(tmp_path / "corpus"),
           "GUIDE_EVALS_DIR": str(tmp_path / "evals"), "GUIDE_EMBEDDING_MODEL": "hash:384", "GUIDE_RERANKER": "fake",
           "GUIDE_MULTILINGUAL_MODEL": "none", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False"}
    run = subprocess.run([sys.executable, "-m", "guide.cli", "eval", "conversations", "--suite",
                          str(FIXTURES / "own_suite" / "clinic-50.csv"), "--out", str(tmp_path / "data" / "runs" / "r1")],
                         env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    port = free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "guide.cli", "app", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            assert proc.poll() is None, (tmp_path / "streamlit.log").read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.3)
        yield url, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


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
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
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

