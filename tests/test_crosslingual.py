"""Cross-lingual search: the multilingual vectors beside the English index, their cache, and the pipeline's use of
them for questions not in English (fast tier on the hash embedder; one integration test on the real USE weights)."""

from __future__ import annotations

import numpy as np
import pytest

from guide.retrieval.crosslingual import CrossLingualIndex, open_crosslingual


@pytest.fixture()
def xl_settings(fake_settings):
    return fake_settings.model_copy(update={"multilingual_model": "hash:384"})


@pytest.fixture()
def xl_retriever(xl_settings):
    from guide.retrieval.embedding import make_embedder
    from guide.retrieval.index import open_retriever
    from guide.retrieval.store import InMemoryStore

    embedder = make_embedder("hash:384")
    retriever, _ = open_retriever(xl_settings, embedder=embedder, store=InMemoryStore(embedder))
    return retriever


def test_the_index_holds_a_vector_per_chunk_and_per_sentence(xl_retriever) -> None:
    index = xl_retriever.crosslingual
    assert index is not None
    assert set(index.ids) == set(xl_retriever.chunks)
    assert index.matrix.shape == (len(index.ids), 384)
    assert np.allclose(np.linalg.norm(index.matrix, axis=1), 1.0, atol=1e-4)
    for cid, sentences in xl_retriever.sentences.sentences.items():
        assert len(index.sentence_vectors[cid]) == len(sentences)


def test_the_cache_is_reused_and_rebuilt_when_the_corpus_or_encoder_changes(xl_settings, xl_retriever) -> None:
    from guide.retrieval.embedding import HashEmbedder

    path = xl_settings.crosslingual_path
    assert path.is_file()
    index = xl_retriever.crosslingual
    chunks, sentences = list(xl_retriever.chunks.values()), xl_retriever.sentences
    again = open_crosslingual(path, index.embedder, chunks, sentences, index.corpus_hash)
    assert np.array_equal(again.matrix, index.matrix) and again.ids == index.ids
    assert CrossLingualIndex.load(path, HashEmbedder(256)) is None  # another encoder: not this cache
    stale = open_crosslingual(path, index.embedder, chunks, sentences, "another-corpus")
    assert stale.corpus_hash == "another-corpus"  # rebuilt and saved for the new corpus
    assert CrossLingualIndex.load(path, index.embedder).corpus_hash == "another-corpus"


def test_a_damaged_cache_is_rebuilt(xl_settings, xl_retriever) -> None:
    path = xl_settings.crosslingual_path
    path.write_bytes(b"not an npz file")
    index = xl_retriever.crosslingual
    assert CrossLingualIndex.load(path, index.embedder) is None
    rebuilt = open_crosslingual(path, index.embedder, list(xl_retriever.chunks.values()), xl_retriever.sentences,
                                index.corpus_hash)
    assert rebuilt.matches(index.corpus_hash, set(xl_retriever.chunks), xl_retriever.sentences)


def test_other_languages_search_with_the_multilingual_vectors(xl_retriever) -> None:
    question = "¿Qué es la naloxona?"
    spanish = xl_retriever.search(question, k=3, mode="dense", language="es")
    expected = xl_retriever._crosslingual(xl_retriever.prepare(question), 3)
    assert [h.chunk.id for h in spanish] == [c.id for c, _ in expected]
    assert [h.dense_score for h in spanish] == [s for _, s in expected]
    english_path = xl_retriever.search(question, k=3, mode="dense", language="en")
    assert [h.dense_score for h in english_path] == [s for _, s in xl_retriever.dense(xl_retriever.prepare(question), 3)]
    hybrid = xl_retriever.search(question, k=3, language="es")
    assert hybrid and all(h.mode == "hybrid" for h in hybrid)


def test_without_the_multilingual_index_every_language_uses_the_english_one(fake_retriever) -> None:
    assert fake_retriever.crosslingual is None
    es = fake_retriever.search("¿Qué es la naloxona?", k=3, language="es")
    en = fake_retriever.search("¿Qué es la naloxona?", k=3, language="en", rerank=False)
    assert [h.chunk.id for h in es] == [h.chunk.id for h in en]


def test_the_pipeline_scores_spanish_answers_with_the_multilingual_encoder(xl_settings, xl_retriever) -> None:
    from guide.pipeline import Pipeline

    pipeline = Pipeline(xl_settings, xl_retriever)
    other = pipeline.extractive.for_language("es")
    assert other.scorer.name == "cosine(hash:384)"
    assert other.policy.min_score == xl_settings.min_crosslingual_score
    assert len(other.scorer.known) == xl_retriever.sentences.count


@pytest.mark.integration
def test_spanish_questions_reach_the_english_passage_that_answers_them(real_index) -> None:
    from guide.pipeline import Pipeline

    settings, retriever = real_index
    assert retriever.crosslingual is not None and retriever.crosslingual.embedder.name == settings.multilingual_model
    pipeline = Pipeline(settings, retriever)
    for question, docs in [("¿La metadona es solo cambiar una droga por otra?", {"medication-myths", "methadone"}),
                           ("¿Tengo que creer en Dios para ir a Alcohólicos Anónimos?", {"alcoholics-anonymous"}),
                           ("Qu'est-ce que la naloxone ?", {"naloxone-and-overdose-response"})]:
        answer = pipeline.answer([], question)
        assert answer.route == "answer", question
        cited = {c.doc_id for c in answer.citations}
        assert docs & cited, (question, sorted(cited))
        assert "crisis-lines" not in cited, "no longer the passage that merely mentions Spanish"
    off_topic = pipeline.answer([], "¿Cuántos planetas hay en el sistema solar?")
    assert not off_topic.citations, "an off-topic question in Spanish gets the not-covered reply, not a passage"


def test_the_crosslingual_calibration_set_is_well_formed() -> None:
    from pathlib import Path

    from guide.evals.answerability import load_answerability

    path = Path(__file__).resolve().parents[1] / "evals" / "calibration" / "answerability-crosslingual.jsonl"
    cases = load_answerability(path)  # ids, kinds and the id-hash split rule are checked by the loader
    for split in ("dev", "test"):
        answerable = [c for c in cases if c.split == split and c.answerable]
        unanswerable = [c for c in cases if c.split == split and not c.answerable]
        assert len(answerable) >= 10 and len(unanswerable) >= 10, split
    assert {c.kind for c in cases} == {"covered", "off-topic", "look-alike", "adjacent"}
