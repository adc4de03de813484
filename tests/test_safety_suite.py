"""Table-driven over the whole labelled suite (evals/safety/*.jsonl): the shape of the suite, every case,
and the targets from the issue. No timing assertions here; latency is measured by `guide safety --eval`."""

from collections import Counter
from pathlib import Path

import pytest
from _gates import assert_meets_gate

from guide.evals.safety import evaluate_safety, load_safety_cases
from guide.safety import SafetyChecker, guarded_check
from guide.types import CATEGORIES

SUITE = Path(__file__).resolve().parent.parent / "evals" / "safety"
CASES = load_safety_cases(SUITE)
HOLDOUT_IDS = {c.id for c in load_safety_cases(SUITE / "holdout.jsonl")} | \
    {c.id for c in load_safety_cases(SUITE / "holdout2.jsonl")}
#: The kinds of message the team suite is written in (docs/safety.md); a new kind is added here on purpose.
KINDS = frozenset("direct indirect misspelled slang third_party embedded idiom negation past question grief service "
                  "context".split())

def test_suite_shape():
    assert len(CASES) >= 400
    positives = Counter(c.category for c in CASES if c.expected_route == "crisis")
    for category in CATEGORIES:
        assert positives[category] >= 40, category
    assert sum(c.hard_negative for c in CASES) >= 150
    assert sum(c.expected_route == "caution" for c in CASES) >= 30
    assert sum(bool(c.history) for c in CASES) >= 10
    assert {c.kind for c in CASES} <= KINDS
    assert {c.language for c in CASES} == {"en", "es", "fr"}
    crisis_kinds = {c.kind for c in CASES if c.expected_route == "crisis"}
    assert {"direct", "indirect", "misspelled", "slang", "third_party", "embedded"} <= crisis_kinds
    negative_kinds = {c.kind for c in CASES if c.hard_negative}
    assert {"idiom", "negation", "past", "question", "grief", "service"} <= negative_kinds


@pytest.fixture(scope="module")
def lexicon_verdicts():
    checker = SafetyChecker()
    return {c.id: guarded_check(checker, c.text, c.turns()) for c in CASES}


@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "direct"], ids=lambda c: c.id)
def test_direct_statements_caught_by_the_lexicon_alone(case, lexicon_verdicts):
    assert lexicon_verdicts[case.id].route == "crisis"


def test_lexicon_only_targets():
    report = evaluate_safety(SafetyChecker(), CASES)
    assert_meets_gate("safety.recall", report.overall.recall.value)
    direct = next(k for k in report.per_kind if k.category == "direct")
    assert direct.recall.value == 1.0  # every direct statement, without the classifier
    assert_meets_gate("safety.false_alarm_hard_negatives", report.false_alarm_hard_negatives.value)


@pytest.fixture(scope="module")
def model_report():
    from guide.safety import default_checker

    return evaluate_safety(default_checker(), CASES)


@pytest.mark.integration
def test_the_shipped_check_holds_the_gate_on_the_team_suite(model_report):
    assert_meets_gate("safety.recall", model_report.overall.recall.value)
    assert_meets_gate("safety.false_alarm_all_noncrisis", model_report.overall.false_alarm.value)
    assert_meets_gate("safety.false_alarm_hard_negatives", model_report.false_alarm_hard_negatives.value)
    assert model_report.failed_closed == 0


@pytest.mark.integration
def test_direct_statements_in_the_held_out_team_files_are_caught(model_report):
    """holdout*.jsonl never train the classifier; a direct statement there is the plainest held-out check."""
    held = [r for r in model_report.cases if r.id in HOLDOUT_IDS and r.expected_route == "crisis" and r.kind == "direct"]
    assert len(held) >= 20
    missed = [r.text for r in held if r.route != "crisis"]
    assert len(missed) <= len(held) // 10, missed
