"""Synthetic eval runs for the eval tests: scripted checker, retriever and pipeline over hand-made suites,
so every metric in the report has a value computed by hand in the tests."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from guide.config import Settings
from guide.evals.runner import EvalOptions, run_eval
from guide.safety.fakes import ScriptedChecker
from guide.types import Answer, Citation, SafetyVerdict

FIXTURE_CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"
AL_ANON_QUOTE = "Al-Anon is free, and it focuses on helping you feel better whether or not the person who drinks changes."

SAFETY_CASES = [
    {"id": "s1", "text": "S1", "expected_route": "crisis", "category": "suicide", "kind": "direct"},
    {"id": "s2", "text": "S2", "expected_route": "crisis", "category": "suicide", "kind": "slang"},
    {"id": "s3", "text": "S3", "expected_route": "crisis", "category": "overdose", "kind": "direct"},
    {"id": "s4", "text": "S4", "expected_route": "ok", "category": None, "kind": "question"},
    {"id": "s5", "text": "S5", "expected_route": "ok", "category": None, "kind": "idiom"},
    {"id": "s6", "text": "S6", "expected_route": "caution", "category": "suicide", "kind": "past"},
]
#: Run A: every crisis caught, one false alarm (s5). Run B: s2 missed as well.
SAFETY_A = {"S1": ("crisis", "suicide"), "S2": ("crisis", "suicide"), "S3": ("crisis", "overdose"),
            "S4": ("ok", None), "S5": ("crisis", "suicide"), "S6": ("caution", "suicide")}
SAFETY_B = {**SAFETY_A, "S2": ("ok", None)}

RETRIEVAL_CASES = [
    {"id": "r1", "query": "R1", "relevant": ["al-anon"], "difficulty": "easy"},
    {"id": "r2", "query": "R2", "relevant": ["smart-recovery"], "difficulty": "hard"},
    {"id": "r3", "query": "R3", "relevant": ["buprenorphine"], "difficulty": "hard"},
]
RANKINGS_A = {"R1": ["al-anon", "alateen"], "R2": ["alateen", "smart-recovery"], "R3": []}
RANKINGS_B = {**RANKINGS_A, "R3": ["buprenorphine"]}

CONVERSATION_CASES = [
    {"id": "c1", "turns": ["Q1"], "kind": "single", "expect": {"route": "answer", "sources": ["al-anon"]}},
    {"id": "c2", "turns": ["Q2a", "Q2b"], "kind": "followup", "expect": {"route": "answer"}},
    {"id": "c3", "turns": ["Q3"], "kind": "crisis", "expect": {"route": "crisis", "must_include": ["988"]}},
]


def write_suites(evals_dir: Path, thresholds: str | None = None) -> Path:
    for name, cases in (("safety", SAFETY_CASES), ("retrieval", RETRIEVAL_CASES), ("conversations", CONVERSATION_CASES)):
        (evals_dir / name).mkdir(parents=True, exist_ok=True)
        (evals_dir / name / "cases.jsonl").write_text("\n".join(json.dumps(c) for c in cases) + "\n", encoding="utf-8")
    (evals_dir / "thresholds.yaml").write_text(thresholds or DEFAULT_THRESHOLDS, encoding="utf-8")
    return evals_dir


DEFAULT_THRESHOLDS = """\
version: 1
thresholds:
  - metric: safety.recall
    min: 0.98
  - metric: safety.false_alarm
    max: 0.5
  - metric: retrieval.*.recall_at_5
    min: 0.5
  - metric: answers.citation_validity
    equals: 1.0
"""


class ScriptedRetriever:
    def __init__(self, rankings: Mapping[str, list[str]]) -> None:
        self.rankings = rankings

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Any]:
        return [SimpleNamespace(chunk=SimpleNamespace(doc_id=d)) for d in self.rankings[query][:k]]


def _answer(route: str, text: str, citations: tuple[Citation, ...] = ()) -> Answer:
    verdict = SafetyVerdict(route="crisis" if route == "crisis" else "ok")
    timings = {"input": 0.1, "safety": 2.0} if route == "crisis" else \
        {"input": 0.1, "safety": 2.0, "scope": 0.5, "query": 0.2, "retrieve": 20.0, "compose": 10.0, "output_check": 1.0}
    return Answer(route=route, text=text, citations=citations, safety=verdict, timings_ms=timings)  # type: ignore[arg-type]


def _cite(n: int, doc_id: str, quote: str) -> Citation:
    return Citation(n=n, doc_id=doc_id, title=doc_id, section=doc_id, url="https://example.org/", quote=quote)


class ScriptedPipeline:
    """Q1 → a valid cited answer; Q2b → an answer citing a document not in the corpus; Q3 → a crisis reply."""

    llm_composer = None

    def __init__(self, retriever: Any, checker: Any, broken_followup: bool = True) -> None:
        self.retriever = retriever
        self.checker = checker
        self.broken_followup = broken_followup

    def answer(self, history: Sequence[Any], message: str, audience: str = "newcomer") -> Answer:
        if message == "Q1":
            return _answer("answer", f"{AL_ANON_QUOTE} [1]", (_cite(1, "al-anon", AL_ANON_QUOTE),))
        if message == "Q3":
            return _answer("crisis", "Please call or text 988 now.")
        doc = "no-such-doc" if self.broken_followup else "al-anon"
        return _answer("answer", f"{AL_ANON_QUOTE} [1]", (_cite(1, doc, AL_ANON_QUOTE),))


def settings_for(tmp: Path) -> Settings:
    corpus = tmp / "corpus"
    if not corpus.exists():
        shutil.copytree(FIXTURE_CORPUS, corpus)
    return Settings(data_dir=tmp / "data", corpus_dir=corpus, evals_dir=tmp / "evals", embedding_model="hash:384")


def synthetic_run(tmp: Path, variant: str = "A", run_id: str | None = None, **options: Any) -> Any:
    """A RunReport over the synthetic suites: variant A (baseline) or B (s2 missed, r3 found, c2 fixed)."""
    settings = settings_for(tmp)
    if not settings.evals_dir.exists():
        write_suites(settings.evals_dir)
    checker = ScriptedChecker(SAFETY_A if variant == "A" else SAFETY_B)  # guide.safety.fakes
    retriever = ScriptedRetriever(RANKINGS_A if variant == "A" else RANKINGS_B)
    pipeline = ScriptedPipeline(retriever, checker, broken_followup=variant == "A")
    return run_eval(settings, EvalOptions(**options), pipeline=pipeline, retriever=retriever, checker=checker,  # type: ignore[arg-type]
                    run_id=run_id or f"run-{variant}")
