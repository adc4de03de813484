"""`guide safety train`: rebuild the shipped risk classifier from `training/safety/`, deterministically.

Data: the team's messages (`training/safety/*.jsonl`, split by a stable hash into train / dev / test) plus the
third-party `dev/` split when it exists (its `test/` split is never read here). Thresholds are chosen recall first on
predictions the model did not train on: 5-fold out-of-fold predictions over the training pool and the team dev
split. Settings live in `training/safety/config.yaml`, not in code. Output: `guide/safety/data/risk_model.npz` and
its manifest `risk_model.json`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guide.errors import ConfigError
from guide.safety.classifier import (
    CLASSES,
    CRISIS_CLASSES,
    DEFAULT_MANIFEST,
    DEFAULT_MODEL,
    FeatureSpec,
    Thresholds,
    decide,
    featurize,
    softmax_scores,
)

if TYPE_CHECKING:
    import numpy as np

REPO = Path(__file__).resolve().parents[2]
TRAINING_DIR = REPO / "training" / "safety"
SUITE_DIR = REPO / "evals" / "safety"
CONFIG = TRAINING_DIR / "config.yaml"
EXTERNAL_DEV = REPO.parent / "shared" / "external" / "dev"
LANGS = ("en", "es", "fr")

#: Third-party crisis messages carry the source's category; these words map it onto the classifier's classes.
_CAT_WORDS = [
    (re.compile(r"overdose|poison|ingest"), "overdose"),
    (re.compile(r"self.?harm|cutting"), "self_harm"),
    (re.compile(r"abuse|child|stalk|confine|threat|weapon|sexual"), "abuse"),
    (re.compile(r"violence|harm_other|kill"), "violence"),
    (re.compile(r"suicid|burden|means|passive|method|minimi|negation|embedded|tense"), "suicide"),
]


@dataclass(frozen=True)
class Example:
    text: str
    label: str  # one of CLASSES
    lang: str
    style: str
    source: str  # "team:<file>" or "external:<file>"
    split: str  # train | dev | test (team); "train" for the third-party dev split


@dataclass(frozen=True)
class TrainConfig:
    """`training/safety/config.yaml`: settings in a file, not in code."""

    seed: int
    C: float
    folds: int
    external_weight: float
    class_weight: str | None
    false_alarm_cap: float
    false_checkin_cap: float
    class_recall_target: float
    features: FeatureSpec
    suite_files: tuple[str, ...] = ()
    suite_exclude: tuple[str, ...] = ()
    question_sets: tuple[str, ...] = ()
    #: files of those sets (`<set>/<file>.jsonl`) that do not train: cases added for the answer side after the model
    #: was trained, kept out so the shipped model and its data hash stay as measured
    question_exclude: tuple[str, ...] = ()

    @classmethod
    def read(cls, path: Path = CONFIG, *, encoders: Sequence[str] | None = None, **overrides: Any) -> "TrainConfig":
        import yaml

        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"Cannot read the training settings {path}: {exc}.") from None
        raw.update({k: v for k, v in overrides.items() if v is not None})
        feats = dict(raw.pop("features"))
        if encoders:
            feats["encoders"] = list(encoders)
        raw["suite_files"] = tuple(raw.get("suite_files") or ())
        raw["suite_exclude"] = tuple(raw.get("suite_exclude") or ())
        raw["question_sets"] = tuple(raw.get("question_sets") or ())
        raw["question_exclude"] = tuple(raw.get("question_exclude") or ())
        return cls(features=FeatureSpec(**feats), **raw)


def split_of(text: str) -> str:
    """Stable team split from the lower-cased text: 80 % train, 10 % dev, 10 % test."""
    bucket = int(hashlib.sha256(text.strip().lower().encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if bucket < 80 else "dev" if bucket < 90 else "test"


def question_files(question_sets: Sequence[str], exclude: Sequence[str] = ()) -> list[Path]:
    """The guide-question files that train: every `evals/<set>/*.jsonl` but the excluded `<set>/<file>.jsonl`."""
    return [p for name in question_sets for p in sorted((REPO / "evals" / name).glob("*.jsonl"))
            if f"{name}/{p.name}" not in exclude]


def team_files(directory: Path = TRAINING_DIR, suite_files: Sequence[str] = (),
               question_sets: Sequence[str] = (), question_exclude: Sequence[str] = ()) -> list[Path]:
    """The training messages, plus the team safety suite's development files and the guide-question dev sets named
    in the config (no holdout file is ever among them)."""
    return (sorted(directory.glob("*.jsonl")) + [SUITE_DIR / f"{name}.jsonl" for name in suite_files]
            + question_files(question_sets, question_exclude))


def data_sha256(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _suite_label(row: dict) -> str:
    """A team-suite line: crisis -> its category; caution (past, negation, grief, question) and ok -> none."""
    return str(row["category"]) if row["expected_route"] == "crisis" else "none"


def load_team(directory: Path = TRAINING_DIR, suite_files: Sequence[str] = (),
              suite_exclude: Sequence[str] = ()) -> list[Example]:
    """Every team-written message, validated; a bad line names its file and line and stops training. Suite lines
    whose id is in `suite_exclude` (the same words as a third-party test message) never train."""
    out: list[Example] = []
    seen: set[str] = set()
    for path in team_files(directory, suite_files):
        suite = path.parent == SUITE_DIR
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if suite and (row.get("history") or row.get("id") in suite_exclude):
                    continue  # a turn read in the light of earlier turns: the detector's context rules handle those
                text = str(row["text"]).strip()
                label = _suite_label(row) if suite else str(row["label"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path.name}:{n}: not a training line ({exc}); fix or remove it.") from None
            if label not in CLASSES:
                raise ConfigError(f"{path.name}:{n}: label {label!r} is not one of {', '.join(CLASSES)}.")
            key = text.lower()
            if not text or key in seen:
                continue
            seen.add(key)
            out.append(Example(text, label, str(row.get("lang", row.get("language", "en"))),
                               str(row.get("style", row.get("kind", ""))),
                               f"team:{'suite-' if suite else ''}{path.stem}", split_of(text)))
    if not out:
        raise ConfigError(f"No training messages under {directory}.")
    return out


def external_class(cat: str) -> str | None:
    for pattern, name in _CAT_WORDS:
        if pattern.search(cat.lower()):
            return name
    return None


def load_guide_questions(names: Sequence[str], exclude: Sequence[str] = ()) -> list[Example]:
    """Ordinary turns from the team's conversation and retrieval dev sets (`evals/<dir>/*.jsonl`) as `none`: the
    questions the guide exists for. Only conversations expected to end in an answer or a decline give turns;
    `evals/holdout/` is never among them."""
    out = []
    for path in question_files(names, exclude):
        name = path.parent.name
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if "turns" in row:
                if row.get("expect", {}).get("route") not in ("answer", "decline"):
                    continue
                texts = [str(t) for t in row["turns"]]
            else:
                texts = [str(row["query"])]
            for text in texts:
                out.append(Example(text.strip(), "none", str(row.get("language", "en")), "guide_question",
                                   f"team:{name}-{path.stem}", split_of(text)))
    return out


def load_external_dev(directory: Path | None) -> list[Example]:
    """The third-party dev split: none -> none, either -> distress, crisis -> a crisis class (from the source's
    category where it says one; otherwise chosen later by a model trained on the team data alone)."""
    if directory is None or not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            label = {"none": "none", "either": "distress"}.get(row["label"])
            if row["label"] == "crisis":
                label = external_class(str(row.get("cat", ""))) or "?"
            lang = language_of(row)
            out.append(Example(str(row["text"]), label or "none", lang, str(row.get("cat", "")),
                               f"external:{path.stem}", "train"))
    return out


def language_of(row: dict) -> str:
    """Language of a third-party row: the source says so where it can (Spanish tweets, Indonesian UGM), else a guess."""
    from guide.safety.language import detect_language

    cat = str(row.get("cat", ""))
    if "indonesian" in cat or "_ja" in cat:
        return "other"
    if cat.startswith("es_tweet") or cat.endswith("_es"):
        return "es"
    if cat.endswith("_fr"):
        return "fr"
    return str(detect_language(str(row["text"])))


# -- fitting ------------------------------------------------------------------------------------------------


def _fit(x, y, weights, cfg: TrainConfig):  # noqa: ANN001, ANN202 - sklearn types
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=cfg.C, max_iter=3000, class_weight=cfg.class_weight, random_state=cfg.seed)
    model.fit(x, y, sample_weight=weights)
    return model


def _full_probs(model, x) -> "np.ndarray":  # noqa: ANN001
    """Probabilities in CLASSES order even when a fold lacked a class."""
    import numpy as np

    p = model.predict_proba(x)
    out = np.zeros((x.shape[0], len(CLASSES)), dtype=np.float64)
    for j, cls in enumerate(model.classes_):
        out[:, int(cls)] = p[:, j]
    return out


def choose_thresholds(probs: "np.ndarray", labels: Sequence[str], lexical: Sequence[bool],
                      groups: Sequence[str], cfg: TrainConfig) -> Thresholds:
    """Recall first, within a false-alarm budget: over held-out predictions, the crisis threshold and lexicon floor
    with the highest crisis recall whose false alarms stay under `false_alarm_cap` in every group (team-written
    and third-party negatives separately); then lower per-class thresholds for classes under their recall target
    while the budget holds; then the lowest check-in threshold whose false check-ins stay under their cap."""
    import numpy as np

    labels = np.asarray(labels)
    lexical = np.asarray(lexical, dtype=bool)
    groups = np.asarray(groups)
    crisis = np.isin(labels, CRISIS_CLASSES)
    none = labels == "none"
    mass = probs[:, 2:].sum(axis=1)
    risk = mass + probs[:, 1]
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)

    def flagged(t: float, floor: float, per_class: dict[str, float]) -> "np.ndarray":
        out = (mass >= t) | (lexical & (risk >= floor))
        for name, tc in per_class.items():
            out |= probs[:, 2 + CRISIS_CLASSES.index(name)] >= tc
        return out

    def worst_false_alarm(flags: "np.ndarray") -> float:
        return max(float(flags[none & (groups == g)].mean()) for g in set(groups[none]))

    best: tuple[float, float, float] | None = None  # (recall, t, floor)
    for floor in (*grid[::5], 1.01):
        for t in grid:  # ascending: the first t within budget has the most recall for this floor
            flags = flagged(t, floor, {})
            if worst_false_alarm(flags) <= cfg.false_alarm_cap:
                recall = float(flags[crisis].mean())
                if best is None or recall > best[0] + 1e-9:
                    best = (recall, float(t), float(floor))
                break
    if best is None:
        raise ConfigError("No crisis threshold keeps false alarms under the cap; check the training data.")
    _, crisis_t, floor = best
    per_class: dict[str, float] = {}
    for j, name in enumerate(CRISIS_CLASSES):
        rows = labels == name
        if not rows.any() or flagged(crisis_t, floor, per_class)[rows].mean() >= cfg.class_recall_target:
            continue
        for tc in grid[grid < crisis_t]:
            trial = {**per_class, name: float(tc)}
            if worst_false_alarm(flagged(crisis_t, floor, trial)) <= cfg.false_alarm_cap + 0.005:
                per_class = trial
                break
    crisis_flags = flagged(crisis_t, floor, per_class)
    checkin_t = crisis_t
    for t in grid[grid <= crisis_t]:
        extra = (risk >= t) & ~crisis_flags
        if max(float(extra[none & (groups == g)].mean()) for g in set(groups[none])) <= cfg.false_checkin_cap:
            checkin_t = float(t)
            break
    return Thresholds(crisis=crisis_t, checkin=checkin_t, per_class=per_class, lexicon_floor=floor)


def summarize(probs: "np.ndarray", examples: Sequence[Example], thresholds: Thresholds,
              lexical: Sequence[bool]) -> dict:
    """Recall, false alarms and check-in share per group of examples (for the manifest and the report)."""
    decisions = [decide(row, thresholds, lex) for row, lex in zip(probs, lexical)]

    def block(idx: list[int]) -> dict:
        crisis = [i for i in idx if examples[i].label in CRISIS_CLASSES]
        none = [i for i in idx if examples[i].label == "none"]
        distress = [i for i in idx if examples[i].label == "distress"]
        return {
            "n": len(idx),
            "crisis_recall": _share([decisions[i].decision == "crisis" for i in crisis]),
            "false_alarm": _share([decisions[i].decision == "crisis" for i in none]),
            "checkin_on_none": _share([decisions[i].decision == "checkin" for i in none]),
            "distress_checked": _share([decisions[i].decision != "none" for i in distress]),
            "n_crisis": len(crisis), "n_none": len(none), "n_distress": len(distress),
        }

    groups: dict[str, list[int]] = {"all": list(range(len(examples)))}
    for i, ex in enumerate(examples):
        groups.setdefault(f"source:{ex.source}", []).append(i)
        groups.setdefault(f"lang:{ex.lang}", []).append(i)
        if ex.label in CRISIS_CLASSES:
            groups.setdefault(f"class:{ex.label}", []).append(i)
    return {name: block(idx) for name, idx in sorted(groups.items())}


def _share(flags: Sequence[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


@dataclass(frozen=True)
class TrainResult:
    weights: Any
    bias: Any
    manifest: dict
    seconds: float
    neighbours: Any = None  # NeighbourIndex | None


def train(cfg: TrainConfig, *, team_dir: Path = TRAINING_DIR, external_dev: Path | None = EXTERNAL_DEV,
          progress: Callable[[str], None] = print) -> TrainResult:
    """Fit, choose thresholds on held-out predictions, and return weights + manifest (nothing written)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from guide.retrieval.embedding import make_embedder

    t0 = time.perf_counter()
    team = load_team(team_dir, cfg.suite_files, cfg.suite_exclude)
    seen = {e.text.lower() for e in team}
    for q in load_guide_questions(cfg.question_sets, cfg.question_exclude):
        if q.text and q.text.lower() not in seen:
            seen.add(q.text.lower())
            team.append(q)
    external = load_external_dev(external_dev)
    progress(f"{len(team)} team messages ({dict(Counter(e.split for e in team))}), "
             f"{len(external)} third-party dev messages")
    from guide.safety.classifier import has_lexicon_crisis
    from guide.safety.lexicon import default_lexicon

    every = team + external
    texts = [e.text for e in every]
    vectors = []
    for name in cfg.features.encoders:
        progress(f"embedding {len(every)} messages with {name}")
        vectors.append(np.asarray(make_embedder(name).embed(texts), dtype=np.float32))
    lexicon = default_lexicon()
    scans = [lexicon.scan(t[:20_000]) for t in texts]
    from dataclasses import replace as _replace

    from guide.safety.classifier import NeighbourIndex, joined

    x_base = featurize(texts, _replace(cfg.features, neighbours=0), (), scans=scans, vectors=vectors)
    unit = joined(vectors)
    lexical_all = np.array([has_lexicon_crisis(s) for s in scans])
    pos = {id(e): i for i, e in enumerate(every)}

    def rows(group: Sequence[Example]) -> list[int]:
        return [pos[id(e)] for e in group]

    train_team = [e for e in team if e.split == "train"]
    dev_team = [e for e in team if e.split == "dev"]
    test_team = [e for e in team if e.split == "test"]
    def features(query: Sequence[int], index: "NeighbourIndex | None", self_rows: bool = False) -> "np.ndarray":
        base = x_base[list(query)]
        if index is None:
            return base
        return np.hstack([base, index.features(unit[list(query)], exclude_self=self_rows)])

    def index_for(ref: Sequence[int]) -> "NeighbourIndex | None":
        if not cfg.features.neighbours:
            return None
        labels = np.array([CLASSES.index(labels_by_row[i]) for i in ref])
        return NeighbourIndex.fit(unit[list(ref)], labels, cfg.features.neighbour_dims, cfg.features.neighbours,
                                  cfg.seed)

    if any(e.label == "?" for e in external):  # uncategorised third-party crises: a team-only model names the class
        team_model = _fit(x_base[rows(train_team)], np.array([CLASSES.index(e.label) for e in train_team]), None, cfg)
        unknown = [e for e in external if e.label == "?"]
        p = _full_probs(team_model, x_base[rows(unknown)])[:, 2:]
        named = {id(e): CRISIS_CLASSES[int(np.argmax(r))] for e, r in zip(unknown, p)}
        relabelled = [Example(e.text, named[id(e)], e.lang, e.style, e.source, e.split) if e.label == "?" else e
                      for e in external]
        for old, new in zip(external, relabelled):
            pos[id(new)] = pos.pop(id(old))
        external = relabelled
    pool = train_team + external
    labels_by_row = {pos[id(e)]: e.label for e in team + external}
    y = np.array([CLASSES.index(e.label) for e in pool])
    w = np.array([cfg.external_weight if e.source.startswith("external") else 1.0 for e in pool])
    pool_rows = np.array(rows(pool))

    progress(f"{cfg.folds}-fold out-of-fold predictions over {len(pool)} training messages")
    oof = np.zeros((len(pool), len(CLASSES)))
    folds = StratifiedKFold(n_splits=cfg.folds, shuffle=True, random_state=cfg.seed)
    for k, (tr, te) in enumerate(folds.split(pool_rows, y), 1):
        index = index_for(pool_rows[tr])
        model = _fit(features(pool_rows[tr], index, True), y[tr], w[tr], cfg)
        oof[te] = _full_probs(model, features(pool_rows[te], index))
        progress(f"  fold {k}/{cfg.folds}")
    progress("fitting the final model")
    neighbours = index_for(pool_rows)
    x_pool = features(pool_rows, neighbours, True)
    final = _fit(x_pool, y, w, cfg)
    weights = np.zeros((len(CLASSES), x_pool.shape[1]), dtype=np.float32)
    bias = np.full(len(CLASSES), -50.0, dtype=np.float32)  # a class absent from the data is never predicted
    if len(final.classes_) == 2:  # sklearn keeps one row for a binary problem
        raise ConfigError("The training data has only two classes; it needs none, distress and the crisis classes.")
    for j, cls in enumerate(final.classes_):
        weights[int(cls)] = final.coef_[j]
        bias[int(cls)] = final.intercept_[j]
    x_dev = features(rows(dev_team), neighbours)
    dev_probs = softmax_scores(x_dev, weights, bias)
    if not np.allclose(dev_probs, _full_probs(final, x_dev), atol=1e-3):
        raise ConfigError("The exported weights disagree with the fitted model; this is a bug in training.")
    held = list(pool) + dev_team
    held_probs = np.vstack([oof, dev_probs])
    held_groups = ["external" if e.source.startswith("external") else "team" for e in held]
    thresholds = choose_thresholds(held_probs, [e.label for e in held], lexical_all[rows(held)], held_groups, cfg)
    test_probs = softmax_scores(features(rows(test_team), neighbours), weights, bias)
    seconds = time.perf_counter() - t0
    manifest = {
        "classes": list(CLASSES),
        "data_sha256": data_sha256(team_files(team_dir, cfg.suite_files, cfg.question_sets, cfg.question_exclude)),
        "suite_files": list(cfg.suite_files),
        "suite_exclude": list(cfg.suite_exclude),
        "question_sets": list(cfg.question_sets),
        "external_dev_sha256": data_sha256(sorted(external_dev.glob("*.jsonl"))) if external else None,
        "features": {"encoders": list(cfg.features.encoders), "lexicon": cfg.features.lexicon,
                     "neighbours": cfg.features.neighbours, "neighbour_dims": cfg.features.neighbour_dims},
        "thresholds": asdict(thresholds),
        "training": {"seed": cfg.seed, "C": cfg.C, "folds": cfg.folds, "external_weight": cfg.external_weight,
                     "class_weight": cfg.class_weight, "false_alarm_cap": cfg.false_alarm_cap,
                     "false_checkin_cap": cfg.false_checkin_cap, "class_recall_target": cfg.class_recall_target,
                     "counts": {"team": dict(Counter(e.split for e in team)),
                                "team_labels": dict(Counter(e.label for e in team)),
                                "external_dev": len(external)},
                     "seconds": round(seconds, 1)},
        "metrics": {
            "out_of_fold": summarize(oof, pool, thresholds, lexical_all[rows(pool)]),
            "team_dev": summarize(dev_probs, dev_team, thresholds, lexical_all[rows(dev_team)]),
            "team_test": summarize(test_probs, test_team, thresholds, lexical_all[rows(test_team)]),
        },
    }
    return TrainResult(weights=weights, bias=bias, manifest=manifest, seconds=seconds, neighbours=neighbours)


