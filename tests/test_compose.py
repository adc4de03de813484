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
