"""The real product in a real browser: `guide app` (streamlit run app.py) on 127.0.0.1, driven by Debian's
Chromium through Playwright. Nothing downloads a browser; without /usr/bin/chromium the tests skip loudly.

One module-scoped server on the shipped corpus and packaged model:
  1. cold start: empty data dir, so `guide app` builds the index before Streamlit serves anyone, then answers;
  2. warm start: the server is restarted on the same data dir and answers again (the index is reused).
Times to the first visible answer are printed in the terminal summary and written to
test-artifacts/startup.json. Screenshots go to $GUIDE_SCREENSHOT_DIR (default test-artifacts/screenshots;
`GUIDE_SCREENSHOT_DIR=docs/screenshots` refreshes the README's images).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from guide.bench.server import free_port

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("GUIDE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]
SCREENSHOTS = Path(os.environ.get("GUIDE_SCREENSHOT_DIR") or REPO / "test-artifacts" / "screenshots")
ARTIFACTS = REPO / "test-artifacts"
START_TIMEOUT_S = 180     # streamlit up: imports and the index check
FIRST_ANSWER_TIMEOUT_S = 420  # cold: load the model and embed the whole corpus on a contended 2-core box
ANSWER_TIMEOUT_S = 120

QUESTION = "What happens at a first AA meeting?"
CRISIS = "I want to kill myself"


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return (f"!!! BROWSER TESTS SKIPPED: {CHROMIUM} not found. Install Debian's Chromium "
                "(`apt-get install -y chromium`; `make test` does this when run as root) !!!")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "!!! BROWSER TESTS SKIPPED: playwright is not installed (pip install -e '.[test]') !!!"
    return None


if (_reason := _skip_reason()) is not None:
    print(_reason, file=sys.stderr)
    pytestmark = [pytest.mark.browser, pytest.mark.skip(reason=_reason)]


@dataclass
class Server:
    """`guide app` on a free loopback port, with its log; start() returns when /_stcore/health answers."""

    data_dir: Path
    log_dir: Path
    proc: subprocess.Popen | None = None
    port: int = 0
    started_at: float = 0.0
    runs: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        import httpx

        self.port = free_port()
        self.runs += 1
        env = {**os.environ, "GUIDE_DATA_DIR": str(self.data_dir), "GUIDE_CORPUS_DIR": str(REPO / "corpus"),
               "GUIDE_EMBEDDING_MODEL": "packaged:all-MiniLM-L6-v2:int8", "GUIDE_REGION": "US",
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
        env.pop("GUIDE_CHROMA_URL", None)
        env.pop("GUIDE_LLM", None)
        self.log = self.log_dir / f"streamlit-{self.runs}.log"
        self.started_at = time.monotonic()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "guide.cli", "app", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"`guide app` exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/_stcore/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Streamlit did not become healthy within {timeout_s} s:\n{self.tail()}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("browser")
    srv = Server(data_dir=root / "data", log_dir=root)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _page(browser: Any, width: int = 1280, height: int = 900, mobile: bool = False) -> Any:
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=mobile,
                                  has_touch=mobile, device_scale_factor=2 if mobile else 1)
    context.set_default_timeout(ANSWER_TIMEOUT_S * 1000)
    page = context.new_page()
    page.dialogs = []  # any alert() would mean injected script ran
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.external = []  # the page must not call out to third parties (privacy; works offline)
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else page.external.append(r.url))
    return page


def _close(page: Any) -> None:
    external, dialogs = list(page.external), list(page.dialogs)
    page.context.close()
    assert not dialogs, f"script from user text ran: {dialogs}"
    assert not external, f"the page requested third-party URLs: {external[:5]}"


def _banner(page: Any) -> Any:
    return page.locator('[data-testid="stMainBlockContainer"]').get_by_text("In crisis?").first


def _open(page: Any, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    _banner(page).wait_for(state="visible", timeout=START_TIMEOUT_S * 1000)


def _chat_box(page: Any) -> Any:
    return page.locator('[data-testid="stChatInputTextArea"]')


def _focus_chat_with_keyboard(page: Any) -> None:
    """Press Tab until the chat box has focus, as a keyboard-only user would."""
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.dataset.testid") == "stChatInputTextArea":
            return
    pytest.fail("the chat box could not be reached with the Tab key")


def _send(page: Any, text: str, keyboard_only: bool = False) -> None:
    box = _chat_box(page)
    box.wait_for(state="visible")
    if keyboard_only:
        _focus_chat_with_keyboard(page)
        page.keyboard.type(text)
    else:
        box.fill(text)
    page.keyboard.press("Enter")


def _assistant(page: Any, n: int) -> Any:
    return page.locator('[data-testid="stChatMessage"]').filter(has=page.locator(
        '[data-testid="stChatMessageAvatarAssistant"]')).nth(n)


def _wait_for_cited_answer(page: Any, n: int, timeout_s: float) -> Any:
    reply = _assistant(page, n)
    reply.get_by_text("original source").first.wait_for(state="visible", timeout=timeout_s * 1000)
    return reply


def _shot(page: Any, name: str) -> Path:
    """Screenshot the whole conversation: Streamlit scrolls inside the page, so grow the viewport to fit it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    size = page.viewport_size
    content = page.evaluate(
        "document.querySelector('[data-testid=\"stMainBlockContainer\"]').getBoundingClientRect().height")
    page.set_viewport_size({"width": size["width"], "height": int(min(max(size["height"], content + 420), 4000))})
    time.sleep(1.0)  # let the layout and expander animation settle
    page.evaluate("document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    time.sleep(0.3)
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


def _record(server: Server, key: str, seconds: float, report_section: Any) -> None:
    server.timings[key] = round(seconds, 1)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "startup.json").write_text(json.dumps(server.timings, indent=2) + "\n")
    if key == "warm_start_first_answer_s":
        report_section("App start → first answer visible (browser)",
                       "\n".join(f"{k}: {v} s" for k, v in server.timings.items()))