def write(result: TrainResult, model_path: Path = DEFAULT_MODEL, manifest_path: Path = DEFAULT_MANIFEST) -> None:
    import numpy as np

    arrays = {"weights": result.weights, "bias": result.bias}
    nb = result.neighbours
    if nb is not None:
        arrays |= {"pca_mean": nb.mean, "pca_components": nb.components,
                   "ref": np.round(nb.ref * 127).astype(np.int8), "ref_labels": nb.labels.astype(np.int8)}
    np.savez_compressed(model_path, **arrays)
    manifest_path.write_text(json.dumps(result.manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def format_metrics(manifest: dict) -> str:
    """The manifest's figures as Markdown tables: held-out predictions only (out-of-fold, team dev, team test)."""
    from guide.evals.markdown import markdown_table

    t = manifest["thresholds"]
    lines = [f"encoders {', '.join(manifest['features']['encoders'])} + lexicon features; thresholds: crisis "
             f"{t['crisis']}, check-in {t['checkin']}, lexicon floor {t['lexicon_floor']}, per class "
             f"{t['per_class'] or '-'}", ""]
    headers = ["slice", "n", "crisis recall", "false alarm (none)", "check-in on none", "distress checked in"]

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    for split in ("out_of_fold", "team_dev", "team_test"):
        rows = [[name, str(b["n"]), fmt(b["crisis_recall"]), fmt(b["false_alarm"]), fmt(b["checkin_on_none"]),
                 fmt(b["distress_checked"])] for name, b in manifest["metrics"][split].items()]
        lines += [f"{split.replace('_', ' ')}:", markdown_table(headers, rows, aligned=True), ""]
    return "\n".join(lines)
