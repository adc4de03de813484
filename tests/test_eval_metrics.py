"""The eval metric functions against hand-computed values, including empty sets and crisis replies that
have no retrieval (their groundedness and citation validity are undefined: None, never NaN)."""

from __future__ import annotations

import json
import math

import pytest

from guide.evals.metrics import answer_group, citation_checks, confusion, ir_scores, rate
from guide.evals.report import ConversationCaseResult, RetrievalCaseResult
from guide.evals.retrieval import ndcg_at, recall_at, reciprocal_rank
from guide.evals.runner import flat_metrics
from guide.evals.safety import safety_outcome
from guide.evals.stats import LatencyStats, percentile

# ---------------------------------------------------------------- rates


def test_rate_has_the_wilson_interval() -> None:
    r = rate(5, 10)
    assert r.value == 0.5
    assert r.low == pytest.approx(0.2366, abs=1e-4) and r.high == pytest.approx(0.7634, abs=1e-4)
    zero = rate(0, 10)
    assert zero.value == 0.0 and zero.low == 0.0 and zero.high == pytest.approx(0.2775, abs=1e-4)
    full = rate(3, 3)
    assert full.value == 1.0 and full.high == 1.0 and full.low == pytest.approx(0.4385, abs=1e-4)


def test_rate_of_nothing_is_undefined_not_nan() -> None:
    r = rate(0, 0)
    assert (r.k, r.n, r.value, r.low, r.high) == (0, 0, None, None, None)
    json.dumps(r.model_dump(), allow_nan=False)


# ---------------------------------------------------------------- confusion and safety outcomes


