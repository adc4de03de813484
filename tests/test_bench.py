"""`guide bench` on a tiny scale with the hash embedder: the sections, tables and JSON keys it promises.
No timing is asserted anywhere; the benchmark reports numbers, it does not gate on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guide.bench.measure import scale_factors, targets
from guide.bench.report import BenchReport, RetrievalBench, RetrievalRow, render_markdown
from guide.bench.synthetic import grow_corpus
from guide.corpus import load_vetted
from guide.evals.stats import LatencyStats

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "corpus"


def test_synthetic_corpus_is_deterministic_vetted_and_grown(tmp_path: Path) -> None:
    a = grow_corpus(FIXTURE, tmp_path / "a", 3)
    b = grow_corpus(FIXTURE, tmp_path / "b", 3)
    files_a = sorted(p.name for p in (a / "docs").glob("*.md"))
    assert files_a == sorted(p.name for p in (b / "docs").glob("*.md"))
    assert all((a / "docs" / n).read_bytes() == (b / "docs" / n).read_bytes() for n in files_a)
    original = load_vetted(FIXTURE)
    grown = load_vetted(a)  # every synthetic document passes the same checks as vetted ones
    assert len(grown) == 3 * len(original)
    assert len({d.id for d in grown}) == len(grown)
    copies = [d for d in grown if "-syn" in d.id]
    assert copies and all("synthetic" in d.title and "not vetted content" in d.reviewed_by for d in copies)
    assert len({d.body for d in copies}) == len(copies), "every copy is distinct text"
    assert not list(FIXTURE.glob("**/*-syn*.md")), "nothing is written into the source corpus"


def test_scale_factors() -> None:
    assert scale_factors(0) == scale_factors(1) == ()
    assert scale_factors(2) == (1, 2)
    assert scale_factors(10) == (1, 10)
    assert scale_factors(100) == (1, 10, 100)
    assert scale_factors(30) == (1, 10, 30)


def test_latency_percentiles() -> None:
    lat = LatencyStats.of([5, 1, 4, 2, 3], digits=2)
    assert (lat.n, lat.p50_ms, lat.max_ms, lat.mean_ms) == (5, 3.0, 5.0, 3.0)
    assert LatencyStats.of([]).n == 0


def _retrieval(keyword: float, dense: float, hybrid: float) -> RetrievalBench:
    lat = LatencyStats.of([1.0])
    rows = tuple(RetrievalRow(mode=m, recall_at_5=r, ndcg_at_10=r, mrr=r, latency=lat)
                 for m, r in (("keyword", keyword), ("dense", dense), ("hybrid", hybrid)))
    best = max(keyword, dense)
    return RetrievalBench(cases=10, rows=rows, best_single_mode="keyword" if keyword >= dense else "dense",
                          hybrid_over_best_single=hybrid / best, ratio_ceiling=1 / best, reranker="identity")


def test_hybrid_target_explains_when_the_suite_makes_it_impossible() -> None:
    report = BenchReport(date="d", duration_s=1, machine={}, settings={}, retrieval=_retrieval(0.9, 0.8, 0.95))
    [target] = targets(report)
    assert target.ok is False and "impossible on this suite" in target.note and "1.111" in target.note
    report = BenchReport(date="d", duration_s=1, machine={}, settings={}, retrieval=_retrieval(0.6, 0.5, 0.75))
    [target] = targets(report)
    assert target.ok is True
    assert "Hybrid recall@5" in render_markdown(report)


def test_no_timings_read_n_a_never_zero_or_nan() -> None:
    from guide.bench.report import SafetyBench

    report = BenchReport(date="d", duration_s=1, machine={}, settings={},
                         safety=SafetyBench(cases=0, checker="none", latency=LatencyStats.of([], digits=2)))
    [target] = targets(report)
    assert (target.measured, target.ok) == ("n/a ms", None)
    md = render_markdown(report)
    section = md[md.index("## Safety check"):]
    assert "| wall clock | n/a | n/a | n/a | n/a |" in section and "None" not in section and "nan" not in section


def _run_bench(tmp_path: Path, fixture_corpus: Path, capsys, backends: str, cold_runs: int) -> tuple[dict, str]:
    from guide.cli import main

    out = tmp_path / "out"
    data = tmp_path / "untouched-data-dir"
    code = main(["bench", "--json", "--scale", "2", "--backends", backends, "--max-cases", "3",
                 "--cold-runs", str(cold_runs), "--out", str(out), "--workdir", str(tmp_path / "work"),
                 "--data-dir", str(data), "--corpus", str(fixture_corpus), "--embedding-model", "hash:384",
                 "--reranker", "fake"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert not data.exists(), "the benchmark never touches the user's data dir"
    printed = json.loads(captured.out)
    written = json.loads((out / "benchmarks.json").read_text(encoding="utf-8"))
    assert printed == written
    return written, (out / "BENCHMARKS.md").read_text(encoding="utf-8")


def test_bench_embedded_tiny_scale_writes_table_and_json(tmp_path: Path, fixture_corpus: Path, capsys) -> None:
    report, md = _run_bench(tmp_path, fixture_corpus, capsys, "embedded", cold_runs=0)
    assert set(report) >= {"date", "duration_s", "machine", "settings", "retrieval", "safety", "answers", "ingest",
                           "scale", "targets", "notes"}
    assert set(report["machine"]) >= {"cpu", "cores", "memory_gib", "os", "python", "chromadb", "load_average_at_start"}
    # fused order in each mode, then hybrid with the reranker: with and without it in one run
    assert [r["mode"] for r in report["retrieval"]["rows"]] == [
        "keyword", "dense", "hybrid", "hybrid + cross-encoder(fake-pairs, depth 8)"]
    for row in report["retrieval"]["rows"]:
        assert set(row) == {"mode", "recall_at_5", "ndcg_at_10", "mrr", "latency"}
        assert set(row["latency"]) == {"n", "p50_ms", "p95_ms", "mean_ms", "max_ms"} and row["latency"]["n"] == 3
    assert {"hybrid_over_best_single", "best_single_mode", "ratio_ceiling", "reranker"} <= set(report["retrieval"])
    assert report["safety"]["cases"] == 3 and report["safety"]["latency"]["n"] == 3
    answers = report["answers"]
    assert answers["composer"] == "extractive" and answers["turns"] >= 3
    assert {"safety", "retrieve", "compose"} <= set(answers["stages"])
    baseline = report["answers_no_reranker"]  # the same turns without the reranker, measured in the same run
    assert baseline["turns"] == answers["turns"] and baseline["answer_route"]["n"] >= 1
    assert "With and without the cross-encoder" in md
    ingest = report["ingest"]
    assert ingest["documents"] == 7 and ingest["chunks"] > 0 and ingest["sentences"] > 0
    assert {"documents_per_s", "chunks_per_s", "sentences_per_s", "peak_rss_mib"} <= set(ingest)
    assert [(r["factor"], r["backend"]) for r in report["scale"]] == [(1, "embedded"), (2, "embedded")]
    assert report["scale"][1]["documents"] == 2 * report["scale"][0]["documents"]
    names = [t["name"] for t in report["targets"]]
    assert "safety check p95" in names and "ingest of the shipped corpus" in names
    assert "extractive answer p50 (warm)" in names and any(n.startswith("answer p50 at ×2") for n in names)
    for heading in ("# Benchmarks", "Machine:", "## Targets", "## Retrieval", "## Safety check",
                    "## End-to-end answers", "## Ingestion", "## Scale", "| keyword |", "| hybrid |"):
        assert heading in md


@pytest.mark.integration
def test_bench_with_a_chroma_server_and_cold_start(tmp_path: Path, fixture_corpus: Path, capsys) -> None:
    report, md = _run_bench(tmp_path, fixture_corpus, capsys, "embedded,server", cold_runs=1)
    assert sorted((r["factor"], r["backend"]) for r in report["scale"]) == [
        (1, "embedded"), (1, "server"), (2, "embedded"), (2, "server")]
    assert report["answers"]["cold_start_ok"] is True and len(report["answers"]["cold_start_s"]) == 1
    assert report["answers"]["cold_start_peak_rss_mib"] > 0
    assert "cold start to first answer (existing index)" in [t["name"] for t in report["targets"]]
    assert "| 2 | server |" in md


def test_bench_rejects_unknown_backends(capsys) -> None:
    from guide.cli import main

    assert main(["bench", "--backends", "embedded,cloud"]) == 2
    assert "Unknown backend 'cloud'" in capsys.readouterr().err


def test_bench_rerenders_a_saved_report(tmp_path: Path, capsys) -> None:
    from guide.cli import main

    saved = BenchReport(date="2026-01-01 00:00 UTC", duration_s=1, machine={"cpu": "test"}, settings={},
                        retrieval=_retrieval(0.8, 0.85, 0.88))
    src = tmp_path / "saved.json"
    src.write_text(saved.model_dump_json(), encoding="utf-8")
    assert main(["bench", "--from-json", str(src), "--out", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert "hybrid adds +3.0 points" in md and "needs hybrid recall@5 ≥ 0.977" in md
    assert "# Benchmarks" in capsys.readouterr().out
    assert main(["bench", "--from-json", str(tmp_path / "missing.json")]) == 2
