"""`guide app`: start the Streamlit app on a local address and print its URL first."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from guide.config import REPO_ROOT

APP_PATH = REPO_ROOT / "app.py"


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("app", parents=[common], help="start the chat app in your browser (Streamlit)")
    p.add_argument("--port", type=int, default=8501, help="port to listen on (default 8501)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 exposes it on your network)")


def streamlit_command(app: Path, host: str, port: int) -> list[str]:
    """The exact command `guide app` runs (tests and the README use it too)."""
    return [sys.executable, "-m", "streamlit", "run", str(app),
            "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false"]


def local_url(host: str, port: int) -> str:
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "localhost") else host
    return f"http://{shown}:{port}"


def settings_env(settings: Any) -> dict[str, str]:
    """GUIDE_* variables carrying the CLI flags into the Streamlit process (it reads the environment)."""
    return {
        "GUIDE_DATA_DIR": str(settings.data_dir),
        "GUIDE_CORPUS_DIR": str(settings.corpus_dir),
        "GUIDE_EMBEDDING_MODEL": settings.embedding_model,
        "GUIDE_REGION": settings.region,
        **({"GUIDE_CHROMA_URL": settings.chroma_url} if settings.chroma_url else {}),
    }


def run(args: argparse.Namespace, settings: Any) -> int:
    from guide.errors import ConfigError

    if not APP_PATH.is_file():
        raise ConfigError(f"{APP_PATH} is missing; run `guide app` from a full clone of the repository.")
    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535, not {args.port}.")
    command = streamlit_command(APP_PATH, args.host, args.port)
    print(f"Recovery Guide is starting at {local_url(args.host, args.port)}  (Ctrl+C to stop)", flush=True)
    print("The first start builds the search index; the page shows its progress.", flush=True)
    env = {**os.environ, **settings_env(settings)}
    os.chdir(REPO_ROOT)  # Streamlit reads .streamlit/config.toml from the working directory
    os.execve(sys.executable, command, env)
    return 0  # pragma: no cover - execve does not return
