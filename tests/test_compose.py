"""The extractive composer: verbatim sentences, [n] citations that resolve, short, and honest when unsure."""

from __future__ import annotations

import re

import pytest

from guide.answer import Composition, not_covered_text
from guide.answer.extractive import (
    AnswerPolicy,
    _Candidate,
    answer_setup,
    compose_extractive,
    select_sentences,
    with_section_lead,
    yes_no_lead,
)
from guide.evals.answers import citation_problems, groundedness, tagged_sentences
from guide.types import Answer, Chunk, SafetyVerdict


def _compose(retriever, settings, query: str, **kw) -> Composition:
    scorer, policy = answer_setup(settings, retriever)
    return compose_extractive(query, retriever.search(query, k=6), scorer=scorer, policy=policy, retriever=retriever,
                              **kw)


def _all_text(retriever) -> str:
    return " ".join(c.text for c in retriever.chunks.values())


def test_answer_is_made_of_corpus_sentences_with_valid_citations(fake_retriever, fake_settings) -> None:
    comp = _compose(fake_retriever, fake_settings, "Is SMART Recovery religious?")
    assert comp.covered and comp.citations
    corpus = " ".join(_all_text(fake_retriever).split())
    for sentence, _ in comp.sentences:
        assert sentence.rstrip(".") in corpus  # verbatim from the vetted text
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", comp.text)}
    assert numbers == {c.n for c in comp.citations}
    assert any(c.doc_id == "smart-recovery" for c in comp.citations)
    body_words = len(re.sub(r"\[\d+\]", "", comp.body).split())
    assert 15 <= body_words <= 150


def test_citations_pass_the_eval_validity_check(fake_retriever, fake_settings) -> None:
    comp = _compose(fake_retriever, fake_settings, "what happens at a first meeting")
    answer = Answer(route="answer", text=comp.text, citations=comp.citations, safety=SafetyVerdict(route="ok"))
    known = {c.doc_id for c in fake_retriever.chunks.values()}
    assert citation_problems(answer, known) == []
    assert groundedness(answer) == 1.0
    assert len(tagged_sentences(comp.text)) >= 2


def test_a_best_passage_below_the_answerability_threshold_is_not_covered(fake_retriever, fake_settings) -> None:
    scorer, policy = answer_setup(fake_settings, fake_retriever)
    hits = fake_retriever.search("capital city of France", k=6)
    best = max(h.rerank_score for h in hits if h.rerank_score is not None)
    above = AnswerPolicy(best + 0.01, policy.passage_margin, policy.sentence_margin)
    comp = compose_extractive("capital city of France", hits, scorer=scorer, policy=above, retriever=fake_retriever)
    assert not comp.covered and comp.citations == ()
    at = AnswerPolicy(best, policy.passage_margin, policy.sentence_margin)
    assert compose_extractive("capital city of France", hits, scorer=scorer, policy=at, retriever=fake_retriever).covered


def test_audience_changes_framing_not_facts(fake_retriever, fake_settings) -> None:
    family = _compose(fake_retriever, fake_settings, "Al-Anon meetings for families", audience="family")
    staff = _compose(fake_retriever, fake_settings, "Al-Anon meetings for families", audience="staff")
    assert family.text.splitlines()[0] != staff.text.splitlines()[0]
    assert family.sentences and family.sentences == staff.sentences  # the same cited facts for every audience
    for sentence, _ in family.sentences:
        assert sentence in _all_text(fake_retriever).replace("\n", " ") or sentence.rstrip(".") in " ".join(
            _all_text(fake_retriever).split()
        )


def test_not_covered_text_names_topics_and_the_helpline() -> None:
    text = not_covered_text(["Alcoholics Anonymous", "Alcoholics Anonymous", "SMART Recovery"])
    assert "1-800-662-4357" in text and "won't guess" in text
    assert text.count("Alcoholics Anonymous") == 1




def _cand(doc: str, rank: int, pos: int, text: str, score: float) -> _Candidate:
    chunk = Chunk(id=f"{doc}::{rank}", doc_id=doc, title=doc, section=f"{doc} › s{rank}", url="https://example.org/",
                  text=text, position=rank)
    return _Candidate(text, chunk, rank, pos, score)


POLICY = AnswerPolicy(min_score=0.0, passage_margin=3.0, sentence_margin=2.5)


def test_the_best_scoring_sentence_comes_first_even_from_a_lower_passage() -> None:
    """The answer opens with the sentence the scorer found most relevant, not the lead of the top passage."""
    intro = _cand("naltrexone", 1, 0, "Naltrexone comes as a tablet or as a monthly injection given by a nurse.", 1.0)
    answer = _cand("naltrexone", 2, 3, "Naltrexone is not an opioid and people do not become addicted to it.", 7.5)
    weak = _cand("aa", 3, 0, "Meetings are free and open to anyone who wants to stop drinking today.", -9.0)
    chosen = select_sentences([intro, answer, weak], POLICY)
    assert chosen[0] is answer
    assert weak not in chosen  # far below the best: never joins
    assert intro not in chosen  # 6.5 below the best, outside the sentence margin


