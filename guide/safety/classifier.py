"""The trained risk classifier: a multilingual sentence vector + the lexicon's findings + nearest-neighbour votes
over the training messages -> one linear softmax layer.

The weights (`data/risk_model.npz`) and their manifest (`data/risk_model.json`: data hash, encoders, features,
thresholds, dev metrics) are rebuilt by `guide safety train` from `training/safety/` (docs/safety.md). At run time
it is numpy over the packaged encoder(s) named in the manifest (USE multilingual v3 today).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from guide.errors import ConfigError
from guide.types import CATEGORIES

if TYPE_CHECKING:
    import numpy as np
    from guide.retrieval.embedding import Embedder
    from guide.safety.lexicon import Scan

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_MODEL = DATA / "risk_model.npz"
DEFAULT_MANIFEST = DATA / "risk_model.json"

#: The classes, in the column order of the weights. `distress` leads to a check-in, the rest to a crisis reply.
CLASSES = ("none", "distress", *CATEGORIES)
CRISIS_CLASSES = CLASSES[2:]


@dataclass(frozen=True)
class FeatureSpec:
    """How a message becomes a feature vector; stored in the manifest so training and run time agree.

    One L2-normalised sentence vector per encoder, side by side, then the lexicon's findings as indicator
    features (category x level, negated, figurative phrase stripped, informational question, context note)."""

    encoders: tuple[str, ...]
    lexicon: bool = True
    neighbours: int = 0  # k for the nearest-neighbour votes (0: no neighbour features)
    neighbour_dims: int = 128  # PCA dimensions of the stored reference vectors

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoders", tuple(self.encoders))

    @property
    def dim(self) -> int:
        return (sum(_dim_of(e) for e in self.encoders) + (LEXICON_DIM if self.lexicon else 0)
                + (NEIGHBOUR_DIM if self.neighbours else 0))


LEVELS = ("crisis", "caution", "ambiguous", "negated")
LEXICON_DIM = len(CRISIS_CLASSES) * len(LEVELS) + 3
NEIGHBOUR_DIM = 2 * len(CLASSES)


@dataclass(frozen=True)
class NeighbourIndex:
    """The training messages as int8 PCA vectors with their labels. Per class, a message gets the mean cosine of
    its 5 nearest examples of that class and the share of that class among its k nearest: local evidence a
    linear layer over the sentence vectors cannot express (measured on held-out third-party messages: recall
    at 8 % false alarms 0.64 -> 0.71, docs/safety.md)."""

    mean: "np.ndarray"  # (D,)
    components: "np.ndarray"  # (dims, D)
    ref: "np.ndarray"  # (N, dims) float32, unit length (stored as int8 / 127)
    labels: "np.ndarray"  # (N,) class index
    k: int

    @classmethod
    def fit(cls, vectors: "np.ndarray", labels: "np.ndarray", dims: int, k: int, seed: int) -> "NeighbourIndex":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=min(dims, vectors.shape[1], vectors.shape[0]), random_state=seed).fit(vectors)
        mean, comps = pca.mean_.astype("float32"), pca.components_.astype("float32")
        ref = _quantize(_unit((vectors - mean) @ comps.T))
        return cls(mean, comps, ref, labels.astype("int64"), k)

    def project(self, vectors: "np.ndarray") -> "np.ndarray":
        return _unit((vectors - self.mean) @ self.components.T)

    def features(self, vectors: "np.ndarray", exclude_self: bool = False) -> "np.ndarray":
        import numpy as np

        sims = self.project(vectors) @ self.ref.T
        if exclude_self:  # training rows: leave-one-out, so the layer learns from the values it will meet
            np.fill_diagonal(sims, -1.0)
        out = np.zeros((len(vectors), NEIGHBOUR_DIM), dtype=np.float32)
        k = min(self.k, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        for c in range(len(CLASSES)):
            of_class = self.labels == c
            if of_class.sum() == 0:
                continue
            sc = sims[:, of_class]
            n = min(5, sc.shape[1])
            out[:, c] = -np.partition(-sc, n - 1, axis=1)[:, :n].mean(axis=1)
            out[:, len(CLASSES) + c] = (self.labels[top] == c).mean(axis=1)
        return out


def _unit(x: "np.ndarray") -> "np.ndarray":
    import numpy as np

    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _quantize(x: "np.ndarray") -> "np.ndarray":
    import numpy as np

    return np.round(x * 127).astype(np.int8).astype(np.float32) / 127


@dataclass(frozen=True)
class Thresholds:
    """Decision rule over the class probabilities (chosen on dev by `guide safety train`, recall first).

    crisis   when the crisis classes together reach `crisis`, or one class reaches its own `per_class` value,
             or the lexicon found an explicit crisis phrase and crisis + distress reach `lexicon_floor`;
    checkin  when distress plus the crisis classes reach `checkin`.
    """

    crisis: float
    checkin: float
    per_class: dict[str, float] = field(default_factory=dict)
    #: an explicit lexicon crisis phrase makes a crisis when the classifier's risk (crisis + distress) reaches this
    lexicon_floor: float = 0.0


@dataclass(frozen=True)
class RiskScores:
    """Class probabilities for one message and the decision the thresholds give."""

    probabilities: tuple[float, ...]
    decision: str  # "crisis" | "checkin" | "none"
    category: str | None  # the most likely crisis class when decision is crisis (also reported for checkin)

    def p(self, name: str) -> float:
        return self.probabilities[CLASSES.index(name)]

    @property
    def crisis_mass(self) -> float:
        return float(sum(self.probabilities[2:]))

    def describe(self) -> str:
        top = sorted(zip(CLASSES, self.probabilities), key=lambda kv: -kv[1])[:3]
        shown = ", ".join(f"{name} {p:.2f}" for name, p in top)
        return f"classifier {self.decision}: {shown} (crisis classes together {self.crisis_mass:.2f})"


def decide(probabilities: Sequence[float], thresholds: Thresholds, lexicon_crisis: bool = False) -> RiskScores:
    """The pure decision rule, shared by the run-time model and the training report."""
    probs = tuple(float(p) for p in probabilities)
    crisis_probs = probs[2:]
    mass = sum(crisis_probs)
    best = max(range(len(crisis_probs)), key=lambda i: crisis_probs[i])
    category = CRISIS_CLASSES[best]
    per_class = [name for name, p in zip(CRISIS_CLASSES, crisis_probs) if p >= thresholds.per_class.get(name, 2.0)]
    lexical = lexicon_crisis and mass + probs[1] >= thresholds.lexicon_floor
    if mass >= thresholds.crisis or per_class or lexical:
        if per_class and mass < thresholds.crisis:
            category = max(per_class, key=lambda n: crisis_probs[CRISIS_CLASSES.index(n)])
        return RiskScores(probs, "crisis", category)
    if mass + probs[1] >= thresholds.checkin:
        return RiskScores(probs, "checkin", category)
    return RiskScores(probs, "none", None)


class RiskModel(Protocol):
    """Scores messages; `name` appears in verdict reasons and reports."""

    name: str

    def score(self, texts: Sequence[str], scans: "Sequence[Scan] | None" = None) -> list[RiskScores]: ...


# -- features -----------------------------------------------------------------------------------------------


def lexicon_features(scan: "Scan") -> "np.ndarray":
    """The lexicon's findings as 0/1 features: the classifier learns how much each is worth (no vetoes)."""
    import numpy as np

    v = np.zeros(LEXICON_DIM, dtype=np.float32)
    for f in scan.findings:
        if f.category in CRISIS_CLASSES and f.level in LEVELS:
            v[CRISIS_CLASSES.index(f.category) * len(LEVELS) + LEVELS.index(f.level)] = 1.0
    for f in scan.suppressed:
        if f.category in CRISIS_CLASSES:
            v[CRISIS_CLASSES.index(f.category) * len(LEVELS) + LEVELS.index("negated")] = 1.0
    base = len(CRISIS_CLASSES) * len(LEVELS)
    v[base] = float(bool(scan.stripped))
    v[base + 1] = float(scan.question)
    v[base + 2] = float(any(f.note for f in scan.findings))
    return v


