"""`guide app`: prepare the search index in the terminal, then start the Streamlit app on a local address.

The index (and every cache the app builds on first use: keyword index, answer sentences, cross-lingual vectors)
is checked, and built if missing or stale, before Streamlit starts, so no visitor waits for it; the Streamlit
process then only loads what is already in the data dir.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from guide.config import REPO_ROOT

APP_PATH = REPO_ROOT / "app.py"


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("app", parents=[common], help="start the chat app in your browser (Streamlit)")
    p.add_argument("--port", type=int, default=8501, help="port to listen on (default 8501)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 exposes it on your network)")
    p.add_argument("--no-prepare", action="store_true",
                   help="start Streamlit at once without checking the search index (the first visit then builds "
                        "it, with progress on the page)")


def streamlit_command(app: Path, host: str, port: int) -> list[str]:
    """The exact command `guide app` runs (tests and the README use it too)."""
    return [sys.executable, "-m", "streamlit", "run", str(app),
            "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false"]


def local_url(host: str, port: int) -> str:
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "localhost") else host
    return f"http://{shown}:{port}"


def settings_env(settings: Any) -> dict[str, str]:
    """GUIDE_* variables carrying the CLI flags into the Streamlit process (it reads the environment). Paths are
    absolute: the Streamlit process runs in the repository, so a relative --data-dir would point elsewhere."""
    return {
        "GUIDE_DATA_DIR": str(Path(settings.data_dir).resolve()),
        "GUIDE_CORPUS_DIR": str(Path(settings.corpus_dir).resolve()),
        "GUIDE_EMBEDDING_MODEL": settings.embedding_model,
        "GUIDE_RERANKER": settings.reranker,
        "GUIDE_REGION": settings.region,
        **({"GUIDE_CHROMA_URL": settings.chroma_url} if settings.chroma_url else {}),
    }


def stage_bars() -> Any:
    """A Progress callback with one terminal bar per build stage (the `guide ingest` drawer, labelled per stage)."""
    from guide.cli.common import tqdm_progress
    from guide.ui.render import BUILD_STAGES

    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = tqdm_progress(BUILD_STAGES.get(stage, stage))
        bars[stage](stage, done, total)

    return progress


def prepare(settings: Any) -> float:
    """Open the pipeline once, as the app's first visit would, building whatever is missing in the data dir;
    returns the seconds it took. GuideErrors (unvetted corpus, Chroma server down…) propagate to the CLI."""
    from guide.pipeline import build_pipeline

    started = time.monotonic()
    build_pipeline(settings, progress=stage_bars())
    return time.monotonic() - started


def run(args: argparse.Namespace, settings: Any) -> int:
    from guide.errors import ConfigError, GuideError

    if not APP_PATH.is_file():
        raise ConfigError(f"{APP_PATH} is missing; run `guide app` from a full clone of the repository.")
    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, not {args.port}.")
    command = streamlit_command(APP_PATH, args.host, args.port)
    env = {**os.environ, **settings_env(settings)}
    if args.no_prepare:
        print("Skipping the index check (--no-prepare): the first visit builds the search index if it is "
              "missing, with progress on the page.", flush=True)
    else:
        where = settings.chroma_url or Path(settings.data_dir).resolve()
        print(f"Checking the search index in {where} (a first run builds it, about a minute)…", flush=True)
        try:
            seconds = prepare(settings)
        except GuideError:
            print("Recovery Guide did not start: the search index could not be prepared.", file=sys.stderr, flush=True)
            raise
        print(f"Search index ready ({seconds:.0f} s).", flush=True)
    print(f"Recovery Guide is starting at {local_url(args.host, args.port)}  (Ctrl+C to stop)", flush=True)
    os.chdir(REPO_ROOT)  # Streamlit reads .streamlit/config.toml from the working directory
    os.execve(sys.executable, command, env)
    return 0  # pragma: no cover - execve does not return
