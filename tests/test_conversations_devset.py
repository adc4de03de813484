"""The team's conversation dev set through the real pipeline: the pass rate the eval gate holds, every citation valid.

Prints pass rate, citation validity, groundedness and latency p50/p95 so the numbers show in CI output."""

from __future__ import annotations

from pathlib import Path

import pytest
from _gates import assert_meets_gate

from guide.evals.answers import run_cases
from guide.evals.cases import ConversationCase, load_cases
from guide.evals.retrieval import percentile

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SUITE = Path(__file__).resolve().parent.parent / "evals" / "conversations"


def test_dev_set_shape() -> None:
    cases = load_cases(SUITE, ConversationCase)
    kinds = [c.kind for c in cases]
    assert len(cases) >= 100
    assert kinds.count("followup") >= 15 and kinds.count("decline") >= 15 and kinds.count("crisis") >= 10


def test_dev_set_passes(real_index) -> None:
    from guide.pipeline import Pipeline

    settings, retriever = real_index
    pipeline = Pipeline(settings, retriever)
    cases = load_cases(SUITE, ConversationCase)
    known = {c.doc_id for c in retriever.chunks.values()}
    pipeline.answer([], "warm up", "newcomer")
    results = run_cases(pipeline, cases, known)
    passed = [r for r in results if r.passed]
    with_cites = [r for r in results if r.citations]
    valid = [r for r in with_cites if not r.citation_problems]
    grounded = [r.groundedness for r in results if r.groundedness is not None]
    answered = sorted(r.latency_ms for r in results if r.route == "answer")
    followups = [r for r in results if r.kind == "followup"]
    print(
        f"\nconversation dev set: {len(passed)}/{len(results)} passed ({len(passed) / len(results):.1%}); "
        f"follow-ups {sum(r.passed for r in followups)}/{len(followups)}; "
        f"citation validity {len(valid)}/{len(with_cites)}; "
        f"groundedness {sum(grounded) / max(len(grounded), 1):.3f}; "
        f"answer latency p50 {percentile(answered, 50):.1f} ms p95 {percentile(answered, 95):.1f} ms; "
        f"over their latency budget (reported, not failed): {sum(r.over_latency_budget for r in results)}"
    )
    for r in results:
        if not r.passed:
            print(f"  FAIL {r.case_id} [{r.kind}] {list(r.turns)} -> {r.route}: {'; '.join(r.failures + r.citation_problems)}")
    assert len(valid) == len(with_cites), "every citation must resolve and support its sentence"
    # The gate in evals/thresholds.yaml (target 0.90, issue 6; its description says why it holds less).
    assert_meets_gate("answers.pass_rate", len(passed) / len(results))