# ------------------------------------------------------------------------------------------ tests
def test_cold_start_builds_the_index_before_serving_then_answers(server: Server, browser: Any, report_section) -> None:
    server.start(FIRST_ANSWER_TIMEOUT_S)  # `guide app` builds the index in the terminal, then starts Streamlit
    built = [p.name for p in (server.data_dir / "chroma", server.data_dir / "sentences-recovery-guide.npz",
                              server.data_dir / "crosslingual-recovery-guide.npz") if p.exists()]
    assert len(built) == 3, f"Streamlit answered before the index was built (only {built}):\n{server.tail()}"
    assert "Search index ready" in server.tail()
    page = _page(browser)
    _open(page, server.url)
    _send(page, QUESTION)
    reply = _wait_for_cited_answer(page, 0, FIRST_ANSWER_TIMEOUT_S)
    _record(server, "cold_start_first_answer_s", time.monotonic() - server.started_at, report_section)
    assert "[1]" in reply.inner_text()
    _close(page)


def test_warm_start_keyboard_only_answer_with_citations(server: Server, browser: Any, report_section) -> None:
    server.stop()
    server.start()  # same data dir: the index exists
    page = _page(browser)
    _open(page, server.url)
    _send(page, QUESTION, keyboard_only=True)
    reply = _wait_for_cited_answer(page, 0, FIRST_ANSWER_TIMEOUT_S)
    _record(server, "warm_start_first_answer_s", time.monotonic() - server.started_at, report_section)
    text = reply.inner_text()
    assert "[1]" in text and "Sources" in text
    link = reply.get_by_role("link", name="original source").first
    assert link.get_attribute("href").startswith("https://")
    # the expander previews the exact vetted passage; open it with the keyboard
    summary = reply.locator("summary").first
    summary.focus()
    page.keyboard.press("Enter")
    reply.locator('[data-testid="stExpanderDetails"]').first.wait_for(state="visible")
    assert _banner(page).is_visible()
    _shot(page, "app-answer.png")
    _close(page)


def test_crisis_message_shows_the_card_and_pins_help(server: Server, browser: Any) -> None:
    page = _page(browser)
    _open(page, server.url)
    _send(page, CRISIS)
    card = page.locator('[data-testid="rg-crisis-card"]').first
    card.wait_for(state="visible", timeout=ANSWER_TIMEOUT_S * 1000)
    assert "988" in card.inner_text()
    assert card.locator('a[href="tel:988"]').count() >= 1
    assert card.locator('a[href^="sms:"]').count() >= 1
    assert _assistant(page, 0).get_by_text("original source").count() == 0  # no retrieved answer
    _shot(page, "app-crisis.png")
    _send(page, "What is Al-Anon?")
    _wait_for_cited_answer(page, 1, ANSWER_TIMEOUT_S)
    # the pinned panel is drawn in the same script run as the answer but may reach the page a moment after the
    # cited answer does: wait for it (a missing panel still fails, after the timeout), then check what it holds
    pinned = page.locator('[data-testid="rg-pinned"]').first
    pinned.wait_for(state="visible", timeout=30_000)
    assert pinned.locator('a[href="tel:988"]').count() >= 1
    line = _assistant(page, 1).locator('[data-testid="rg-pinned-line"]')
    line.first.wait_for(state="visible", timeout=30_000)
    assert line.count() == 1
    _close(page)


def test_phone_width_and_escaped_html(server: Server, browser: Any) -> None:
    page = _page(browser, 390, 844, mobile=True)
    _open(page, server.url)
    box = _banner(page).bounding_box()
    assert box is not None and box["y"] + box["height"] <= 844, "help lines are visible without scrolling"
    hostile = '<img src=x onerror="alert(1)"> <b>bold</b> what is SMART Recovery?'
    _send(page, hostile)
    _wait_for_cited_answer(page, 0, ANSWER_TIMEOUT_S)
    user = page.locator('[data-testid="stChatMessage"]').first
    assert "<b>bold</b>" in user.inner_text()  # shown as typed
    assert user.locator("img[src='x'], b").count() == 0  # not turned into markup
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px on a phone"
    _shot(page, "app-phone.png")
    _close(page)


def test_a_deep_link_to_staff_has_the_same_navigation_and_banner(server: Server, browser: Any) -> None:
    if server.proc is None or server.proc.poll() is not None:  # run on its own (-k deep_link)
        server.start(FIRST_ANSWER_TIMEOUT_S)
    page = _page(browser)
    _open(page, f"{server.url}/staff")
    page.get_by_role("heading", name="Staff: evaluation").wait_for(state="visible")
    banners = page.locator('[data-testid="stMainBlockContainer"] .rg-banner')
    assert banners.count() == 1 and "988" in banners.first.inner_text()
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.wait_for(state="visible")
    assert [t.strip() for t in nav.inner_text().splitlines() if t.strip()] == ["Chat", "Staff"]
    _close(page)