def has_lexicon_crisis(scan: "Scan") -> bool:
    return any(f.level == "crisis" for f in scan.findings)


def joined(vectors: "Sequence[np.ndarray]") -> "np.ndarray":
    """The encoders' vectors side by side, unit length: what the neighbour index compares."""
    import numpy as np

    return _unit(np.hstack(list(vectors)))


def featurize(texts: Sequence[str], spec: FeatureSpec, embedders: "Sequence[Embedder]",
              scans: "Sequence[Scan] | None" = None, vectors: "Sequence[np.ndarray] | None" = None,
              neighbours: NeighbourIndex | None = None, exclude_self: bool = False) -> "np.ndarray":
    """[encoder 1 | encoder 2 | … | lexicon indicators | neighbour votes], one row per message (vectors and scans
    may be passed in)."""
    import numpy as np

    parts = list(vectors) if vectors is not None else [
        np.asarray(e.embed(list(texts)), dtype=np.float32) for e in embedders]
    encoded = list(parts)
    if spec.lexicon:
        if scans is None:
            from guide.safety.lexicon import default_lexicon

            lexicon = default_lexicon()
            scans = [lexicon.scan(t) for t in texts]
        parts.append(np.stack([lexicon_features(s) for s in scans]) if len(texts) else
                     np.zeros((0, LEXICON_DIM), dtype=np.float32))
    if spec.neighbours:
        if neighbours is None:
            raise ConfigError("The classifier's features need its neighbour index; rebuild with `guide safety train`.")
        parts.append(neighbours.features(joined(encoded), exclude_self=exclude_self))
    return np.hstack(parts).astype(np.float32)


def softmax_scores(x: "np.ndarray", weights: "np.ndarray", bias: "np.ndarray") -> "np.ndarray":
    import numpy as np

    logits = np.asarray(x @ weights.T, dtype=np.float64) + bias
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


