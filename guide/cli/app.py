"""`guide app`: prepare the pipeline in the terminal, then serve the Streamlit app from this same process.

The index (and every cache the app builds on first use: keyword index, answer sentences, cross-lingual vectors)
is checked, and built if missing or stale, and the models are loaded, before the server accepts anyone. The
pipeline built here is the one the app's first visitor uses (guide.ui.session.pipeline_slot), so the first
question answers as fast as the second.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guide.config import REPO_ROOT

if TYPE_CHECKING:
    from guide.config import Settings
    from guide.pipeline import Pipeline

APP_PATH = REPO_ROOT / "app.py"


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("app", parents=[common], help="start the chat app in your browser (Streamlit)")
    p.add_argument("--port", type=int, default=8501, help="port to listen on (default 8501)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 exposes it on your network)")
    p.add_argument("--no-prepare", action="store_true",
                   help="start Streamlit at once without checking the search index (the first visit then builds "
                        "it, with progress on the page)")


def streamlit_args(app: Path, host: str, port: int) -> list[str]:
    """The `streamlit` arguments `guide app` serves with (in this process; tests and the README use them too)."""
    return ["run", str(app), "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false"]


def start_streamlit(args: list[str]) -> None:
    """Run the Streamlit server in this process until it stops (Ctrl+C)."""
    from streamlit.web.cli import main as streamlit_main

    streamlit_main(args, prog_name="streamlit", standalone_mode=False)


def local_url(host: str, port: int) -> str:
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "localhost") else host
    return f"http://{shown}:{port}"


def settings_env(settings: "Settings") -> dict[str, str]:
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


def prepare(settings: "Settings") -> "tuple[Pipeline, float]":
    """Build the pipeline once, as the app's first visit would, building whatever is missing in the data dir;
    returns it and the seconds it took. GuideErrors (unvetted corpus, Chroma server down…) reach the CLI."""
    from guide.pipeline import build_pipeline

    started = time.monotonic()
    pipeline = build_pipeline(settings, progress=stage_bars())
    return pipeline, time.monotonic() - started


def run(args: argparse.Namespace, settings: "Settings") -> int:
    from guide.config import load_settings
    from guide.errors import ConfigError, GuideError
    from guide.ui.session import pipeline_slot

    if not APP_PATH.is_file():
        raise ConfigError(f"{APP_PATH} is missing; run `guide app` from a full clone of the repository.")
    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, not {args.port}.")
    # the app reads its settings from the environment, in the repository (Streamlit reads .streamlit/ there):
    # set both first, so the settings prepared here are exactly the ones the app's pages load
    os.environ.update(settings_env(settings))
    os.chdir(REPO_ROOT)
    settings = load_settings()
    if args.no_prepare:
        print("Skipping the index check (--no-prepare): the first visit builds the search index if it is "
              "missing, with progress on the page.", flush=True)
    else:
        where = settings.chroma_url or Path(settings.data_dir).resolve()
        print(f"Checking the search index in {where} (a first run builds it, about a minute)…", flush=True)
        try:
            pipeline, seconds = prepare(settings)
        except GuideError:
            print("Recovery Guide did not start: the search index could not be prepared.", file=sys.stderr, flush=True)
            raise
        pipeline_slot(settings.model_dump_json()).put(pipeline)
        print(f"Search index ready ({seconds:.0f} s).", flush=True)
    print(f"Recovery Guide is starting at {local_url(args.host, args.port)}  (Ctrl+C to stop)", flush=True)
    start_streamlit(streamlit_args(APP_PATH, args.host, args.port))
    return 0
