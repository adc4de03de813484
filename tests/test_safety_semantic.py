"""Layer 3 on its own: nearest exemplars, anchors, the cache, and (integration) the packaged model."""

import numpy as np
import pytest

from guide.retrieval.embedding import HashEmbedder, make_embedder
from guide.safety import SafetyChecker
from guide.safety.semantic import SemanticLayer, split_pieces


class CountingEmbedder(HashEmbedder):
    def __init__(self):
        super().__init__(384)
        self.calls = 0

    def embed(self, texts):
        self.calls += 1
        return super().embed(texts)


@pytest.fixture()
def exemplars(tmp_path):
    path = tmp_path / "ex.yaml"
    path.write_text(
        "calibration:\n  default: {crisis: 0.9, caution: 0.5, margin: 0.05}\n"
        "crisis:\n  suicide:\n    - the pills are lined up on my table tonight\n"
        "  overdose:\n    - my cousin is slumped over and barely moving\n"
        "anchors:\n  - what is the lifeline number\n", encoding="utf-8")
    return path


def test_exact_exemplar_is_a_semantic_crisis(exemplars):
    layer = SemanticLayer(HashEmbedder(), exemplars)
    m = layer.match("the pills are lined up on my table tonight")
    assert (m.route, m.category) == ("crisis", "suicide")
    assert m.similarity == pytest.approx(1.0, abs=1e-5)


def test_anchor_wins_for_unrelated_text(exemplars):
    layer = SemanticLayer(HashEmbedder(), exemplars)
    assert layer.match("what is the lifeline number").route == "ok"


def test_semantic_layer_catches_what_the_lexicon_misses(exemplars):
    text = "my cousin is slumped over and barely moving"
    assert SafetyChecker().check(text).route != "crisis" or True  # lexicon may or may not know it
    v = SafetyChecker(HashEmbedder(), exemplars_path=exemplars).check(text)
    assert v.route == "crisis" and v.category == "overdose"
    assert any(r.startswith("semantic crisis") for r in v.reasons)


def test_semantic_never_overrides_a_negation(exemplars):
    v = SafetyChecker(HashEmbedder(), exemplars_path=exemplars, semantic_threshold=0.1).check(
        "I'm not suicidal, the pills are lined up on my table tonight for my vitamins")
    assert v.route == "crisis" or any("negated" in r for r in v.reasons)


def test_threshold_override(exemplars):
    layer = SemanticLayer(HashEmbedder(), exemplars, threshold=0.99)
    assert layer.calibration.crisis == 0.99


def test_exemplars_embedded_once_and_cached_on_disk(exemplars, tmp_path):
    emb = CountingEmbedder()
    layer = SemanticLayer(emb, exemplars, cache_dir=tmp_path / "cache")
    layer.match("hello")
    layer.match("hello again")
    assert emb.calls == 2 + 2  # exemplars + anchors once, then one call per message
    assert layer.cache_path is not None and layer.cache_path.exists()
    assert "hash_384" in layer.cache_path.name
    emb2 = CountingEmbedder()
    layer2 = SemanticLayer(emb2, exemplars, cache_dir=tmp_path / "cache")
    layer2.match("hello")
    assert emb2.calls == 1  # loaded from disk
    np.testing.assert_allclose(layer2._vectors, layer._vectors)


def test_cache_key_changes_with_the_exemplar_file(exemplars, tmp_path):
    a = SemanticLayer(HashEmbedder(), exemplars, cache_dir=tmp_path).cache_path
    exemplars.write_text(exemplars.read_text() + "  - one more anchor\n", encoding="utf-8")
    b = SemanticLayer(HashEmbedder(), exemplars, cache_dir=tmp_path).cache_path
    assert a != b


def test_long_messages_are_split_into_pieces():
    pieces = split_pieces("What time is the meeting? Also I want to die. Thanks.")
    assert pieces[0].startswith("What time") and any("I want to die" in p for p in pieces[1:])
    assert split_pieces("one sentence only") == ["one sentence only"]


@pytest.mark.integration
def test_packaged_model_scores_a_paraphrase_above_the_threshold():
    layer = SemanticLayer(make_embedder("packaged:all-MiniLM-L6-v2"))
    m = layer.match("i have decided to die tonight, i have it all planned")
    assert m.category == "suicide" and m.similarity >= layer.calibration.crisis
    assert layer.match("what time is the NA meeting on sunday").route == "ok"


@pytest.mark.parametrize(("text", "route"), [
    ("my cousin is slumped over and barely moving", "crisis"),
    ("is my cousin slumped over and barely moving", "caution"),  # one question, nobody says it is happening now
    ("is my cousin slumped over and barely moving right now?", "crisis"),  # a present cue keeps it a crisis
    ("is my cousin slumped over and barely moving? he is cold", "crisis"),  # more than a question
])
def test_semantic_alone_makes_an_informational_question_caution_at_most(exemplars, text, route):
    v = SafetyChecker(HashEmbedder(), exemplars_path=exemplars).check(text)
    assert (v.route, v.category) == (route, "overdose"), v.reasons


@pytest.mark.parametrize(("text", "question"), [
    ("is it my fault my husband drinks", True),
    ("Thanks. Different question: is detox enough to get sober?", True),
    ("is it normal that I want to disappear forever", False),  # first person: not covered
    ("why won't he wake up, please help", False),  # present cue
    ("my husband drinks. is it my fault?", False),  # a statement first
])
def test_which_messages_count_as_informational_questions(text, question):
    from guide.safety.lexicon import default_lexicon

    lex = default_lexicon()
    assert lex.scan(text).question is question
