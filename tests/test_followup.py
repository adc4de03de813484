"""Deterministic follow-up resolution: the conversation's subject is carried into short follow-ups."""

from __future__ import annotations

import pytest

from guide.followup import is_followup, resolve_query
from guide.types import Citation, Turn


def _history(question: str, cited_title: str | None) -> list[Turn]:
    cites = ()
    if cited_title:
        cites = (Citation(n=1, doc_id="x", title=cited_title, section=cited_title, url="https://example.org/", quote="q"),)
    return [Turn(role="user", text=question), Turn(role="assistant", text="...", route="answer", citations=cites)]


@pytest.mark.parametrize(
    ("first", "title", "follow", "must_contain"),
    [
        ("What is SMART Recovery?", "SMART Recovery", "Is it religious?", "SMART Recovery"),
        ("Tell me about Al-Anon.", "Al-Anon Family Groups", "Can teenagers go too?", "Al-Anon"),
        ("What is buprenorphine?", "Buprenorphine", "Where can I get it?", "Buprenorphine"),
        ("What is NA?", "Narcotics Anonymous", "does it cost money?", "Narcotics Anonymous"),
        ("What is NA?", None, "what about online?", "What is NA?"),
    ],
)
def test_followups_carry_the_subject(first: str, title: str | None, follow: str, must_contain: str) -> None:
    resolved = resolve_query(follow, _history(first, title))
    assert resolved.followup
    assert must_contain in resolved.text
    # every word the person typed survives, except a pronoun the subject replaced
    kept = set(resolved.text.lower().replace("?", " ").split())
    assert set(follow.lower().replace("?", " ").split()) - kept <= {"it", "that", "they", "them"}


@pytest.mark.parametrize(
    ("follow", "expected"),
    [
        ("Is it religious?", "Is SMART Recovery religious?"),
        ("does it actually work?", "does SMART Recovery actually work?"),
        ("where can I find them", "where can I find SMART Recovery"),
        ("is that free", "is SMART Recovery free"),
        # existential "there" is not a pronoun; with no pronoun the earlier question (subject and need) is appended
        ("Is there one near me?", "Is there one near me? What is SMART Recovery?"),
        ("Can teenagers go too?", "Can teenagers go too? What is SMART Recovery?"),
    ],
)
def test_a_pronoun_is_replaced_by_the_subject(follow: str, expected: str) -> None:
    resolved = resolve_query(follow, _history("What is SMART Recovery?", "SMART Recovery"))
    assert resolved.text == expected
    assert resolved.subject == "SMART Recovery"


@pytest.mark.parametrize(
    "message",
    [
        "What happens at a first Narcotics Anonymous meeting?",
        "How do I find a SMART Recovery meeting online for my daughter?",
        "Is methadone covered by Medicaid insurance plans?",
    ],
)
def test_self_contained_questions_are_left_alone(message: str) -> None:
    resolved = resolve_query(message, _history("What is AA?", "Alcoholics Anonymous"))
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
