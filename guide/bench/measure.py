"""Each benchmark section as a function: retrieval quality and latency per mode, the safety check,
warm end-to-end answers per stage, cold start, ingestion throughput and memory, and scale-out.

`run_bench` runs them in one process, one after another, so every number comes from the same run.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from guide.bench.report import (
    AnswerBench,
    BenchReport,
    IngestBench,
    RetrievalBench,
    RetrievalRow,
    SafetyBench,
    ScaleRow,
    Target,
)
from guide.bench.system import cpu_seconds, machine_description, peak_rss_mib, rss_mib, run_child
from guide.evals.render import num
from guide.evals.stats import LatencyStats

if TYPE_CHECKING:
    import numpy as np

    from guide.config import Settings
    from guide.evals.cases import ConversationCase, RetrievalCase, SafetyCase
    from guide.pipeline import Pipeline
    from guide.retrieval.index import Retriever
    from guide.types import Mode

#: say(message): where progress lines go (stderr in the CLI, nowhere in tests).
Say = Callable[[str], None]
HASH_EMBEDDER = "hash:384"
WARM_UP = "What happens at a first meeting of a mutual-help group?"
COLD_START_QUESTION = "What happens at a first AA meeting?"


#: Latency as BENCHMARKS.md and benchmarks.json keep it: two decimals.
_latency = partial(LatencyStats.of, digits=2)


class TimedEmbedder:
    """Wraps an Embedder and adds up texts and seconds per phase (chunks, then sentences, during ingest)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.phase = "chunks"
        self.texts: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)

    def embed(self, texts: Sequence[str]) -> "np.ndarray":
        t0 = time.perf_counter()
        vectors = self.inner.embed(texts)
        self.seconds[self.phase] += time.perf_counter() - t0
        self.texts[self.phase] += len(texts)
        return vectors

    def progress(self, stage: str, done: int, total: int) -> None:
        """An ingest Progress callback: chunk embedding ends when the 'embedding' stage reaches its total."""
        if stage == "embedding":
            self.phase = "chunks" if done < total else "sentences"
        elif stage == "sentences":
            self.phase = "sentences"

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def forget_query_cache(embedder: Any) -> None:
    """Empty the embedder's query cache so each measured mode pays for its own query embeddings."""
    clear = getattr(getattr(embedder, "inner", embedder), "clear_cache", None)
    if clear is not None:  # the hash fake has no cache
        clear()


def _ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


# ---------------------------------------------------------------- sections
def bench_ingest(settings: "Settings", say: Say) -> tuple[IngestBench, TimedEmbedder]:
    """Ingest the corpus from scratch into an embedded store under settings.data_dir, timing each part."""
    from guide.retrieval.embedding import make_embedder
    from guide.retrieval.index import ingest
    from guide.retrieval.store import ChromaStore, make_chroma_client

    embedder = TimedEmbedder(make_embedder(settings.embedding_model))
    embedder.inner.embed(["load the model before the clock starts"])
    store = ChromaStore(make_chroma_client(settings), settings.collection, embedder)
    say(f"ingest: embedding the corpus with {embedder.name} …")
    cpu0 = cpu_seconds()
    report = ingest(settings, store, embedder, rebuild=True, progress=embedder.progress)
    cpu = cpu_seconds() - cpu0
    chunk_s, sent_s = embedder.seconds["chunks"], embedder.seconds["sentences"]
    bench = IngestBench(
        documents=report.documents, chunks=report.total_chunks, sentences=embedder.texts["sentences"],
        seconds=round(report.seconds, 2), chunk_embedding_s=round(chunk_s, 2), sentence_embedding_s=round(sent_s, 2),
        other_s=round(report.seconds - chunk_s - sent_s, 2), cpu_s=round(cpu, 2),
        documents_per_s=round(report.documents / report.seconds, 2),
        chunks_per_s=round(report.total_chunks / chunk_s, 2) if chunk_s else 0.0,
        sentences_per_s=round(embedder.texts["sentences"] / sent_s, 2) if sent_s else 0.0,
        peak_rss_mib=round(peak_rss_mib(), 1),
    )
    say(f"ingest: {report.summary()}")
    return bench, embedder


