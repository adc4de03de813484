"""What the page tests share (AppTest and the browser): a copy of the fixture corpus and eval suites, the GUIDE_*
environment that points the guide at them, a page opened in AppTest (the staff page, or app.py), and a node's
visible text."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "guide" / "ui" / "staff.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUITE = FIXTURES / "own_suite" / "clinic-50.csv"
TIMEOUT = 240  # the first run builds the fixture index and runs the suites on a busy 2-core box
#: The workbench's fast set-up: no cross-encoder, no multilingual encoder (the staff page tests keep the defaults).
FAST_MODELS = {"GUIDE_RERANKER": "fake", "GUIDE_MULTILINGUAL_MODEL": "none"}


def fixture_dirs(root: Path) -> dict[str, Path]:
    """data (empty), corpus and evals (copies of the fixtures) under root."""
    shutil.copytree(FIXTURES / "corpus", root / "corpus")
    shutil.copytree(FIXTURES / "evals", root / "evals")
    return {"data": root / "data", "corpus": root / "corpus", "evals": root / "evals"}


def fixture_env(dirs: dict[str, Path], **extra: str) -> dict[str, str]:
    """The GUIDE_* settings for those dirs with the hash embedder (plus extra)."""
    return {"GUIDE_DATA_DIR": str(dirs["data"]), "GUIDE_CORPUS_DIR": str(dirs["corpus"]),
            "GUIDE_EVALS_DIR": str(dirs["evals"]), "GUIDE_EMBEDDING_MODEL": "hash:384", **extra}


def subprocess_env(dirs: dict[str, Path], **extra: str) -> dict[str, str]:
    """This process's environment without its GUIDE_* variables, offline, plus fixture_env: for `guide …` runs."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("GUIDE_")}, "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", **fixture_env(dirs, **extra)}


def open_page(path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], timeout: float = TIMEOUT) -> Any:
    """A Streamlit page (app.py or the staff page) in AppTest with these GUIDE_* settings (no Chroma server, no
    LLM), after its first run, which must not raise."""
    from streamlit.testing.v1 import AppTest

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GUIDE_CHROMA_URL", raising=False)
    monkeypatch.delenv("GUIDE_LLM", raising=False)
    at = AppTest.from_file(str(path), default_timeout=timeout)
    at.run()
    assert not at.exception, at.exception
    return at


def open_staff_page(monkeypatch: pytest.MonkeyPatch, dirs: dict[str, Path], **extra: str) -> Any:
    """The staff page over those dirs."""
    return open_page(PAGE, monkeypatch, fixture_env(dirs, **extra))


def page_text(node: Any) -> str:
    """Markdown, captions, subheaders and alerts under node, one per line."""
    parts = [m.value for m in node.markdown] + [c.value for c in node.caption] + [h.value for h in node.subheader]
    parts += [e.value for e in (*node.error, *node.success, *node.info, *node.warning)]
    return "\n".join(str(p) for p in parts)
