"""Deterministic follow-up resolution: a follow-up carries the user's earlier turns into the retrieval query."""

from __future__ import annotations

import pytest

from guide.answer.query import is_followup, resolve_query
from guide.types import Citation, Turn


def _history(question: str, cited_title: str | None) -> list[Turn]:
    cites = ()
    if cited_title:
        cites = (Citation(n=1, doc_id="x", title=cited_title, section=cited_title, url="https://example.org/", quote="q"),)
    return [Turn(role="user", text=question), Turn(role="assistant", text="...", route="answer", citations=cites)]


@pytest.mark.parametrize(
    ("first", "title", "follow"),
    [
        ("What is SMART Recovery?", "SMART Recovery", "Is it religious?"),
        ("Tell me about Al-Anon.", "Al-Anon Family Groups", "Can teenagers go too?"),
        ("What is buprenorphine?", "Buprenorphine", "Where can I get it?"),
        ("What is NA?", "Narcotics Anonymous", "does it cost money?"),
        ("What is NA?", None, "what about online?"),
        ("my sister is using fentanyl", "Naloxone", "what are signs she's overdosing?"),  # a contraction's pronoun
        ("what happens at a first SMART meeting", "SMART Recovery", "will I have to call myself an addict?"),  # short
        ("¿Qué es la buprenorfina?", "Buprenorphine", "¿es segura a largo plazo?"),  # Spanish, no pronoun
    ],
)
def test_followups_carry_the_earlier_question(first: str, title: str | None, follow: str) -> None:
    resolved = resolve_query(follow, _history(first, title))
    assert resolved.followup
    assert resolved.text == f"{follow} {first}"  # every word typed survives; the earlier turn supplies the subject
    assert resolved.subject == (title or first)


def test_a_pronoun_is_not_guessed_from_the_last_cited_title() -> None:
    """"it" here is stopping drinking, not the document the guide cited last: the earlier turns go with the
    question, most recent first, and the cross-encoder reads them together."""
    history = [
        Turn(role="user", text="ive been drinking a fifth of vodka a day for like a year"),
        Turn(role="assistant", text="...", route="answer", citations=_history("q", "Standard Drinks")[1].citations),
        Turn(role="user", text="i want to stop tomorrow"),
        Turn(role="assistant", text="...", route="answer"),
    ]
    resolved = resolve_query("can i just do it at home by myself?", history)
    assert resolved.text == ("can i just do it at home by myself? i want to stop tomorrow "
                             "ive been drinking a fifth of vodka a day for like a year")
    assert "Standard Drinks" not in resolved.text


def test_only_the_last_two_user_turns_are_carried() -> None:
    history = []
    for n in range(4):
        history += [Turn(role="user", text=f"question {n} about AA"), Turn(role="assistant", text="...", route="answer")]
    resolved = resolve_query("is it free?", history)
    assert resolved.text == "is it free? question 3 about AA question 2 about AA"


@pytest.mark.parametrize(
    "message",
    [
        "What happens at a first Narcotics Anonymous meeting?",
        "How do I find a SMART Recovery meeting online for my daughter?",
        "Is methadone covered by Medicaid insurance plans?",
        "How long does alcohol withdrawal usually last for someone who drank heavily every day for years?",
    ],
)
def test_self_contained_questions_are_left_alone(message: str) -> None:
    subjects = ("narcotics anonymous", "smart recovery", "methadone")  # a short question naming one stands alone
    resolved = resolve_query(message, _history("What is AA?", "Alcoholics Anonymous"), subjects)
    assert not resolved.followup
    assert resolved.text == message


def test_first_turn_is_never_a_followup() -> None:
    assert is_followup("Is it religious?", has_history=False) == (False, "no history")


def test_chained_followups_keep_the_original_subject() -> None:
    history = _history("What is SMART Recovery?", "SMART Recovery") + [
        Turn(role="user", text="Is it religious?"),
        Turn(role="assistant", text="...", route="answer"),
    ]
    resolved = resolve_query("and is it free?", history)
    assert resolved.followup and "SMART Recovery" in resolved.text