def test_sentences_within_the_margin_join_in_passage_order_and_short_answers_get_the_next_sentence() -> None:
    a0 = _cand("smart", 1, 0, "SMART Recovery is a free, science-based mutual-help program.", 5.0)
    a1 = _cand("smart", 1, 1, "Meetings are led by trained volunteer facilitators.", -3.0)
    b0 = _cand("smart", 2, 0, "SMART is secular and does not ask members to believe in a higher power.", 6.0)
    chosen = select_sentences([a0, a1, b0], POLICY)
    assert [c.text for c in chosen] == [b0.text, a0.text]  # best first, then the close one in passage order
    lone = select_sentences([a0, a1], AnswerPolicy(0.0, 3.0, 0.5))
    assert [c.text for c in lone] == [a0.text, a1.text]  # 9 words < MIN_WORDS: the following sentence is added


def test_near_duplicate_sentences_are_not_repeated() -> None:
    a = _cand("aa", 1, 0, "AA meetings are free and anyone who wants to stop drinking may attend them.", 6.0)
    b = _cand("aa", 2, 0, "AA meetings are free and anyone who wants to stop drinking may attend.", 5.9)
    assert len(select_sentences([a, b], POLICY)) == 1


@pytest.mark.parametrize(("question", "sentence", "lead"), [
    ("Is naltrexone an opioid?", "Naltrexone is not an opioid, and it is not addictive.", "No, "),
    ("Do I have to speak at a meeting?", "You never have to speak; you can just listen.", "No, "),
    ("Is SMART Recovery religious?", "SMART Recovery is secular and not religious.", "No, "),
    ("Can teenagers go to Alateen?", "Alateen is for young people affected by someone else's drinking.", None),
    ("What is naltrexone?", "Naltrexone is not an opioid.", None),  # not a yes/no question
    ("Isn't methadone just another drug?", "Methadone is not replacing one drug with another.", None),  # negated ask
    ("Does Medicaid pay for treatment?", "Medicaid pays for treatment in every state, but not every program.", None),
])
def test_a_yes_no_question_gets_its_no_only_when_the_first_clause_says_no(question, sentence, lead) -> None:
    assert yes_no_lead(question, sentence) == lead


def test_the_no_is_written_before_the_cited_sentence(fake_retriever, fake_settings) -> None:
    comp = _compose(fake_retriever, fake_settings, "Is SMART Recovery religious?")
    first = comp.body.split(" [")[0]
    if yes_no_lead("Is SMART Recovery religious?", comp.sentences[0][0]):
        assert first.startswith("No, ")
    else:
        assert first == comp.sentences[0][0]


def _question_cand(section: str, position: int, pos: int, text: str, score: float, doc: str = "aa") -> _Candidate:
    chunk = Chunk(id=f"{doc}::{position}", doc_id=doc, title=doc, section=section, url="https://example.org/",
                  text=text, position=position)
    return _Candidate(text, chunk, 1, pos, score)


class _Doc:
    """The one retriever method the lead rule reads: a document's passages in order."""

    def __init__(self, *chunks: Chunk) -> None:
        self.chunks = chunks

    def doc_chunks(self, doc_id: str) -> list[Chunk]:
        return [c for c in self.chunks if c.doc_id == doc_id]


def test_the_opening_sentence_of_a_question_headed_passage_leads_the_answer() -> None:
    """"does AA actually work?": the scorer prefers a neighbour sharing the word "works"; the section opens with
    the answer, so that sentence goes first."""
    lead = _question_cand("AA › Does AA work?", 3, 0, "Research shows that AA helps many people stop drinking.", 2.0)
    best = _question_cand("AA › Does AA work?", 3, 2, "AA is not the only path that works for people.", 6.0)
    scored = [lead, best]
    chosen = select_sentences(scored, AnswerPolicy(0.0, 3.0, 1.0))
    assert lead not in chosen
    assert with_section_lead(chosen, scored, None)[:2] == [lead, best]


@pytest.mark.parametrize("case", ["heading is not a question", "best sentence from another passage", "continued section"])
def test_the_opening_sentence_is_left_alone_outside_its_rule(case: str) -> None:
    section = "AA › History" if case == "heading is not a question" else "AA › Does AA work?"
    lead = _question_cand(section, 3, 0, "Research shows that AA helps many people stop drinking.", 2.0)
    other = _question_cand("NA › Does NA work?", 7, 1, "NA members support each other to stay clean.", 6.0, doc="na")
    best = other if case == "best sentence from another passage" else \
        _question_cand(section, 3, 2, "AA is not the only path that works for people.", 6.0)
    earlier = Chunk(id="aa::2", doc_id="aa", title="aa", section=section, url="https://example.org/", text="...",
                    position=2)  # the section's first part: passage 3 continues it
    retriever = _Doc(earlier, lead.chunk) if case == "continued section" else _Doc(lead.chunk)
    chosen = [best]
    assert with_section_lead(chosen, [lead, best], retriever) == chosen


def test_the_opening_sentence_keeps_the_answer_within_its_limits() -> None:
    section = "AA › Does AA work?"
    lead = _question_cand(section, 1, 0, "Research shows that AA helps many people stop drinking.", 0.0)
    rest = [_question_cand(section, 1, i, f"Sentence number {i} about meetings and sponsors here.", 5.0 - i)
            for i in range(1, 5)]
    out = with_section_lead(rest, [lead, *rest], None)
    assert out[0] is lead and len(out) == 4 and out[1:] == rest[:3]  # the weakest gives way
