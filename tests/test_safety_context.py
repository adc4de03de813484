"""The context layer on its own: the same words mean different things after different conversations."""

import pytest

from guide.safety import SafetyChecker
from guide.types import Turn


@pytest.fixture(scope="module")
def checker():
    return SafetyChecker()


def user(*texts):
    return tuple(Turn(role="user", text=t) for t in texts)


def test_ambiguous_distress_after_relapse_is_a_crisis(checker):
    v = checker.check("I can't do this anymore", user("I relapsed last night after 8 months", "my wife took the kids"))
    assert (v.route, v.category) == ("crisis", "suicide")
    assert any("context" in r for r in v.reasons)


def test_ambiguous_distress_after_paperwork_is_a_checkin_not_a_crisis(checker):
    v = checker.check("I can't do this anymore", user("how do I fill out the intake paperwork?"))
    assert v.route == "checkin"


def test_ambiguous_distress_without_history_is_a_checkin(checker):
    assert checker.check("what's the point of anything").route == "checkin"


def test_an_earlier_crisis_reply_raises_sensitivity(checker):
    history = (Turn(role="user", text="..."),
               Turn(role="assistant", text="(crisis reply)", route="crisis", crisis=True, crisis_category="suicide"))
    assert checker.check("I just don't see the point", history).route == "crisis"
    assert checker.check("thanks, I called 988 and I'm talking to them", history).route == "ok"


def test_fear_before_someone_comes_home_after_abuse(checker):
    v = checker.check("he's coming home soon and I'm scared", user("he hit me again last night"))
    assert (v.route, v.category) == ("crisis", "abuse")
    assert checker.check("he's coming home soon and I'm scared").route == "checkin"


def test_history_never_turns_a_plain_question_into_a_crisis(checker):
    assert checker.check("what time are the NA meetings on Sunday?", user("I relapsed last weekend")).route == "ok"