def bench_retrieval(retriever: "Retriever", cases: Sequence["RetrievalCase"], say: Say, k: int = 5) -> RetrievalBench:
    """recall@k, nDCG@10, MRR and latency per mode; the query cache is emptied before each mode."""
    from guide.evals.retrieval import evaluate_retrieval

    from guide.retrieval.rerank import IdentityReranker

    reranker = retriever.reranker
    rows = []
    # the three modes in fused order, then hybrid with the configured reranker: "with and without" in one run
    plan: list[tuple[Mode, str, bool]] = [("keyword", "keyword", False), ("dense", "dense", False),
                                          ("hybrid", "hybrid", False)]
    if not isinstance(reranker, IdentityReranker):
        plan.append(("hybrid", f"hybrid + {reranker.name}", True))
    try:
        for mode, label, reranked in plan:
            retriever.reranker = reranker if reranked else IdentityReranker()
            forget_query_cache(retriever.embedder)
            retriever.search(WARM_UP, k=k, mode=mode)
            report = evaluate_retrieval(retriever, cases, mode=mode, k=k, depth=10)
            m = report.metrics["all"]
            rows.append(RetrievalRow(mode=label, recall_at_5=round(m["recall_at_k"], 4),
                                     ndcg_at_10=round(m["ndcg_at_10"], 4), mrr=round(m["mrr"], 4),
                                     latency=_latency(r.latency_ms for r in report.results)))
            say(f"retrieval: {label} recall@{k}={m['recall_at_k']:.3f} p50={num(rows[-1].latency.p50_ms, 1)} ms")
    finally:
        retriever.reranker = reranker
    by_mode = {r.mode: r for r in rows}
    best = max(("keyword", "dense"), key=lambda name: by_mode[name].recall_at_5)
    best_recall = by_mode[best].recall_at_5
    return RetrievalBench(
        cases=len(cases), rows=tuple(rows), best_single_mode=best,
        hybrid_over_best_single=round(by_mode["hybrid"].recall_at_5 / best_recall, 4) if best_recall else 0.0,
        ratio_ceiling=round(1 / best_recall, 4) if best_recall else 0.0,
        reranker=getattr(retriever.reranker, "name", type(retriever.reranker).__name__),
    )


def bench_safety(checker: Any, cases: Sequence["SafetyCase"], say: Say) -> SafetyBench:
    """Time checker.check over every safety case: the one safety harness, warmed up as the app does at start."""
    from guide.evals.safety import evaluate_safety

    report = evaluate_safety(checker, cases)
    bench = SafetyBench(cases=len(cases), checker=str(getattr(checker, "name", type(checker).__name__)),
                        latency=_latency([c.latency_ms for c in report.cases]),
                        cpu=_latency([c.cpu_ms or 0.0 for c in report.cases]))
    say(f"safety: p50={num(bench.latency.p50_ms, 2)} ms p95={num(bench.latency.p95_ms, 2)} ms")
    return bench


@dataclass
class _TurnTimes:
    all_turns: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    answered_cpu: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


def play_conversations(pipeline: "Pipeline", cases: Sequence["ConversationCase"]) -> _TurnTimes:
    """Every turn of every case through the pipeline, wall-clock timed, with the pipeline's stage timings."""
    from guide.conversation import Conversation

    times = _TurnTimes()
    for case in cases:
        conversation = Conversation(audience=case.audience or "newcomer")
        for message in case.turns:
            t0, c0 = time.perf_counter(), time.thread_time()
            answer = conversation.ask(pipeline, message)
            ms, cpu_ms = _ms_since(t0), (time.thread_time() - c0) * 1000
            times.all_turns.append(ms)
            if answer.route == "answer":
                times.answered.append(ms)
                times.answered_cpu.append(cpu_ms)
            for stage, value in answer.timings_ms.items():
                times.stages[stage].append(value)
    return times


