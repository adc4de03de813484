"""report.html in a real browser (Debian's Chromium via Playwright) with every network request refused:
the charts must render from the inlined plotly.js alone. A screenshot goes to $GUIDE_SCREENSHOT_DIR
(default test-artifacts/screenshots)."""

from __future__ import annotations

from pathlib import Path

from _browser import SCREENSHOTS, browser_marks, launch
from _eval_synthetic import synthetic_run

from guide.evals.compare import compare
from guide.evals.render import write_outputs

pytestmark = browser_marks()


def test_report_html_renders_offline_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    a = synthetic_run(tmp_path, "A", run_id="run-A")
    b = synthetic_run(tmp_path, "B", run_id="run-B")
    b = b.model_copy(update={"comparison": compare(a, b, "runs/run-A")})
    html = write_outputs(b, tmp_path / "out")["html"]

    blocked: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                       else (blocked.append(route.request.url), route.abort()))
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(html.as_uri(), wait_until="load", timeout=60_000)
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 9", timeout=60_000)
            assert page.locator(".js-plotly-plot").count() == 9  # + pass rate by tag, latency distribution, change
            assert "Newly failing: 1" in page.inner_text("main")
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "eval-report-synthetic.png"), full_page=False)
        finally:
            browser.close()
    assert blocked == [], f"report.html tried to load {blocked}"
    assert errors == []