# -- the shipped model --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """What `guide safety train` wrote beside the weights."""

    data_sha256: str
    features: FeatureSpec
    thresholds: Thresholds
    classes: tuple[str, ...]
    metrics: dict
    raw: dict

    @classmethod
    def read(cls, path: Path = DEFAULT_MANIFEST) -> "Manifest":
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                data_sha256=raw["data_sha256"],
                features=FeatureSpec(**raw["features"]),
                thresholds=Thresholds(**raw["thresholds"]),
                classes=tuple(raw["classes"]),
                metrics=raw.get("metrics", {}),
                raw=raw,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"Cannot read the risk classifier manifest {path}: {exc}. Restore it from the "
                              "repository or rebuild it with `guide safety train`.") from None


class LinearRiskModel:
    """The shipped classifier. Thread-safe; the encoder is shared with anything else that asks for it."""

    def __init__(self, embedders: "Sequence[Embedder] | None" = None, *, model_path: Path = DEFAULT_MODEL,
                 manifest_path: Path = DEFAULT_MANIFEST) -> None:
        import numpy as np

        self.manifest = Manifest.read(manifest_path)
        if self.manifest.classes != CLASSES:
            raise ConfigError(f"{manifest_path} lists classes {self.manifest.classes}, the code expects {CLASSES}; "
                              "rebuild it with `guide safety train`.")
        try:
            with np.load(model_path) as data:
                self.weights = data["weights"].astype(np.float32)
                self.bias = data["bias"].astype(np.float32)
                self.neighbours = None
                if self.manifest.features.neighbours:
                    self.neighbours = NeighbourIndex(
                        data["pca_mean"].astype(np.float32), data["pca_components"].astype(np.float32),
                        data["ref"].astype(np.float32) / 127, data["ref_labels"].astype(np.int64),
                        self.manifest.features.neighbours)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"Cannot read the risk classifier weights {model_path}: {exc}. Restore them from the "
                              "repository or rebuild them with `guide safety train`.") from None
        spec = self.manifest.features
        expected = (len(CLASSES), spec.dim)
        if self.weights.shape != expected:
            raise ConfigError(f"{model_path} holds weights of shape {self.weights.shape}, expected {expected}; "
                              "rebuild it with `guide safety train`.")
        if embedders is None:
            from guide.retrieval.embedding import make_embedder

            embedders = [make_embedder(name) for name in spec.encoders]
        if tuple(e.name for e in embedders) != spec.encoders:
            raise ConfigError(f"The risk classifier was trained on {', '.join(spec.encoders)}, "
                              f"not {', '.join(e.name for e in embedders)}.")
        self.embedders = tuple(embedders)
        self.thresholds = self.manifest.thresholds
        self.name = "linear(" + "+".join(e.split(":")[1] for e in spec.encoders) + ("+lexicon" if spec.lexicon else "") + ")"

    def probabilities(self, texts: Sequence[str], scans: "Sequence[Scan] | None" = None) -> "np.ndarray":
        x = featurize(texts, self.manifest.features, self.embedders, scans, neighbours=self.neighbours)
        return softmax_scores(x, self.weights, self.bias)

    def score(self, texts: Sequence[str], scans: "Sequence[Scan] | None" = None) -> list[RiskScores]:
        if not texts:
            return []
        if scans is None:
            from guide.safety.lexicon import default_lexicon

            scans = [default_lexicon().scan(t) for t in texts]
        return [decide(row, self.thresholds, has_lexicon_crisis(scan))
                for row, scan in zip(self.probabilities(texts, scans), scans)]


def _dim_of(encoder: str) -> int:
    return 512 if encoder == "packaged:use-multilingual-v3" else 384


_SHIPPED: dict[str, LinearRiskModel] = {}
_SHIPPED_LOCK = threading.Lock()


def shipped_model() -> LinearRiskModel:
    """The committed classifier, loaded once per process (the encoder load is the slow part, ~2 s)."""
    with _SHIPPED_LOCK:
        if "default" not in _SHIPPED:
            _SHIPPED["default"] = LinearRiskModel()
        return _SHIPPED["default"]


class FakeRiskModel:
    """Test double: fixed probabilities per exact message, `none` for anything else; can be told to fail."""

    name = "fake-risk"

    def __init__(self, table: dict[str, str] | None = None, *, fail: bool = False,
                 thresholds: Thresholds | None = None) -> None:
        self.table = dict(table or {})
        self.fail = fail
        self.thresholds = thresholds or Thresholds(crisis=0.5, checkin=0.5)

    def score(self, texts: Sequence[str], scans: "Sequence[Scan] | None" = None) -> list[RiskScores]:
        if self.fail:
            raise RuntimeError("fake risk model told to fail")
        out = []
        for text in texts:
            label = self.table.get(text, "none")
            probs = [0.0] * len(CLASSES)
            probs[CLASSES.index(label)] = 1.0
            out.append(decide(probs, self.thresholds))
        return out
