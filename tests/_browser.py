"""What the eval browser tests share: Debian's Chromium and its flags, the loud skip when it or Playwright is
missing, and `guide app` served on a free loopback port for the length of a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("GUIDE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(os.environ.get("GUIDE_SCREENSHOT_DIR") or REPO / "test-artifacts" / "screenshots")


def skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"!!! BROWSER TEST SKIPPED: {CHROMIUM} not found (apt-get install -y chromium) !!!"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "!!! BROWSER TEST SKIPPED: playwright is not installed (pip install -e '.[test]') !!!"
    return None


def browser_marks() -> list[Any]:
    """A browser test module's pytestmark: the marker, and a skip that says what to install (also on stderr)."""
    reason = skip_reason()
    if reason is None:
        return [pytest.mark.browser]
    print(reason, file=sys.stderr)
    return [pytest.mark.browser, pytest.mark.skip(reason=reason)]


def launch(playwright: Any) -> Any:
    """Debian's Chromium through Playwright (nothing downloads a browser)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@contextmanager
def serve_app(env: Mapping[str, str], log_path: Path, timeout_s: float = 180) -> Iterator[str]:
    """`guide app` on a free loopback port with this environment; yields its URL once /_stcore/health answers,
    and stops the whole process group afterwards."""
    import httpx

    from guide.bench.server import free_port

    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "guide.cli", "app", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=REPO, env=dict(env), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
                try:
                    if httpx.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "streamlit did not start"
                time.sleep(0.3)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
