"""Fail closed: any exception inside the check becomes the crisis reply, and the log never has the message."""

import logging

import pytest

from guide.safety import SafetyChecker, check, crisis_reply, guarded_check
from guide.safety.lexicon import Lexicon

SECRET = "my neighbour Alice keeps a diary about her landlord"


@pytest.mark.parametrize("layer", ["scan", "normalizer", "strip_figurative"])
def test_a_broken_layer_fails_closed(monkeypatch, caplog, layer):
    checker = SafetyChecker()

    def boom(*_a, **_k):
        raise RuntimeError(f"boom {SECRET}")

    monkeypatch.setattr(checker.lexicon, layer, boom)
    with caplog.at_level(logging.DEBUG, logger="guide.safety"):
        v = guarded_check(checker, SECRET)
    assert v.route == "crisis" and v.failed_closed and v.category is None
    assert v.reasons == ("safety check failed; failing closed",)
    records = [r for r in caplog.records if r.name == "guide.safety"]
    assert records and "RuntimeError" in records[0].getMessage()
    assert SECRET not in caplog.text and "Alice" not in caplog.text


def test_broken_classifier_fails_closed():
    from guide.safety.classifier import FakeRiskModel

    v = guarded_check(SafetyChecker(FakeRiskModel(fail=True)), "hello there")
    assert v.route == "crisis" and v.failed_closed


def test_non_text_and_missing_checker_fail_closed():
    for v in (guarded_check(SafetyChecker(), None), guarded_check(None, "hi")):  # type: ignore[arg-type]
        assert v.route == "crisis" and v.failed_closed


def test_module_check_fails_closed(monkeypatch):
    monkeypatch.setattr(Lexicon, "scan", lambda *_a, **_k: 1 / 0)
    v = check("anything")
    assert v.route == "crisis" and v.failed_closed


def test_fail_closed_reply_is_the_general_template():
    reply = crisis_reply(None)
    assert "988" in reply.text and "911" in reply.text
    assert reply.resources[0].id == "us_988"
    assert {r.id for r in reply.resources} >= {"us_988", "us_911", "us_poison", "us_dv_hotline", "us_childhelp"}