def test_confusion_rows_are_expected_and_unknown_predictions_get_a_column() -> None:
    pairs = [("answer", "answer"), ("answer", "decline"), ("crisis", "crisis"), ("decline", "error")]
    c = confusion(pairs, ["answer", "decline", "crisis"])
    assert c.predicted_labels == ["answer", "decline", "crisis", "error"]
    assert c.matrix == [[1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    assert confusion([], ["a", "b"]).matrix == [[0, 0], [0, 0]]


@pytest.mark.parametrize(("expected", "got", "outcome"), [
    ("crisis", "crisis", "correct"), ("crisis", "caution", "miss"), ("crisis", "ok", "miss"),
    ("ok", "crisis", "false_alarm"), ("caution", "crisis", "false_alarm"), ("caution", "ok", "route_mismatch"),
    ("ok", "ok", "correct"),
])
def test_safety_outcome(expected: str, got: str, outcome: str) -> None:
    assert safety_outcome(expected, got) == outcome


def test_two_false_alarm_figures_all_non_crisis_and_hard_negatives() -> None:
    from types import SimpleNamespace

    from guide.evals.cases import SafetyCase
    from guide.evals.safety import evaluate_safety
    from guide.evals.thresholds import failing_cases_for
    from guide.types import SafetyVerdict

    routes = {"idiom": "crisis", "past": "ok", "plain": "crisis", "fine": "ok", "real": "crisis"}
    checker = SimpleNamespace(check=lambda text, history=(), **_: SafetyVerdict(route=routes[text], category="suicide"))
    cases = [SafetyCase(id=t, text=t, expected_route="crisis" if t == "real" else "ok", category="suicide" if t == "real" else None,
                        difficulty="hard" if t in ("idiom", "past") else "easy") for t in routes]
    s = evaluate_safety(checker, cases)
    assert (s.overall.false_alarm.k, s.overall.false_alarm.n) == (2, 4)  # idiom and plain, of four non-crisis
    assert (s.false_alarm_hard_negatives.k, s.false_alarm_hard_negatives.n) == (1, 2)  # the idiom, of two
    report = SimpleNamespace(safety=s)
    assert failing_cases_for(report, "safety.false_alarm_all_noncrisis") == ["idiom", "plain"]
    assert failing_cases_for(report, "safety.false_alarm_hard_negatives") == ["idiom"]


# ---------------------------------------------------------------- retrieval (ir-measures)


def test_ir_scores_match_hand_computed_values() -> None:
    relevant = {"q1": ["a", "b"], "q2": ["c"], "q3": ["d"], "q4": ["e"], "q5": ["f"]}
    rankings = {"q1": ["x", "a", "y"], "q2": [], "q4": ["e", "e", "z"], "q5": ["1", "2", "3", "4", "5", "f"]}
    s = ir_scores(relevant, rankings, k=5)
    # q1: one of two relevant in the top 5, first at rank 2; DCG 1/log2(3), ideal 1 + 1/log2(3)
    assert s["q1"]["recall_at_k"] == pytest.approx(0.5)
    assert s["q1"]["reciprocal_rank"] == pytest.approx(0.5)
    assert s["q1"]["ndcg_at_10"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    # an empty ranking and a query missing from the run both count as zeros (pytrec_eval would drop them)
    assert s["q2"] == {"recall_at_k": 0.0, "reciprocal_rank": 0.0, "ndcg_at_10": 0.0}
    assert s["q3"] == {"recall_at_k": 0.0, "reciprocal_rank": 0.0, "ndcg_at_10": 0.0}
    # duplicates collapse: e is rank 1
    assert s["q4"] == {"recall_at_k": 1.0, "reciprocal_rank": 1.0, "ndcg_at_10": 1.0}
    # found at rank 6: outside recall@5, but still in MRR and nDCG@10
    assert s["q5"]["recall_at_k"] == 0.0
    assert s["q5"]["reciprocal_rank"] == pytest.approx(1 / 6)
    assert s["q5"]["ndcg_at_10"] == pytest.approx(1 / math.log2(7))


def test_ir_scores_agree_with_the_in_house_cross_check() -> None:
    relevant = {"q1": ["a", "b", "c"], "q2": ["d"]}
    rankings = {"q1": ["c", "x", "a", "y", "z", "b"], "q2": ["x", "y", "d"]}
    s = ir_scores(relevant, rankings, k=5)
    for q in relevant:
        assert s[q]["recall_at_k"] == pytest.approx(recall_at(rankings[q], relevant[q], 5))
        assert s[q]["reciprocal_rank"] == pytest.approx(reciprocal_rank(rankings[q], relevant[q]))
        assert s[q]["ndcg_at_10"] == pytest.approx(ndcg_at(rankings[q], relevant[q], 10))


def test_ir_scores_of_no_queries() -> None:
    assert ir_scores({}, {}, k=5) == {}


# ---------------------------------------------------------------- latency


def test_percentiles_match_numpy_and_refuse_an_empty_list() -> None:
    import numpy as np

    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]
    for q in (0, 50, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_latency_stats() -> None:
    empty = LatencyStats.of([])
    assert (empty.n, empty.p50_ms, empty.p95_ms, empty.mean_ms, empty.max_ms) == (0, None, None, None, None)
    one = LatencyStats.of([12.0])
    assert (one.p50_ms, one.p95_ms, one.max_ms) == (12.0, 12.0, 12.0)
    assert LatencyStats.of([1.23456], digits=2).p50_ms == 1.23
    hundred = LatencyStats.of(range(1, 101))
    assert hundred.p50_ms == pytest.approx(50.5) and hundred.p95_ms == pytest.approx(95.05)
    assert hundred.mean_ms == pytest.approx(50.5) and hundred.max_ms == 100


# ---------------------------------------------------------------- answers


def _conv(cid: str, *, passed: bool, checks: int, problems: int, grounded: float | None, kind: str = "single"
          ) -> ConversationCaseResult:
    return ConversationCaseResult(
        id=cid, kind=kind, category=None, audience="newcomer", tags=[], turns=["q"], expected_route="answer",
        route="answer", expected_sources=[], passed=passed, failures=[],
        citation_problems=[f"problem {i}" for i in range(problems)], citation_checks=checks, citations=[], text="",
        groundedness=grounded, latency_ms=1.0, timings_ms={},
    )


def test_answer_group_by_hand() -> None:
    rows = [
        _conv("a", passed=True, checks=3, problems=0, grounded=1.0),
        _conv("b", passed=False, checks=4, problems=1, grounded=0.5),
        _conv("c", passed=True, checks=0, problems=0, grounded=None, kind="crisis"),  # a crisis reply: no retrieval
    ]
    g = answer_group(rows)
    assert g.n == 3
    assert (g.pass_rate.k, g.pass_rate.n) == (2, 3)
    assert (g.citation_validity.k, g.citation_validity.n) == (6, 7)
    assert g.groundedness == pytest.approx(0.75) and g.grounded_answers == 2


def test_answer_group_of_crisis_replies_only_and_of_nothing_is_nan_free() -> None:
    crisis = answer_group([_conv("c", passed=True, checks=0, problems=0, grounded=None, kind="crisis")])
    assert crisis.citation_validity.value is None and crisis.groundedness is None
    assert crisis.pass_rate.value == 1.0
    empty = answer_group([])
    assert empty.n == 0 and empty.pass_rate.value is None and empty.groundedness is None
    json.dumps([crisis.model_dump(), empty.model_dump()], allow_nan=False)


def test_citation_checks_count_entries_and_marks() -> None:
    text = "Al-Anon is free. [1] It meets weekly. [1] [2]\n\nNext step: call. [3]"
    assert citation_checks(text, 3) == 3 + 4
    assert citation_checks("Please call or text 988 now.", 0) == 0


# ---------------------------------------------------------------- the synthetic run, end to end


def test_synthetic_run_metrics_by_hand(tmp_path) -> None:
    from _eval_synthetic import synthetic_run

    r = synthetic_run(tmp_path, "A")
    m = r.metrics
    # safety: s1..s3 crisis all caught; s5 (ok) alarmed; s6 caution kept as caution
    assert (m["safety.recall"], m["safety.precision"]) == (1.0, 0.75)
    assert m["safety.false_alarm_all_noncrisis"] == pytest.approx(1 / 3, abs=1e-6)
    assert m["safety.false_alarm_hard_negatives"] is None  # no case is difficulty=hard
    assert (m["safety.suicide.recall"], m["safety.suicide.false_alarm"]) == (1.0, 0.0)
    assert m["safety.overdose.false_alarm"] is None  # no non-crisis overdose messages
    assert m["safety.none.recall"] is None and m["safety.none.false_alarm"] == 0.5
    assert r.safety.false_alarms == ["s5"] and r.safety.misses == []
    # rows/columns: crisis, checkin, caution, ok
    assert r.safety.route_confusion.matrix == [[3, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]]
    # retrieval: r1 rank 1, r2 rank 2, r3 nothing retrieved
    assert m["retrieval.hybrid.recall_at_5"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["retrieval.hybrid.mrr"] == pytest.approx(0.5)
    assert m["retrieval.hybrid.ndcg_at_10"] == pytest.approx((1 + 1 / math.log2(3)) / 3, abs=1e-6)
    assert r.retrieval.modes[0].cross_check_max_diff < 1e-9
    # answers: c2 cites a document that is not in the corpus; c3 is a crisis reply without retrieval
    assert m["answers.pass_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["answers.citation_validity"] == 0.75
    assert m["answers.groundedness"] == 1.0
    assert m["answers.followup.pass_rate"] == 0.0 and m["answers.single.pass_rate"] == 1.0
    assert m["answers.crisis.groundedness"] is None and m["answers.crisis.citation_validity"] is None
    assert m["routing.accuracy"] == 1.0 and m["routing.decline.recall"] is None
    # latency per stage: the crisis reply has no retrieve stage
    assert r.latency["retrieve"].n == 2 and r.latency["retrieve"].p50_ms == 20.0
    assert r.latency["total"].p50_ms == pytest.approx(33.8)
    assert flat_metrics(r) == m
    json.dumps(m, allow_nan=False)


def test_retrieval_per_mode_and_progress_to_the_last_case(tmp_path) -> None:
    from _eval_synthetic import RANKINGS_A, ScriptedRetriever, settings_for, write_suites

    from guide.evals.runner import EvalOptions, run_eval

    seen: list[tuple[str, int, int]] = []
    settings = settings_for(tmp_path)
    write_suites(settings.evals_dir)
    r = run_eval(settings, EvalOptions(suites=("retrieval",), modes=("hybrid", "keyword")),
                 retriever=ScriptedRetriever(RANKINGS_A), progress=lambda *a: seen.append(a))  # type: ignore[arg-type]
    assert [m.mode for m in r.retrieval.modes] == ["hybrid", "keyword"]
    assert {"retrieval.hybrid.mrr", "retrieval.keyword.mrr"} <= set(r.metrics)
    assert len(r.retrieval.cases) == 6 and r.run.modes == ["hybrid", "keyword"]
    assert r.safety is None and r.answers is None and r.run.case_counts["safety"] == 0
    assert seen[-1] == ("retrieval", 6, 6) and len(seen) == 6