def cold_start(
    settings: "Settings", runs: int = 2, timeout_s: float = 300.0,
) -> tuple[list[float], list[float], float, bool]:
    """`guide ask` in a fresh Python process over an existing index: seconds and CPU seconds per run, peak RSS,
    answered?"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUIDE_")}
    env.update({"GUIDE_DATA_DIR": str(settings.data_dir), "GUIDE_CORPUS_DIR": str(settings.corpus_dir),
                "GUIDE_EMBEDDING_MODEL": settings.embedding_model, "GUIDE_COLLECTION": settings.collection,
                "TOKENIZERS_PARALLELISM": "false"})
    argv = [sys.executable, "-m", "guide.cli", "ask", COLD_START_QUESTION, "--json"]
    seconds, cpu, peak, ok = [], [], 0.0, True
    for _ in range(runs):
        child = run_child(argv, env=env, timeout_s=timeout_s)
        seconds.append(round(child.seconds, 2))
        cpu.append(round(child.cpu_s, 2))
        peak = max(peak, child.peak_rss_mib)
        ok = ok and child.returncode == 0 and '"route": "answer"' in child.stdout
    return seconds, cpu, round(peak, 1), ok


def bench_answers(
    pipeline: "Pipeline", cases: Sequence["ConversationCase"], settings: "Settings", say: Say, cold_runs: int = 2,
) -> AnswerBench:
    forget_query_cache(pipeline.retriever.embedder)
    pipeline.answer([], WARM_UP)
    times = play_conversations(pipeline, cases)
    say(f"answers: {len(times.all_turns)} turns, p50={num(_latency(times.answered).p50_ms, 1)} ms (answer route)")
    cold, cold_cpu, peak, ok = cold_start(settings, runs=cold_runs) if cold_runs else ([], [], 0.0, True)
    if cold:
        say(f"cold start: {', '.join(f'{s:.2f}s' for s in cold)} (peak RSS {peak:.0f} MiB)")
    order = ("input", "safety", "scope", "query", "retrieve", "compose", "output_check")
    stages = {s: _latency(times.stages[s]) for s in (*order, *sorted(set(times.stages) - set(order))) if s in times.stages}
    composer = getattr(pipeline.llm_composer, "name", None) or "extractive"
    return AnswerBench(turns=len(times.all_turns), composer=composer, all_turns=_latency(times.all_turns),
                       answer_route=_latency(times.answered), stages=stages, cold_start_s=tuple(cold),
                       cold_start_peak_rss_mib=peak, cold_start_ok=ok,
                       answer_route_cpu=_latency(times.answered_cpu), cold_start_cpu_s=tuple(cold_cpu))


@dataclass(frozen=True)
class ScalePlan:
    """Which growth factors to run, on which backends, and how long the configured model may take per step."""

    factors: tuple[int, ...]
    backends: tuple[str, ...] = ("embedded", "server")
    model_budget_s: float = 1200.0
    queries: int = 40


def scale_factors(n: int) -> tuple[int, ...]:
    """`--scale N`: ×1, then ×10 and ×100 up to N, and N itself."""
    if n <= 1:
        return ()
    return tuple(sorted({1, *(f for f in (10, 100) if f <= n), n}))


def _scale_row(
    settings: "Settings", factor: int, backend: str, corpus_dir: Path, embedder_spec: str, server_url: str | None,
    workdir: Path, queries: Sequence[str], checker: Any, model_embed_s_per_doc: float | None, say: Say,
) -> ScaleRow:
    from guide.pipeline import Pipeline
    from guide.retrieval.embedding import make_embedder
    from guide.retrieval.index import open_retriever

    s = settings.with_overrides(
        data_dir=workdir / f"x{factor}-{backend}-{embedder_spec.replace(':', '')}", corpus_dir=corpus_dir,
        embedding_model=embedder_spec, collection=f"bench-x{factor}-{embedder_spec.replace(':', '')}",
    )
    s = s.model_copy(update={"chroma_url": server_url if backend == "server" else None})
    embedder = TimedEmbedder(make_embedder(embedder_spec))
    say(f"scale ×{factor} {backend} ({embedder_spec}): ingesting …")
    t0 = time.perf_counter()
    retriever, report = open_retriever(s, embedder=embedder, progress=embedder.progress)
    ingest_s = time.perf_counter() - t0
    retriever.embedder = embedder.inner
    forget_query_cache(embedder.inner)
    retriever.search(WARM_UP, k=6)
    retrieve = []
    for q in queries:
        t1 = time.perf_counter()
        retriever.search(q, k=6)
        retrieve.append(_ms_since(t1))
    forget_query_cache(embedder.inner)
    pipeline = Pipeline(s, retriever, checker=checker)
    pipeline.answer([], WARM_UP)
    answers = []
    for q in queries:
        t1 = time.perf_counter()
        pipeline.answer([], q)
        answers.append(_ms_since(t1))
    estimated = None
    if model_embed_s_per_doc is not None:
        docs = report.documents if report else len({c.doc_id for c in retriever.chunks.values()})
        estimated = round(ingest_s - embedder.total_seconds + model_embed_s_per_doc * docs, 1)
    row = ScaleRow(
        factor=factor, backend=backend, embedder=embedder_spec,
        documents=len({c.doc_id for c in retriever.chunks.values()}), chunks=len(retriever.chunks),
        ingest_s=round(ingest_s, 2), embedding_s=round(embedder.total_seconds, 2), estimated_model_ingest_s=estimated,
        retrieve=_latency(retrieve), answer=_latency(answers), rss_mib=round(rss_mib(), 1),
    )
    say(f"scale ×{factor} {backend}: {row.chunks} chunks, ingest {row.ingest_s:.1f}s, "
        f"answer p50 {num(row.answer.p50_ms, 1)} ms")
    return row


def bench_scale(
    settings: "Settings", plan: ScalePlan, workdir: Path, queries: Sequence[str], checker: Any,
    model_ingest_s_per_doc: float, model_embed_s_per_doc: float, base_docs: int, say: Say,
    checkpoint: Callable[[list[ScaleRow], list[str]], None] | None = None,
) -> tuple[list[ScaleRow], list[str]]:
    """Ingest and query each grown corpus on each backend; factors whose estimated model ingest exceeds the
    budget run with the hash embedder (and so does a ×1 baseline), with the model's cost estimated."""
    from guide.bench.server import ChromaServer
    from guide.bench.synthetic import grow_corpus

    notes: list[str] = []
    if not plan.factors:
        return [], notes
    model = settings.embedding_model
    series: list[tuple[str, tuple[int, ...]]] = []
    estimate = {f: model_ingest_s_per_doc * base_docs * f for f in plan.factors}
    with_model = tuple(f for f in plan.factors if estimate[f] <= plan.model_budget_s or model == HASH_EMBEDDER)
    too_big = tuple(f for f in plan.factors if f not in with_model)
    series.append((model, with_model))
    if too_big:
        series.append((HASH_EMBEDDER, plan.factors))
        notes.append(
            f"×{', ×'.join(map(str, too_big))} with {model} would take about "
            f"{', '.join(f'{estimate[f] / 60:.0f} min' for f in too_big)} per backend to embed on this "
            f"machine (over the {plan.model_budget_s:.0f} s budget), so every factor also ran with the hash embedder: "
            "its rows measure everything but the neural model (Chroma, BM25, the sentence index, composition), which "
            "is what grows with the corpus; query embedding is a constant per query. The model's ingest time for "
            "those rows is estimated from the measured per-document embedding cost.")
    rows: list[ScaleRow] = []
    server = None
    try:
        if "server" in plan.backends:
            server = ChromaServer(workdir / "chroma-server").start()
            say(f"scale: Chroma server at {server.url}")
        corpora: dict[int, Path] = {}
        for spec, factors in series:
            for factor in factors:
                if factor not in corpora:
                    corpora[factor] = settings.corpus_dir if factor == 1 else grow_corpus(
                        settings.corpus_dir, workdir / f"corpus-x{factor}", factor)
                for backend in plan.backends:
                    rows.append(_scale_row(
                        settings, factor, backend, corpora[factor], spec, server.url if server else None, workdir,
                        queries, checker, model_embed_s_per_doc if spec != model else None, say))
                    gc.collect()
                    if checkpoint:
                        checkpoint(rows, notes)
    finally:
        if server is not None:
            server.stop()
    return rows, notes


