"""`guide bench [--json] [--scale N]`: run every benchmark section once and write BENCHMARKS.md + benchmarks.json.

Nothing here asserts a time: the benchmark reports, and the targets table says what was met."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("bench", parents=[common],
                       help="measure retrieval, safety, answer latency, ingestion, memory and scale (writes BENCHMARKS.md)")
    p.add_argument("--json", action="store_true", help="also print the report as JSON on stdout")
    p.add_argument("--scale", type=int, default=100, metavar="N",
                   help="grow the corpus up to ×N (×1, ×10, ×100 up to N; 0 or 1 skips the scale section)")
    p.add_argument("--backends", default="embedded,server",
                   help="comma-separated scale backends: embedded, server (a `chroma run` started on loopback)")
    p.add_argument("--model-budget", type=float, default=1200.0, metavar="SECONDS",
                   help="largest estimated model-embedding time for one scale step; bigger steps use the hash embedder")
    p.add_argument("--cold-runs", type=int, default=2, help="fresh `guide ask` processes for the cold-start time")
    p.add_argument("--max-cases", type=int, help="use only the first N cases of each suite (quick runs)")
    p.add_argument("--out", default=".", help="directory for BENCHMARKS.md and benchmarks.json (default: here)")
    p.add_argument("--workdir", help="where indexes and synthetic corpora go (default: a temporary directory)")
    p.add_argument("--from-json", metavar="FILE",
                   help="measure nothing: re-render BENCHMARKS.md (and the targets) from a saved benchmarks.json")


def run(args: argparse.Namespace, settings: Any) -> int:
    from guide.bench.measure import BenchOptions, run_bench
    from guide.bench.report import render_markdown, write_report
    from guide.errors import InputError

    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    unknown = [b for b in backends if b not in ("embedded", "server")]
    if unknown:
        raise InputError(f"Unknown backend {unknown[0]!r}: use embedded, server or both (comma-separated).")
    if args.scale < 0:
        raise InputError("--scale must be 0 or more.")
    options = BenchOptions(scale=args.scale, backends=backends or ("embedded",), model_budget_s=args.model_budget,
                           cold_runs=max(args.cold_runs, 0), max_cases=args.max_cases)

    if args.from_json:
        return _rerender(Path(args.from_json), Path(args.out), args.json)

    def say(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    def checkpoint(partial: Any) -> None:
        write_report(partial, Path(args.out))

    if args.workdir:
        report = run_bench(settings, Path(args.workdir), options, say, checkpoint)
    else:
        with tempfile.TemporaryDirectory(prefix="guide-bench-") as tmp:
            report = run_bench(settings, Path(tmp), options, say, checkpoint)
    md, js = write_report(report, Path(args.out))
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        print(render_markdown(report))
    print(f"wrote {md} and {js}", file=sys.stderr)
    return 0


def _rerender(source: Path, out: Path, as_json: bool) -> int:
    from guide.bench.measure import targets
    from guide.bench.report import BenchReport, render_markdown, write_report
    from guide.errors import InputError

    try:
        report = BenchReport.model_validate_json(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"Cannot read a benchmark report from {source}: {exc}") from None
    report = report.model_copy(update={"targets": tuple(targets(report))})
    md, js = write_report(report, out)
    print(json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) if as_json else render_markdown(report))
    print(f"wrote {md} and {js}", file=sys.stderr)
    return 0
