"""The benchmark's typed results and how they are written: BENCHMARKS.md (tables) and benchmarks.json."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from guide.evals.markdown import markdown_table
from guide.evals.render import num
from guide.evals.stats import LatencyStats


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RetrievalRow(Frozen):
    mode: str
    recall_at_5: float
    ndcg_at_10: float
    mrr: float
    latency: LatencyStats


class RetrievalBench(Frozen):
    cases: int
    rows: tuple[RetrievalRow, ...]
    best_single_mode: str
    hybrid_over_best_single: float
    #: 1 / best single recall@5: the largest ratio this suite allows at all (recall cannot pass 1.0).
    ratio_ceiling: float
    reranker: str


class SafetyBench(Frozen):
    cases: int
    checker: str
    latency: LatencyStats
    #: CPU time of the checking thread per message: the work itself, without waiting for busy cores.
    cpu: LatencyStats | None = None


class AnswerBench(Frozen):
    turns: int
    composer: str
    all_turns: LatencyStats
    answer_route: LatencyStats
    stages: dict[str, LatencyStats]
    cold_start_s: tuple[float, ...]
    cold_start_peak_rss_mib: float
    cold_start_ok: bool
    #: CPU time of the answering thread per answered turn, and CPU seconds of each cold-start process.
    answer_route_cpu: LatencyStats | None = None
    cold_start_cpu_s: tuple[float, ...] = ()


class IngestBench(Frozen):
    documents: int
    chunks: int
    sentences: int
    seconds: float
    chunk_embedding_s: float
    sentence_embedding_s: float
    other_s: float
    #: CPU seconds the process used while ingesting (user + system): the work itself, whatever the machine's load.
    cpu_s: float = 0.0
    documents_per_s: float
    chunks_per_s: float
    sentences_per_s: float
    peak_rss_mib: float


class ScaleRow(Frozen):
    factor: int
    backend: str
    embedder: str
    documents: int
    chunks: int
    ingest_s: float
    embedding_s: float
    #: Set when a factor ran with the hash embedder: what the configured model would take, from measured throughput.
    estimated_model_ingest_s: float | None = None
    retrieve: LatencyStats
    answer: LatencyStats
    rss_mib: float


class Target(Frozen):
    name: str
    target: str
    measured: str
    ok: bool | None
    note: str = ""


class BenchReport(Frozen):
    date: str
    duration_s: float
    machine: dict[str, object]
    settings: dict[str, object]
    retrieval: RetrievalBench | None = None
    safety: SafetyBench | None = None
    answers: AnswerBench | None = None
    answers_no_reranker: AnswerBench | None = None  # the same turns with reranker=none, measured in the same run
    ingest: IngestBench | None = None
    scale: tuple[ScaleRow, ...] = ()
    targets: tuple[Target, ...] = ()
    notes: tuple[str, ...] = Field(default_factory=tuple)


# ---------------------------------------------------------------- rendering
def _ms(lat: LatencyStats) -> str:
    return f"{num(lat.p50_ms, 1)} / {num(lat.p95_ms, 1)}"


def _mark(ok: bool | None) -> str:
    return {True: "✅ met", False: "❌ missed", None: "—"}[ok]


def render_markdown(report: BenchReport) -> str:
    m = report.machine
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `guide bench` on {report.date} in {report.duration_s:.0f} s, all sections in one run.",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB RAM, {m.get('os')}; "
        f"Python {m.get('python')}, torch {m.get('torch')}, sentence-transformers {m.get('sentence_transformers')}, "
        f"chromadb {m.get('chromadb')}. Load average (1, 5, 15 min) at start: {m.get('load_average_at_start')}, "
        f"at end: {m.get('load_average_at_end', '—')} (above 2 means other work shared the 2 cores, and latencies "
        "carry that noise).",
        "",
        "Settings: " + ", ".join(f"{k}={v}" for k, v in report.settings.items()) + ".",
        "",
        "## Targets",
        "",
        markdown_table(["target", "goal", "measured", "result", "note"],
                [(t.name, t.target, t.measured, _mark(t.ok), t.note) for t in report.targets]),
    ]
    if report.retrieval:
        r = report.retrieval
        lines += ["", f"## Retrieval ({r.cases} cases, document level; reranker: {r.reranker})", "",
                  markdown_table(["mode", "recall@5", "nDCG@10", "MRR", "latency p50 / p95 (ms)"],
                          [(x.mode, f"{x.recall_at_5:.3f}", f"{x.ndcg_at_10:.3f}", f"{x.mrr:.3f}", _ms(x.latency))
                           for x in r.rows]),
                  "", f"Hybrid recall@5 / best single mode ({r.best_single_mode}): **{r.hybrid_over_best_single:.3f}**; "
                  f"the most this suite allows is {r.ratio_ceiling:.3f} (recall cannot exceed 1.0)."]
    if report.safety:
        s = report.safety
        lines += ["", f"## Safety check ({s.cases} messages, {s.checker})", "",
                  markdown_table(["measure", "p50 (ms)", "p95 (ms)", "mean (ms)", "max (ms)"],
                          [(name, *("n/a" if v is None else v for v in (lat.p50_ms, lat.p95_ms, lat.mean_ms, lat.max_ms)))
                           for name, lat in (("wall clock", s.latency), ("CPU time", s.cpu)) if lat is not None])]
    if report.answers:
        a = report.answers
        rows = [("all turns (wall clock)", a.all_turns.n, _ms(a.all_turns)),
                ("answer route (wall clock)", a.answer_route.n, _ms(a.answer_route))]
        if a.answer_route_cpu is not None:
            rows.append(("answer route (CPU time of the answering thread)", a.answer_route_cpu.n, _ms(a.answer_route_cpu)))
        rows += [(f"stage: {name}", lat.n, _ms(lat)) for name, lat in a.stages.items()]
        lines += ["", f"## End-to-end answers, warm ({a.turns} turns of the conversation suite, {a.composer} composer)", "",
                  markdown_table(["what", "n", "p50 / p95 (ms)"], rows), "",
                  f"Cold start to first answer with an existing index (`guide ask` in a fresh process): "
                  f"{', '.join(f'{x:.2f} s' for x in a.cold_start_s)} wall clock"
                  + (f" ({', '.join(f'{x:.2f} s' for x in a.cold_start_cpu_s)} CPU)" if a.cold_start_cpu_s else "")
                  + f"; that process peaked at {a.cold_start_peak_rss_mib:.0f} MiB RSS."]
    if report.answers and report.answers_no_reranker:
        a, b = report.answers, report.answers_no_reranker
        pairs = [("all turns (wall clock)", a.all_turns, b.all_turns), ("answer route (wall clock)", a.answer_route,
                 b.answer_route)]
        pairs += [(f"stage: {n}", a.stages[n], b.stages[n]) for n in ("retrieve", "compose") if n in a.stages and n in b.stages]
        lines += ["", "### With and without the cross-encoder (same turns, same run)", "",
                  markdown_table(["what", f"reranker: {report.settings.get('reranker')} p50 / p95 (ms)",
                           "reranker: none p50 / p95 (ms)"], [(name, _ms(x), _ms(y)) for name, x, y in pairs])]
    if report.ingest:
        i = report.ingest
        lines += ["", "## Ingestion of the shipped corpus (embedded Chroma, from scratch)", "",
                  markdown_table(["documents", "chunks", "sentences", "total (s)", "CPU (s)", "chunk embedding (s)",
                           "sentence embedding (s)", "store + BM25 + files (s)", "docs/s", "chunks/s", "sentences/s",
                           "peak RSS (MiB)"],
                          [(i.documents, i.chunks, i.sentences, f"{i.seconds:.1f}", f"{i.cpu_s:.1f}",
                            f"{i.chunk_embedding_s:.1f}",
                            f"{i.sentence_embedding_s:.1f}", f"{i.other_s:.1f}", f"{i.documents_per_s:.1f}",
                            f"{i.chunks_per_s:.1f}", f"{i.sentences_per_s:.1f}", f"{i.peak_rss_mib:.0f}")])]
    if report.scale:
        lines += ["", "## Scale: synthetic corpus ×N (generated from the shipped one, never shipped)", "",
                  markdown_table(["×", "backend", "embedder", "docs", "chunks", "ingest (s)", "of which embedding (s)",
                           "est. ingest with model (s)", "hybrid retrieve p50 / p95 (ms)", "answer p50 / p95 (ms)",
                           "RSS (MiB)"],
                          [(x.factor, x.backend, x.embedder, x.documents, x.chunks, f"{x.ingest_s:.1f}",
                            f"{x.embedding_s:.1f}",
                            "" if x.estimated_model_ingest_s is None else f"~{x.estimated_model_ingest_s:.0f}",
                            _ms(x.retrieve), _ms(x.answer), f"{x.rss_mib:.0f}") for x in report.scale])]
    if report.notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in report.notes]]
    return "\n".join(lines) + "\n"


def write_report(report: BenchReport, out_dir: Path) -> tuple[Path, Path]:
    """Write BENCHMARKS.md and benchmarks.json into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "BENCHMARKS.md", out_dir / "benchmarks.json"
    md.write_text(render_markdown(report), encoding="utf-8")
    js.write_text(json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return md, js