# ---------------------------------------------------------------- targets
def _under(value: float | None, limit: float) -> bool | None:
    """Met, missed, or None (no timings to judge)."""
    return None if value is None else value < limit


def targets(report: BenchReport) -> list[Target]:
    out = []
    r, s, a, i = report.retrieval, report.safety, report.answers, report.ingest
    if r:
        ok = r.hybrid_over_best_single >= 1.15
        best = 1 / r.ratio_ceiling if r.ratio_ceiling else 0.0
        hybrid = r.hybrid_over_best_single * best
        gain = f"hybrid adds {100 * (hybrid - best):+.1f} points ({best:.3f} → {hybrid:.3f})"
        note = "" if ok else (
            f"impossible on this suite: the best single mode already has recall@5 {best:.3f}, so the ceiling is "
            f"{r.ratio_ceiling:.3f}×; {gain}" if r.ratio_ceiling < 1.15 else
            f"1.15× needs hybrid recall@5 ≥ {1.15 * best:.3f} (the ceiling is {r.ratio_ceiling:.3f}×): both single "
            f"modes are already strong on this small curated corpus; {gain}")
        out.append(Target(name="hybrid recall@5 vs best single mode", target="≥ 1.15×",
                          measured=f"{r.hybrid_over_best_single:.3f}× ({r.best_single_mode})", ok=ok, note=note))
    if s:
        out.append(Target(name="safety check p95", target="< 20 ms", measured=f"{num(s.latency.p95_ms, 2)} ms",
                          ok=_under(s.latency.p95_ms, 20),
                          note=f"CPU time p95 {num(s.cpu.p95_ms, 2)} ms" if s.cpu is not None else ""))
    if a:
        cpu = a.answer_route_cpu
        out.append(Target(name="extractive answer p50 (warm)", target="< 150 ms",
                          measured=f"{num(a.answer_route.p50_ms, 1)} ms", ok=_under(a.answer_route.p50_ms, 150),
                          note=f"CPU time p50 {num(cpu.p50_ms, 1)} ms" if cpu is not None else ""))
        out.append(Target(name="extractive answer p95 (warm)", target="< 400 ms",
                          measured=f"{num(a.answer_route.p95_ms, 1)} ms", ok=_under(a.answer_route.p95_ms, 400),
                          note=f"CPU time p95 {num(cpu.p95_ms, 1)} ms" if cpu is not None else ""))
        b = report.answers_no_reranker
        if b is not None:
            out.append(Target(name="answer p50 / p95 without the reranker (same run)", target="(baseline)",
                              measured=f"{num(b.answer_route.p50_ms, 1)} / {num(b.answer_route.p95_ms, 1)} ms", ok=None,
                              note="reranker=none: fused order, cosine sentence choice"))
        if a.cold_start_s:
            best = min(a.cold_start_s)
            note = f"{min(a.cold_start_cpu_s):.1f} s CPU" if a.cold_start_cpu_s else ""
            out.append(Target(name="cold start to first answer (existing index)", target="< 10 s",
                              measured=f"{best:.2f} s (best of {len(a.cold_start_s)})", ok=best < 10 and a.cold_start_ok,
                              note=note if a.cold_start_ok else "the cold-start process did not answer"))
    if i:
        out.append(Target(name="ingest of the shipped corpus", target="< 30 s", measured=f"{i.seconds:.1f} s",
                          ok=i.seconds < 30, note=f"{i.cpu_s:.0f} s CPU over 2 cores" if i.cpu_s else ""))
    for backend in ("embedded", "server"):
        rows = [x for x in report.scale if x.backend == backend]
        for spec in dict.fromkeys(x.embedder for x in rows):
            by_factor = {x.factor: x for x in rows if x.embedder == spec}
            top = max(by_factor)
            if 1 in by_factor and top > 1:  # every scale row timed the same non-empty query list
                ratio = by_factor[top].answer.p50_ms / max(by_factor[1].answer.p50_ms, 1e-9)
                out.append(Target(
                    name=f"answer p50 at ×{top} vs ×1 ({backend}, {spec})", target="< 3×" if top >= 100 else "(trend)",
                    measured=f"{ratio:.2f}× ({by_factor[1].answer.p50_ms:.1f} → {by_factor[top].answer.p50_ms:.1f} ms)",
                    ok=ratio < 3 if top >= 100 else None))
    peaks = [x for x in ((a.cold_start_peak_rss_mib if a else 0.0), (i.peak_rss_mib if i else 0.0)) if x]
    if peaks:
        peak = max(peaks)
        out.append(Target(name="peak memory (RSS) at the shipped corpus", target="< 1.5 GiB", measured=f"{peak:.0f} MiB",
                          ok=peak < 1536, note="max of the cold-start process and the ingest"))
    return out


