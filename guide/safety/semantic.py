"""Layer 3: semantic similarity to crisis exemplars, with the same embedder the retriever uses.

It catches what the lexicon has no words for ("I've got the pills lined up"). Exemplar embeddings are
computed once per layer, kept in memory and optionally on disk, keyed by embedder name + exemplar file hash.
Anchors (non-crisis messages sharing crisis words) keep idioms and questions from scoring as crises.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guide.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from guide.retrieval.embedding import Embedder

DEFAULT_EXEMPLARS = Path(__file__).resolve().parent / "data" / "exemplars.yaml"
MAX_PIECES = 6
_SPLIT = re.compile(r"(?<=[.!?;\n])\s+|\s+(?:but|and then|also)\s+", re.IGNORECASE)
log = logging.getLogger("guide.safety")


@dataclass(frozen=True)
class Calibration:
    crisis: float
    caution: float
    margin: float


@dataclass(frozen=True)
class SemanticMatch:
    """The closest crisis exemplar for a message and how it compares with the closest non-crisis anchor."""

    category: str
    similarity: float
    anchor_similarity: float
    exemplar: str
    anchor: str
    route: str  # "crisis" | "caution" | "ok" under the layer's calibration

    def describe(self) -> str:
        return (f"semantic {self.route}: {self.category} similarity {self.similarity:.2f} "
                f"(anchor {self.anchor_similarity:.2f}) to \"{self.exemplar}\"")


def split_pieces(text: str, limit: int = MAX_PIECES) -> list[str]:
    """Sentences (and 'but'/'also' clauses) of a long message, so a crisis inside small talk still stands out."""
    pieces = [p.strip() for p in _SPLIT.split(text) if p and len(p.strip()) > 2]
    if len(pieces) <= 1:
        return [text.strip()]
    if len(pieces) > limit:  # keep the longest pieces; the whole text is embedded too
        pieces = sorted(pieces, key=len, reverse=True)[:limit]
    return [text.strip(), *pieces]


class SemanticLayer:
    """Nearest-exemplar scoring. Pure given the embedder; thread-safe lazy loading of exemplar vectors."""

    def __init__(
        self,
        embedder: "Embedder",
        exemplars_path: str | Path | None = None,
        *,
        threshold: float | None = None,
        caution_threshold: float | None = None,
        margin: float | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        import yaml

        self.embedder = embedder
        self.path = Path(exemplars_path) if exemplars_path else DEFAULT_EXEMPLARS
        try:
            raw = self.path.read_bytes()
            data: dict[str, Any] = yaml.safe_load(raw)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"Cannot read crisis exemplars {self.path}: {exc}. Restore it from the repository.") from None
        self.file_hash = hashlib.sha256(raw).hexdigest()
        cal = (data.get("calibration") or {})
        chosen = cal.get(embedder.name) or cal.get("default") or {"crisis": 0.8, "caution": 0.65, "margin": 0.05}
        self.calibration = Calibration(
            crisis=float(threshold if threshold is not None else chosen["crisis"]),
            caution=float(caution_threshold if caution_threshold is not None else chosen.get("caution", 0.65)),
            margin=float(margin if margin is not None else chosen.get("margin", 0.05)),
        )
        self.texts: list[str] = []
        self.categories: list[str] = []
        for category, items in (data.get("crisis") or {}).items():
            for item in items:
                self.texts.append(str(item))
                self.categories.append(str(category))
        self.anchors: list[str] = [str(a) for a in data.get("anchors") or ()]
        if not self.texts:
            raise ConfigError(f"{self.path} has no crisis exemplars; the semantic layer needs at least one.")
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._lock = threading.Lock()
        self._vectors: "np.ndarray | None" = None
        self._anchor_vectors: "np.ndarray | None" = None

    @property
    def cache_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.embedder.name)
        return self.cache_dir / f"safety-exemplars-{slug}-{self.file_hash[:16]}.npz"

    def _load_vectors(self) -> tuple["np.ndarray", "np.ndarray"]:
        import numpy as np

        with self._lock:
            if self._vectors is not None and self._anchor_vectors is not None:
                return self._vectors, self._anchor_vectors
            path = self.cache_path
            if path is not None and path.exists():
                try:
                    with np.load(path) as cached:
                        ex, an = cached["exemplars"], cached["anchors"]
                    if ex.shape[0] == len(self.texts) and an.shape[0] == len(self.anchors):
                        self._vectors, self._anchor_vectors = ex, an
                        return ex, an
                except (OSError, ValueError, KeyError):
                    log.warning("ignoring an unreadable safety exemplar cache at %s", path)
            ex = np.asarray(self.embedder.embed(self.texts), dtype=np.float32)
            an = (np.asarray(self.embedder.embed(self.anchors), dtype=np.float32)
                  if self.anchors else np.zeros((0, ex.shape[1]), dtype=np.float32))
            if path is not None:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_suffix(".tmp.npz")
                    np.savez(tmp, exemplars=ex, anchors=an)
                    tmp.replace(path)
                except OSError:
                    log.warning("could not write the safety exemplar cache under %s", path.parent)
            self._vectors, self._anchor_vectors = ex, an
            return ex, an

    def warm(self) -> None:
        """Embed the exemplars now (the first check would otherwise pay for it)."""
        self._load_vectors()

    def match(self, text: str) -> SemanticMatch:
        """Score a (normalised) message against every exemplar and anchor."""
        import numpy as np

        ex, an = self._load_vectors()
        pieces = split_pieces(text)
        q = np.asarray(self.embedder.embed(pieces), dtype=np.float32)
        sims = q @ ex.T  # pieces x exemplars
        flat = int(np.argmax(sims))
        piece_i, ex_i = divmod(flat, sims.shape[1])
        best = float(sims[piece_i, ex_i])
        if an.shape[0]:
            anchor_sims = q[piece_i] @ an.T
            an_i = int(np.argmax(anchor_sims))
            anchor_best, anchor_text = float(anchor_sims[an_i]), self.anchors[an_i]
        else:
            anchor_best, anchor_text = -1.0, ""
        cal = self.calibration
        if best >= cal.crisis and best - anchor_best >= cal.margin:
            route = "crisis"
        elif best >= cal.caution and best > anchor_best:
            route = "caution"
        else:
            route = "ok"
        return SemanticMatch(self.categories[ex_i], best, anchor_best, self.texts[ex_i], anchor_text, route)
