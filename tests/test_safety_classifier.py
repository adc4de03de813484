"""The trained risk classifier: the shipped artifact matches its data, the decision rule, the check-in route and
its context, failing closed, and deterministic training. Real-model behaviour is in the integration tier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from guide.safety import SafetyChecker, guarded_check
from guide.safety.classifier import (
    CLASSES,
    DEFAULT_MANIFEST,
    DEFAULT_MODEL,
    FakeRiskModel,
    Manifest,
    Thresholds,
    decide,
)
from guide.safety.training import EXTERNAL_DEV, TrainConfig, data_sha256, load_team, split_of, team_files
from guide.types import Turn

EXTERNAL_TEST = EXTERNAL_DEV.parent / "test"


def probs(**kv: float) -> list[float]:
    out = [0.0] * len(CLASSES)
    for name, p in kv.items():
        out[CLASSES.index(name)] = p
    out[0] = max(0.0, 1.0 - sum(out[1:]))
    return out


# -- the artifact ---------------------------------------------------------------------------------------------


def test_the_shipped_model_was_built_from_the_data_in_the_repository():
    """Edit the training data or config and not retrain (`guide safety train`), and this fails."""
    manifest = Manifest.read()
    cfg = TrainConfig.read()
    assert manifest.data_sha256 == data_sha256(team_files(suite_files=cfg.suite_files,
                                                          question_sets=cfg.question_sets,
                                                          question_exclude=cfg.question_exclude)), \
        "training/safety/ changed since the model was trained: run `guide safety train` and commit the artifact"
    assert manifest.features.encoders == cfg.features.encoders and manifest.features.lexicon == cfg.features.lexicon
    assert manifest.raw["suite_files"] == list(cfg.suite_files)
    assert manifest.raw["suite_exclude"] == list(cfg.suite_exclude)
    assert manifest.raw["question_sets"] == list(cfg.question_sets) and "holdout" not in cfg.question_sets
    assert manifest.raw["training"]["C"] == cfg.C and manifest.raw["training"]["seed"] == cfg.seed


@pytest.mark.skipif(not EXTERNAL_DEV.is_dir(), reason="../shared/external is not here")
def test_the_shipped_model_saw_todays_third_party_dev_split():
    assert Manifest.read().raw["external_dev_sha256"] == data_sha256(sorted(EXTERNAL_DEV.glob("*.jsonl")))


def test_the_artifact_is_small_and_well_formed():
    assert DEFAULT_MODEL.stat().st_size < 3_000_000
    with np.load(DEFAULT_MODEL) as data:
        weights, bias = data["weights"], data["bias"]
    manifest = Manifest.read()
    assert weights.shape == (len(CLASSES), manifest.features.dim) and bias.shape == (len(CLASSES),)
    assert np.isfinite(weights).all() and np.abs(weights).max() > 0.1  # trained, not zeros
    t = manifest.thresholds
    assert 0 < t.checkin <= t.crisis < 1
    held_out = manifest.metrics["out_of_fold"]["all"]
    assert held_out["crisis_recall"] > 0.5 and held_out["false_alarm"] <= 0.1  # what the manifest claims is sane


def test_training_data_meets_the_brief():
    team = [e for e in load_team() if not e.source.startswith("team:suite-")]
    assert len(team) >= 6000
    labels = {c: sum(e.label == c for e in team) for c in CLASSES}
    for c in ("suicide", "self_harm", "overdose", "medical", "violence", "abuse"):
        assert labels[c] >= 400, c
    assert labels["none"] >= 2500
    assert {e.lang for e in team} == {"en", "es", "fr"}
    for lang in ("es", "fr"):
        assert sum(e.lang == lang for e in team) >= 800
    for e in team[:50]:
        assert e.split == split_of(e.text)


@pytest.mark.skipif(not EXTERNAL_TEST.is_dir(), reason="../shared/external is not here")
def test_no_third_party_test_message_is_in_the_training_data():
    def key(t: str) -> str:
        return " ".join(t.lower().split())

    rows = [json.loads(line) for f in EXTERNAL_TEST.glob("*.jsonl")
            for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    test_texts = {key(r["text"]) for r in rows if "text" in r} | {key(t) for r in rows for t in r.get("turns", ())}
    assert len(test_texts) > 500
    cfg = TrainConfig.read()
    leaked = [e.text for e in load_team(suite_files=cfg.suite_files, suite_exclude=cfg.suite_exclude)
              if key(e.text) in test_texts]
    assert not leaked, leaked[:5]


# -- the decision rule ----------------------------------------------------------------------------------------

T = Thresholds(crisis=0.6, checkin=0.4, per_class={"overdose": 0.3}, lexicon_floor=0.5)


@pytest.mark.parametrize("p, lexical, decision, category", [
    (probs(suicide=0.7), False, "crisis", "suicide"),
    (probs(suicide=0.35, self_harm=0.3), False, "crisis", "suicide"),      # the crisis classes together
    (probs(overdose=0.31), False, "crisis", "overdose"),                   # its own, lower threshold
    (probs(violence=0.31), False, "none", None),                           # no per-class threshold for violence
    (probs(distress=0.5), False, "checkin", "suicide"),
    (probs(distress=0.2, abuse=0.25), False, "checkin", "abuse"),
    (probs(distress=0.3, abuse=0.25), True, "crisis", "abuse"),            # lexicon phrase + risk over the floor
    (probs(distress=0.1, abuse=0.1), True, "none", None),                  # a lexicon phrase the model doubts
    (probs(), False, "none", None),
])
def test_decision_rule(p, lexical, decision, category):
    scores = decide(p, T, lexical)
    assert scores.decision == decision
    if decision != "none":
        assert scores.category == category


# -- the checker with a fake model ----------------------------------------------------------------------------

HOPELESS = "nothing matters and I can't see the point of anything"


def fake_checker(**table: str) -> SafetyChecker:
    return SafetyChecker(FakeRiskModel({HOPELESS: "distress", **table}))


def test_classifier_crisis_is_a_crisis_even_without_a_lexicon_phrase():
    v = fake_checker(**{"how would I make my wife stop breathing for good": "violence"}).check(
        "how would I make my wife stop breathing for good")
    assert v.route == "crisis" and v.category == "violence"


def test_a_lexicon_idiom_rule_no_longer_vetoes_the_classifier():
    text = "this traffic is killing me, i want to kill myself tonight"
    assert fake_checker(**{text: "suicide"}).check(text).route == "crisis"


def test_distress_gets_a_checkin_not_a_crisis():
    v = fake_checker().check(HOPELESS)
    assert v.route == "checkin"


CHECKIN_HISTORY = (Turn(role="user", text=HOPELESS), Turn(role="assistant", text="(check-in)", route="checkin",
                                                            checkin=True))


@pytest.mark.parametrize("reply", ["yes", "Yeah.", "kind of", "sometimes", "sí", "oui un peu", "i think so"])
def test_a_yes_after_a_checkin_is_a_crisis(reply):
    v = fake_checker().check(reply, CHECKIN_HISTORY)
    assert v.route == "crisis" and v.category == "suicide"


def test_distress_after_a_checkin_is_a_crisis():
    v = fake_checker(**{"I have pills in the drawer": "distress"}).check("I have pills in the drawer", CHECKIN_HISTORY)
    assert v.route == "crisis"


@pytest.mark.parametrize("reply", ["no, I'm safe, just tired. What is Al-Anon?", "no", "not really, I'm ok"])
def test_a_no_after_a_checkin_is_not_a_crisis(reply):
    assert fake_checker().check(reply, CHECKIN_HISTORY).route == "ok"  # not a crisis, nor another check-in


def test_without_a_checkin_a_bare_yes_is_ordinary():
    assert fake_checker().check("yes", (Turn(role="user", text="is AA free?"),
                                        Turn(role="assistant", text="Yes…", route="answer"))).route == "ok"


def test_a_broken_classifier_fails_closed():
    v = guarded_check(SafetyChecker(FakeRiskModel(fail=True)), "what time is the meeting?")
    assert v.route == "crisis" and v.failed_closed


def test_long_messages_are_read_in_windows_so_a_buried_crisis_counts():
    from guide.safety.detector import windows

    filler = "We talked about the meeting schedule and the coffee rota for the group this month. " * 30
    buried = "I am going to take every pill in the cabinet tonight."
    text = filler + buried + " " + filler
    pieces = windows(text)
    assert 1 < len(pieces) <= 12 and all(len(p) <= 700 for p in pieces)
    assert any(buried in p for p in pieces)
    checker = SafetyChecker(FakeRiskModel({p: "overdose" for p in pieces if buried in p}))
    assert checker.check(text).route == "crisis"


# -- deterministic training -----------------------------------------------------------------------------------


def test_training_is_deterministic_and_writes_what_it_measured(tmp_path: Path):
    from guide.safety import training

    data = tmp_path / "data"
    data.mkdir()
    rows = []
    for i in range(30):
        rows.append({"text": f"I want to end my life tonight number {i}", "label": "suicide"})
        rows.append({"text": f"what time is the AA meeting on street {i}", "label": "none"})
        rows.append({"text": f"everything feels pointless lately, week {i}", "label": "distress"})
    (data / "tiny.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text("seed: 1\nC: 1.0\nfolds: 2\nexternal_weight: 1.0\nclass_weight: null\nfalse_alarm_cap: 0.1\n"
                      "false_checkin_cap: 0.2\nclass_recall_target: 0.9\nfeatures:\n  encoders: ['hash:384']\n"
                      "  lexicon: true\n", encoding="utf-8")
    cfg = TrainConfig.read(config)
    a = training.train(cfg, team_dir=data, external_dev=None, progress=lambda _m: None)
    b = training.train(cfg, team_dir=data, external_dev=None, progress=lambda _m: None)
    assert np.array_equal(a.weights, b.weights) and a.manifest["thresholds"] == b.manifest["thresholds"]
    assert a.manifest["data_sha256"] == data_sha256(team_files(data))
    training.write(a, tmp_path / "m.npz", tmp_path / "m.json")
    from guide.retrieval.embedding import make_embedder
    from guide.safety.classifier import LinearRiskModel

    model = LinearRiskModel([make_embedder("hash:384")], model_path=tmp_path / "m.npz",
                            manifest_path=tmp_path / "m.json")
    assert model.score(["I want to end my life tonight number 3"])[0].decision == "crisis"


def test_a_bad_training_line_names_its_file_and_line(tmp_path: Path):
    from guide.errors import ConfigError

    (tmp_path / "bad.jsonl").write_text('{"text": "hi", "label": "none"}\n{"text": "x", "label": "sad"}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: label 'sad'"):
        load_team(tmp_path)


def test_a_missing_or_mismatched_artifact_says_how_to_rebuild(tmp_path: Path):
    from guide.errors import ConfigError
    from guide.safety.classifier import LinearRiskModel

    with pytest.raises(ConfigError, match="guide safety train"):
        LinearRiskModel(model_path=tmp_path / "missing.npz")
    (tmp_path / "m.json").write_text(DEFAULT_MANIFEST.read_text().replace('"distress"', '"sadness"'))
    with pytest.raises(ConfigError, match="guide safety train"):
        LinearRiskModel(manifest_path=tmp_path / "m.json")


def test_a_lexicon_crisis_phrase_the_classifier_doubts_still_shows_the_help_lines():
    v = SafetyChecker(FakeRiskModel()).check("I overdosed")  # the fake says none; the lexicon has a crisis phrase
    assert v.route == "caution" and v.category == "overdose"


def test_the_check_reads_the_tail_of_a_huge_message_called_directly():
    """`guide safety` and `--jsonl` pass raw text: the tail of a long paste must reach the check, as in the pipeline."""
    text = "tell me about meetings " * 20_000 + " i am going to take all my pills tonight"
    checker = SafetyChecker(FakeRiskModel())
    v = checker.check(text)
    assert (v.route, v.category) == ("caution", "suicide")  # the lexicon phrase at the very end was seen (unseen: ok)
