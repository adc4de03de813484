"""Retrieval on the fast tier: chunking, RRF, the tokenizer, BM25, hybrid search and incremental ingestion,
with the hash embedder, the in-memory store and the fixture corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from guide.corpus import load_vetted, unvet, vet
from guide.errors import InputError
from guide.retrieval.chunking import SEPARATOR, chunk_document, chunk_documents
from guide.retrieval.embedding import HashEmbedder, make_embedder
from guide.retrieval.hybrid import reciprocal_rank_fusion
from guide.retrieval.index import Retriever, clean_query, ingest, open_retriever
from guide.retrieval.keyword import KeywordIndex, stem, tokenize
from guide.retrieval.store import InMemoryStore
from guide.types import Chunk, Hit

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "corpus"


@pytest.fixture(scope="module")
def fixture_docs():
    return {d.id: d for d in load_vetted(FIXTURE)}


@pytest.fixture(scope="module")
def fixture_chunks(fixture_docs):
    return chunk_documents(fixture_docs.values())


# --- chunking -----------------------------------------------------------------------------------------------


def test_chunks_keep_the_header_path(fixture_docs) -> None:
    chunks = chunk_document(fixture_docs["smart-recovery"])
    by_section = {c.section: c for c in chunks}
    religious = by_section["SMART Recovery › Is SMART Recovery religious?"]
    assert religious.text.startswith("SMART Recovery is not religious")
    assert religious.label == "SMART Recovery › Is SMART Recovery religious?"
    assert chunks[0].section == "SMART Recovery"  # the intro under the H1 has the title alone
    assert "## " not in "".join(c.text for c in chunks)  # headers are stripped into the path


def test_every_chunk_carries_its_document_metadata(fixture_docs, fixture_chunks) -> None:
    assert fixture_chunks
    for chunk in fixture_chunks:
        doc = fixture_docs[chunk.doc_id]
        assert chunk.title == doc.title
        assert chunk.url == doc.url
        assert chunk.audience == doc.audience
        assert chunk.topics == doc.topics
        assert chunk.doc_sha == doc.sha256
        assert chunk.summary == doc.summary
        assert chunk.section.split(SEPARATOR)[0] == doc.title
        assert chunk.text.strip() == chunk.text and chunk.text
        assert chunk.section in chunk.search_text and doc.summary in chunk.search_text


def test_chunk_ids_and_positions_are_sequential_per_document(fixture_docs) -> None:
    for doc in fixture_docs.values():
        chunks = chunk_document(doc)
        assert [c.position for c in chunks] == list(range(len(chunks)))
        assert [c.id for c in chunks] == [f"{doc.id}::{i:03d}" for i in range(len(chunks))]


def test_small_chunks_split_long_sections_but_keep_the_label(fixture_docs) -> None:
    doc = fixture_docs["smart-recovery"]
    small = chunk_document(doc, chunk_size=200, chunk_overlap=40)
    assert len(small) > len(chunk_document(doc))
    assert all(len(c.text) <= 200 for c in small)
    tools = [c for c in small if c.section == "SMART Recovery › What tools does SMART Recovery use?"]
    assert len(tools) >= 3


def test_chunking_is_deterministic(fixture_docs) -> None:
    doc = fixture_docs["al-anon"]
    assert chunk_document(doc) == chunk_document(doc)


# --- reciprocal rank fusion ---------------------------------------------------------------------------------


def test_rrf_hand_computed_scores() -> None:
    fused = reciprocal_rank_fusion([["a", "b"], ["c", "b"]], k=60)
    assert [key for key, _ in fused] == ["b", "a", "c"]
    scores = dict(fused)
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 62)
    assert scores["a"] == pytest.approx(1 / 61)
    assert scores["c"] == pytest.approx(1 / 61)


def test_rrf_default_k_is_60() -> None:
    [(key, score)] = reciprocal_rank_fusion([["x"]])
    assert (key, score) == ("x", pytest.approx(1 / 61))


def test_rrf_with_small_k_favours_the_top() -> None:
    fused = reciprocal_rank_fusion([["x", "y", "z"]], k=1)
    assert fused == [("x", pytest.approx(1 / 2)), ("y", pytest.approx(1 / 3)), ("z", pytest.approx(1 / 4))]


def test_rrf_ties_keep_first_seen_order() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "a", "d"]], k=60)
    assert [key for key, _ in fused] == ["a", "b", "c", "d"]
    assert fused[0][1] == pytest.approx(fused[1][1]) == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2][1] == pytest.approx(fused[3][1]) == pytest.approx(1 / 63)


def test_rrf_agreement_beats_a_single_first_place() -> None:
    fused = reciprocal_rank_fusion([["solo", "both"], ["other", "both"], ["x", "both"]], k=60)
    assert fused[0][0] == "both"


@pytest.mark.parametrize("rankings", [[], [[]], [[], []]])
def test_rrf_empty_rankings(rankings) -> None:
    assert reciprocal_rank_fusion(rankings) == []


def test_rrf_one_empty_ranking_is_ignored() -> None:
    assert reciprocal_rank_fusion([["a", "b"], []]) == reciprocal_rank_fusion([["a", "b"]])


@pytest.mark.parametrize("k", [0, -1])
def test_rrf_rejects_non_positive_k(k: int) -> None:
    with pytest.raises(ValueError, match="k must be positive"):
        reciprocal_rank_fusion([["a"]], k=k)


# --- tokenizer and keyword search ---------------------------------------------------------------------------


def test_tokenizer_folds_case_and_accents() -> None:
    assert tokenize("NALOXONE Naloxone naloxone") == ["naloxone"] * 3
    assert tokenize("Niños café naïve reunión") == ["nino", "cafe", "naive", "reunion"]


def test_tokenizer_drops_stopwords_in_english_and_spanish() -> None:
    assert tokenize("What is the") == []
    assert tokenize("¿Qué es el programa?") == ["programa"]


def test_tokenizer_stems_word_forms_together() -> None:
    assert tokenize("meeting meetings") == ["meet", "meet"]
    assert tokenize("drinking drinks") == ["drink", "drink"]
    assert stem("families") == "family"
    assert stem("aa") == "aa" and stem("2024") == "2024"


def test_tokenizer_joins_hyphenated_names() -> None:
    tokens = tokenize("Al-Anon and Nar-Anon")
    assert "alanon" in tokens and "naranon" in tokens
    assert "anon" in tokens
    assert tokenize("alanon") == ["alanon"]


def test_tokenizer_keeps_numbers() -> None:
    assert "988" in tokenize("call 988 now")


@pytest.mark.parametrize(
    ("query", "doc_id"),
    [
        ("Alateen meetings for teenagers", "alateen"),
        ("nasal spray for an overdose", "naloxone-and-overdose-response"),
        ("what is the Big Book", "alcoholics-anonymous"),
        ("Is SMART Recovery religious?", "smart-recovery"),
        ("alanon", "al-anon"),
    ],
)
def test_keyword_search_finds_the_right_document(fixture_chunks, query: str, doc_id: str) -> None:
    hits = KeywordIndex(fixture_chunks).search(query, k=3)
    assert hits and hits[0][0].doc_id == doc_id
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)


@pytest.mark.parametrize(
    ("query", "corrected", "doc_id"),
    [
        ("bupernorphine", "buprenorphine", "buprenorphine"),
        ("naloxon", "naloxone", "naloxone-and-overdose-response"),
        ("alateem", "alateen", "alateen"),
    ],
)
def test_misspelled_query_words_are_corrected(fixture_chunks, query: str, corrected: str, doc_id: str) -> None:
    index = KeywordIndex(fixture_chunks)
    assert index.query_tokens(query) == [corrected]
    assert index.search(query, k=1)[0][0].doc_id == doc_id


def test_keyword_search_with_nothing_to_match(fixture_chunks) -> None:
    index = KeywordIndex(fixture_chunks)
    assert index.search("the and of", k=5) == []
    assert index.search("zzzzqqqq", k=5) == []
    assert KeywordIndex([]).search("meeting", k=5) == []


def test_keyword_index_round_trips_through_json(tmp_path: Path, fixture_chunks) -> None:
    path = tmp_path / "kw.json"
    KeywordIndex(fixture_chunks, "abc").save(path)
    loaded = KeywordIndex.load(path)
    assert loaded.chunks == fixture_chunks and loaded.corpus_hash == "abc"


# --- search through the Retriever ---------------------------------------------------------------------------


def test_hash_embedder_is_deterministic_and_normalised() -> None:
    import numpy as np

    a, b = HashEmbedder(64).embed(["first AA meeting", "first AA meeting"])
    assert np.allclose(a, b)
    assert float(np.linalg.norm(a)) == pytest.approx(1.0, abs=1e-5)
    assert make_embedder("hash:384") is make_embedder("hash:384")


def test_int8_model_stays_close_to_the_float_model_and_keeps_its_own_name() -> None:
    """The shipped default quantises the packaged weights; it must still rank like the float model."""
    import numpy as np
    import torch

    from guide.retrieval.embedding import PACKAGED_MINILM, PACKAGED_MINILM_INT8

    texts = ["What happens at a first AA meeting?", "Is SMART Recovery religious?",
             "Naloxone reverses an opioid overdose.", "Al-Anon is for families of people who drink."]
    int8, fp32 = make_embedder(PACKAGED_MINILM_INT8), make_embedder(PACKAGED_MINILM)
    assert int8 is not fp32 and int8.name == PACKAGED_MINILM_INT8 and int8.dim == fp32.dim == 384
    quantised = [m for m in int8._model.modules() if "quantized" in type(m).__module__]  # type: ignore[attr-defined]
    assert quantised, "no Linear layer was swapped for an int8 one"
    assert not any(isinstance(m, torch.nn.Linear) and "quantized" not in type(m).__module__
                   for m in int8._model.modules())  # type: ignore[attr-defined]
    a, b = int8.embed(texts), fp32.embed(texts)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert float((a * b).sum(axis=1).min()) > 0.93
    # Same nearest neighbour for every text among the others, in both models.
    assert ((a @ a.T).argsort(axis=1)[:, -2] == (b @ b.T).argsort(axis=1)[:, -2]).all()


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_search_returns_typed_hits_with_provenance(fake_retriever: Retriever, mode: str) -> None:
    hits = fake_retriever.search("What happens at an Al-Anon meeting?", k=4, mode=mode)
    assert 0 < len(hits) <= 4
    assert all(isinstance(h, Hit) and isinstance(h.chunk, Chunk) for h in hits)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert {h.mode for h in hits} == {mode}
    # best first: by the reranker's score when it scored the hits (hybrid), else by the mode's own score
    order = [h.rerank_score if h.rerank_score is not None else h.score for h in hits]
    assert order == sorted(order, reverse=True)
    assert (mode == "hybrid") == all(h.rerank_score is not None for h in hits)
    for h in hits:
        assert h.chunk.url.startswith("https://") and h.chunk.section and h.chunk.doc_id
    top = hits[0]
    if mode == "dense":
        assert top.dense_rank == 1 and top.dense_score == top.score and top.keyword_rank is None
    elif mode == "keyword":
        assert top.keyword_rank == 1 and top.keyword_score == top.score and top.dense_rank is None
    else:
        assert top.dense_rank is not None and top.keyword_rank is not None
        assert top.score == pytest.approx(1 / (60 + top.dense_rank) + 1 / (60 + top.keyword_rank))


@pytest.mark.parametrize(
    ("query", "doc_id"),
    [
        ("What happens at an Al-Anon meeting?", "al-anon"),
        ("Is SMART Recovery religious?", "smart-recovery"),
        ("where can I get naloxone without a prescription", "naloxone-and-overdose-response"),
        ("can my teenager go to alateen", "alateen"),
    ],
)
def test_hybrid_search_finds_the_right_document(fake_retriever: Retriever, query: str, doc_id: str) -> None:
    assert fake_retriever.search(query, k=3)[0].chunk.doc_id == doc_id


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "\x00\x07\x1b"])
def test_empty_query_is_an_input_error(fake_retriever: Retriever, query: str) -> None:
    with pytest.raises(InputError, match="The query is empty"):
        fake_retriever.search(query)


def test_unknown_mode_and_bad_k_are_input_errors(fake_retriever: Retriever) -> None:
    with pytest.raises(InputError, match="Unknown retrieval mode"):
        fake_retriever.search("meetings", mode="semantic")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="k must be at least 1"):
        fake_retriever.search("meetings", k=0)


def test_very_long_query_is_truncated_not_rejected(fake_retriever: Retriever) -> None:
    query = "What happens at an Al-Anon meeting? " * 3000  # ~108 kB
    assert len(query) >= 100_000
    assert len(clean_query(query, 4000)) == 4000
    hits = fake_retriever.search(query, k=3)
    assert hits and hits[0].chunk.doc_id == "al-anon"


def test_control_characters_are_stripped(fake_retriever: Retriever) -> None:
    assert clean_query("what\x00 is\x1b[31m AA\x07\r\n", 4000) == "what is [31m AA"
    dirty = fake_retriever.search("Is SMART\x00 Recovery\x1b religious?\x07", k=3)
    clean = fake_retriever.search("Is SMART Recovery religious?", k=3)
    assert [h.chunk.id for h in dirty] == [h.chunk.id for h in clean]


# --- incremental ingestion ----------------------------------------------------------------------------------


@pytest.fixture()
def store():
    return InMemoryStore(make_embedder("hash:384"))


def test_first_ingest_embeds_everything_and_second_embeds_nothing(fake_settings, store) -> None:
    embedder = store.embedder
    first = ingest(fake_settings, store, embedder)
    assert first.added == tuple(sorted(first.added)) and len(first.added) == 7
    assert first.chunks_embedded == first.total_chunks == store.count() > 0
    assert not first.rebuilt and first.reason is None
    assert fake_settings.keyword_path.exists()

    second = ingest(fake_settings, store, embedder)
    assert second.chunks_embedded == 0
    assert not second.changed
    assert (second.added, second.updated, second.removed) == ((), (), ())
    assert second.unchanged == 7 and second.total_chunks == first.total_chunks
    assert second.summary().startswith("Index up to date: 7 documents")
    assert second.corpus_hash == first.corpus_hash


def test_progress_is_reported_while_embedding(fake_settings, store) -> None:
    calls: list[tuple[str, int, int]] = []
    report = ingest(fake_settings, store, store.embedder, progress=lambda *a: calls.append(a))
    embedding = [c for c in calls if c[0] == "embedding"]
    assert embedding[0] == ("embedding", 0, report.chunks_embedded)
    assert embedding[-1] == ("embedding", report.chunks_embedded, report.chunks_embedded)


def test_edited_and_vetted_document_is_the_only_one_re_embedded(fake_settings, store) -> None:
    ingest(fake_settings, store, store.embedder)
    before = {c.id: c for c in store.all_chunks()}
    path = fake_settings.corpus_dir / "docs" / "smart-recovery.md"
    path.write_text(
        path.read_text(encoding="utf-8") + "\n## Can I bring a friend?\n\nYes, most online meetings welcome a "
        "supportive friend who wants to listen quietly for one session.\n",
        encoding="utf-8",
    )
    vet(fake_settings.corpus_dir, ["smart-recovery"], "Dana Reviewer")
    smart = next(d for d in load_vetted(fake_settings.corpus_dir) if d.id == "smart-recovery")

    report = ingest(fake_settings, store, store.embedder)
    assert report.updated == ("smart-recovery",)
    assert report.added == () and report.removed == ()
    assert report.chunks_embedded == len(chunk_document(smart))
    assert report.unchanged == 6
    after = {c.id: c for c in store.all_chunks()}
    assert {cid: c for cid, c in after.items() if c.doc_id != "smart-recovery"} == {
        cid: c for cid, c in before.items() if c.doc_id != "smart-recovery"
    }
    assert any(c.section == "SMART Recovery › Can I bring a friend?" for c in after.values())
    assert store.doc_hashes()["smart-recovery"] == smart.sha256
    assert "1 updated" in report.summary()


def test_deleted_document_loses_its_chunks(fake_settings, store) -> None:
    ingest(fake_settings, store, store.embedder)
    (fake_settings.corpus_dir / "docs" / "alateen.md").unlink()
    unvet(fake_settings.corpus_dir, ["alateen"])
    report = ingest(fake_settings, store, store.embedder)
    assert report.removed == ("alateen",) and report.chunks_embedded == 0
    remaining = {d.id for d in load_vetted(fake_settings.corpus_dir)}
    assert "alateen" not in remaining and len(remaining) == 6
    assert set(store.doc_hashes()) == remaining
    assert {c.doc_id for c in store.all_chunks()} == remaining
    assert {c.doc_id for c in KeywordIndex.load(fake_settings.keyword_path).chunks} == remaining


def test_changing_the_embedding_model_rebuilds_with_a_reason(fake_settings, store) -> None:
    ingest(fake_settings, store, store.embedder)
    store.embedder = HashEmbedder(256)  # the same stored index, opened with another model
    report = ingest(fake_settings, store, store.embedder)
    assert report.rebuilt
    assert report.reason == "it was built with embedding model 'hash:384', now 'hash:256'"
    assert report.chunks_embedded == report.total_chunks
    assert report.summary().startswith("Rebuilt index (it was built with embedding model 'hash:384'")
    assert store.get_state()["embedding_model"] == "hash:256"


def test_changing_the_chunking_rebuilds_and_rebuild_flag_forces_it(fake_settings, store) -> None:
    ingest(fake_settings, store, store.embedder)
    smaller = fake_settings.with_overrides(chunk_size=400)
    report = ingest(smaller, store, store.embedder)
    assert report.rebuilt and "chunking changed from 900/120 to 400/120" in (report.reason or "")
    forced = ingest(smaller, store, store.embedder, rebuild=True)
    assert forced.rebuilt and forced.reason == "--rebuild was given"
    assert forced.chunks_embedded == forced.total_chunks


def test_open_retriever_ingests_only_when_needed(fake_settings, store) -> None:
    retriever, report = open_retriever(fake_settings, embedder=store.embedder, store=store)
    assert report is not None and report.chunks_embedded > 0
    _, again = open_retriever(fake_settings, embedder=store.embedder, store=store)
    assert again is None
    assert len(retriever.chunks) == store.count()


def test_open_retriever_rebuilds_a_missing_keyword_index(fake_settings, store) -> None:
    open_retriever(fake_settings, embedder=store.embedder, store=store)
    fake_settings.keyword_path.unlink()
    retriever, report = open_retriever(fake_settings, embedder=store.embedder, store=store)
    assert report is None
    assert fake_settings.keyword_path.exists()
    assert retriever.search("Big Book", k=1, mode="keyword")[0].chunk.doc_id == "alcoholics-anonymous"


# --- query expansion ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "present", "absent"), [
    ("is narcan safe", ["naloxone"], []),
    ("¿Qué es Alcohólicos Anónimos?", ["alcoholics anonymous aa"], ["alcoholics alcohol", "; anonymous"]),
    ("¿Hay reuniones de Narcóticos Anónimos en línea?", ["narcotics anonymous na", "online virtual", "meetings"],
     ["helpline online"]),
    ("what is al anon", ["al-anon"], []),
    ("¿cuesta dinero?", ["cost money"], []),
])
def test_query_expansion_words_and_phrases(query: str, present: list[str], absent: list[str]) -> None:
    from guide.retrieval.expansion import expand_query

    expanded = expand_query(query)
    assert expanded.startswith(query)
    for text in present:
        assert text in expanded
    for text in absent:
        assert text not in expanded


@pytest.mark.parametrize("query", ["is Al-Anon free", "what is naloxone", "hello there"])
def test_query_expansion_adds_nothing_the_query_already_says(query: str) -> None:
    from guide.retrieval.expansion import expand_query

    assert expand_query(query) == query