# ---------------------------------------------------------------- the whole run
@dataclass(frozen=True)
class BenchOptions:
    scale: int = 100
    backends: tuple[str, ...] = ("embedded", "server")
    model_budget_s: float = 1200.0
    cold_runs: int = 2
    max_cases: int | None = None
    scale_queries: int = 40


def run_bench(
    settings: "Settings", workdir: Path, options: BenchOptions = BenchOptions(), say: Say | None = None,
    checkpoint: Callable[[BenchReport], None] | None = None,
) -> BenchReport:
    """Every section, in one process, on the shipped corpus and suites (settings.corpus_dir, settings.evals_dir).

    checkpoint(report) receives the report so far after the main sections and after each scale step, so a run
    stopped part-way (a time limit) still leaves what it measured."""
    from guide.evals.cases import ConversationCase, RetrievalCase, SafetyCase, load_cases
    from guide.pipeline import Pipeline
    from guide.retrieval.index import open_retriever

    say = say or (lambda _m: None)
    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    machine = machine_description()
    limit = options.max_cases
    retrieval_cases = load_cases(settings.evals_dir / "retrieval", RetrievalCase)[:limit]
    conversation_cases = load_cases(settings.evals_dir / "conversations", ConversationCase)[:limit]
    safety_cases = load_cases(settings.evals_dir / "safety", SafetyCase)[:limit]

    base = settings.with_overrides(data_dir=workdir / "shipped").model_copy(update={"chroma_url": None, "llm": None})
    ingest_bench, _ = bench_ingest(base, say)
    retriever, _ = open_retriever(base)
    retrieval = bench_retrieval(retriever, retrieval_cases, say)
    pipeline = Pipeline(base, retriever)
    safety = bench_safety(pipeline.checker, safety_cases, say)
    answers = bench_answers(pipeline, conversation_cases, base, say, cold_runs=options.cold_runs)
    baseline = None
    if base.reranker != "none":  # the same turns without the cross-encoder, side by side
        from guide.retrieval.rerank import IdentityReranker

        plain = Pipeline(base.with_overrides(reranker="none"), open_retriever(base, reranker=IdentityReranker())[0])
        baseline = bench_answers(plain, conversation_cases, base, say, cold_runs=0)

    plan = ScalePlan(factors=scale_factors(options.scale), backends=options.backends,
                     model_budget_s=options.model_budget_s, queries=options.scale_queries)
    queries = [c.query for c in retrieval_cases][: plan.queries]
    per_doc = ingest_bench.seconds / max(ingest_bench.documents, 1)
    embed_per_doc = (ingest_bench.chunk_embedding_s + ingest_bench.sentence_embedding_s) / max(ingest_bench.documents, 1)

    def report_of(scale: Sequence[ScaleRow], notes: Sequence[str], partial: bool) -> BenchReport:
        report = BenchReport(
            date=started.strftime("%Y-%m-%d %H:%M UTC"), duration_s=round(time.perf_counter() - t_start, 1),
            machine={**machine, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
            settings={"embedding_model": settings.embedding_model, "retrieval_mode": settings.retrieval_mode,
                      "reranker": settings.reranker, "rerank_depth": settings.rerank_depth,
                      "top_k": settings.top_k, "chunk_size": settings.chunk_size, "composer": "extractive",
                      "cases": {"retrieval": len(retrieval_cases), "conversations": len(conversation_cases),
                                "safety": len(safety_cases)}},
            retrieval=retrieval, safety=safety, answers=answers, answers_no_reranker=baseline, ingest=ingest_bench,
            scale=tuple(scale),
            notes=(*notes, *(["PARTIAL: the run was stopped before every scale step finished."] if partial else [])),
        )
        return report.model_copy(update={"targets": tuple(targets(report))})

    if checkpoint:
        checkpoint(report_of([], [], partial=bool(plan.factors)))
    scale, notes = bench_scale(
        base, plan, workdir / "scale", queries, pipeline.checker, per_doc, embed_per_doc, ingest_bench.documents, say,
        checkpoint=(lambda rows, n: checkpoint(report_of(rows, n, partial=True))) if checkpoint else None,
    )
    return report_of(scale, notes, partial=False)
