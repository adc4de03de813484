"""The extractive composer: verbatim sentences, [n] citations that resolve, short, and honest when unsure."""

from __future__ import annotations

import re

from guide.compose import compose_extractive, not_covered_text
from guide.evals.answers import citation_problems, groundedness, tagged_sentences
from guide.types import Answer, SafetyVerdict


def _all_text(retriever) -> str:
    return " ".join(c.text for c in retriever.chunks.values())


def test_answer_is_made_of_corpus_sentences_with_valid_citations(fake_retriever) -> None:
    hits = fake_retriever.search("Is SMART Recovery religious?", k=6)
    comp = compose_extractive("Is SMART Recovery religious?", hits, retriever=fake_retriever)
    assert comp.covered and comp.citations
    corpus = " ".join(_all_text(fake_retriever).split())
    for sentence, _ in comp.sentences:
        assert sentence.rstrip(".") in corpus  # verbatim from the vetted text
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", comp.text)}
    assert numbers == {c.n for c in comp.citations}
    assert any(c.doc_id == "smart-recovery" for c in comp.citations)
    body_words = len(re.sub(r"\[\d+\]", "", comp.body).split())
    assert 15 <= body_words <= 150


def test_citations_pass_the_eval_validity_check(fake_retriever) -> None:
    hits = fake_retriever.search("what happens at a first meeting", k=6)
    comp = compose_extractive("what happens at a first meeting", hits, retriever=fake_retriever)
    answer = Answer(route="answer", text=comp.text, citations=comp.citations, safety=SafetyVerdict(route="ok"))
    known = {c.doc_id for c in fake_retriever.chunks.values()}
    assert citation_problems(answer, known) == []
    assert groundedness(answer) == 1.0
    assert len(tagged_sentences(comp.text)) >= 2


def test_low_confidence_is_not_covered(fake_retriever) -> None:
    hits = fake_retriever.search("capital city of France", k=6)
    comp = compose_extractive("capital city of France", hits, retriever=fake_retriever, min_confidence=0.99)
    assert not comp.covered and comp.citations == ()


def test_audience_changes_framing_not_facts(fake_retriever) -> None:
    hits = fake_retriever.search("Al-Anon meetings for families", k=6)
    family = compose_extractive("Al-Anon meetings for families", hits, retriever=fake_retriever, audience="family")
    staff = compose_extractive("Al-Anon meetings for families", hits, retriever=fake_retriever, audience="staff")
    assert family.text.splitlines()[0] != staff.text.splitlines()[0]
    for sentence, _ in family.sentences:
        assert sentence in _all_text(fake_retriever).replace("\n", " ") or sentence.rstrip(".") in " ".join(
            _all_text(fake_retriever).split()
        )


def test_not_covered_text_names_topics_and_the_helpline() -> None:
    text = not_covered_text(["Alcoholics Anonymous", "Alcoholics Anonymous", "SMART Recovery"])
    assert "1-800-662-4357" in text and "won't guess" in text
    assert text.count("Alcoholics Anonymous") == 1


def test_a_section_whose_heading_is_the_question_joins_the_passages_read(fake_retriever) -> None:
    """The FAQ channel: a section of a top document whose heading is (nearly) the question is read even when
    retrieval ranked it below the passages the composer looks at, and it is the one answered from."""
    import numpy as np

    from guide.compose import FAQ_HIT_MARGIN, faq_hit

    hits = fake_retriever.search("Is SMART Recovery religious?", k=6)
    headings = fake_retriever.sentences.headings
    shown = {h.chunk.id for h in hits[:2]}
    doc_chunks = [c for c in fake_retriever.doc_chunks(hits[0].chunk.doc_id) if c.id in headings]

    def nearest_other(c) -> float:
        return max(float(headings[c.id] @ headings[o.id]) for o in doc_chunks if o.id != c.id)

    # the unread section whose heading is least like its siblings' (hash vectors share the title's words)
    target = min((c for c in doc_chunks if c.id not in shown), key=nearest_other)
    assert 1.0 - nearest_other(target) >= FAQ_HIT_MARGIN
    question = headings[target.id]  # a question whose vector is exactly that heading's
    extra = faq_hit(hits, fake_retriever, question, max_chunks=2)
    assert extra is not None and extra.chunk.id == target.id
    comp = compose_extractive("question", hits[:2], retriever=fake_retriever, query_vector=question, max_chunks=2)
    assert comp.citations[0].section == target.section
    # nothing is added when no heading stands out, or when the section is already read
    assert faq_hit(hits, fake_retriever, np.zeros_like(question), max_chunks=2) is None
    assert faq_hit(hits, fake_retriever, question, max_chunks=len(hits) + 50) is None or target.id not in {
        h.chunk.id for h in hits}


def test_on_a_tie_the_passage_from_the_document_retrieval_agrees_on_answers() -> None:
    """Two passages fit the question equally; three of the four read passages come from one document, so its
    passage answers (W_DOC), and without that bonus the order of retrieval would decide."""
    import numpy as np

    from guide.compose import _Candidate, select_sentences
    from guide.types import Chunk

    def cand(doc: str, n: int, rank: int, text: str) -> _Candidate:
        chunk = Chunk(id=f"{doc}::{n}", doc_id=doc, title=doc, section=f"{doc} › s{n}", url="https://example.org/",
                      text=text, position=n)
        vec = np.ones(4, dtype=np.float32) / 2.0
        return _Candidate(text, chunk, rank, 0.5, 0, vec, frozenset(text.lower().split()))

    lone = cand("withdrawal", 1, 1, "Stopping alcohol suddenly can be dangerous for heavy drinkers.")
    agreed = [cand("emotions", i, i + 1, f"Mood swings are common early on, reason {i}.") for i in (1, 2, 3)]
    chosen = select_sentences("why am I so moody", np.ones(4, dtype=np.float32) / 2.0, [lone, *agreed], "newcomer")
    assert chosen[0].chunk.doc_id == "emotions"
