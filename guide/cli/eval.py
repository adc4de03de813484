"""`guide eval`: run the suites in evals/, write report.json/.md/.html (+ junit), gate on evals/thresholds.yaml.

Exit codes: 0 every threshold holds, 1 a threshold is breached, 2 a usage or input problem.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from guide.types import MODES

SUITE_NAMES = ("safety", "retrieval", "conversations", "realwords", "calibration")


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "eval", parents=[common], help="run the evaluation suites and gate on evals/thresholds.yaml",
        description="Run the evaluation suites (default: all) and write report.json, report.md and report.html. "
                    "Exits 1 when a threshold in evals/thresholds.yaml is breached.",
    )
    p.add_argument("suites", nargs="*", metavar="SUITE", help=f"suites to run: {', '.join(SUITE_NAMES)} (default: all)")
    p.add_argument("--tag", action="append", default=[], metavar="T",
                   help="only cases carrying this tag (category, audience, difficulty, language, kind or a free tag; "
                        "key=value works too); repeat to require several")
    p.add_argument("--out", metavar="DIR", help="where to write the reports (default: a timestamped dir under <data dir>/runs)")
    p.add_argument("--compare", metavar="PREVIOUS_RUN",
                   help="a run dir, its report.json, a run id under <data dir>/runs, or 'latest'")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML here for CI")
    p.add_argument("--mode", action="append", choices=MODES, default=[],
                   help="retrieval mode; repeat to evaluate retrieval per mode (the first also drives the answers)")
    p.add_argument("--llm", help="optional: ollama:MODEL or openai:MODEL for the answers suite (GUIDE_LLM)")
    p.add_argument("--thresholds", metavar="FILE", help="gate file (default: <evals dir>/thresholds.yaml)")
    p.add_argument("--evals-dir", metavar="DIR", help="suite directory (GUIDE_EVALS_DIR, default: evals/)")
    p.add_argument("--k", type=int, default=5, help="cut-off for recall@k and hit@k (default 5)")
    p.add_argument("--external", metavar="DIR",
                   help="also score the crisis check on third-party labelled messages (a folder with dev/ and test/, "
                        "e.g. ../shared/external, or one split); writes external.md/.json and gates external.* metrics")
    p.set_defaults(eval_cmd="run")


def resolve_previous(ref: str, runs_dir: Path, exclude: Path | None = None) -> Path:
    """A --compare argument → a report path: a file or dir as given, a run id under runs_dir, or 'latest'."""
    from guide.errors import InputError
    from guide.evals.report import list_runs

    path = Path(ref)
    if path.exists():
        return path
    if ref == "latest":
        runs = [r for r in list_runs(runs_dir) if exclude is None or r.resolve() != exclude.resolve()]
        if not runs:
            raise InputError(f"No previous run under {runs_dir} to compare with; run `guide eval` once first.")
        return runs[0]
    if (runs_dir / ref / "report.json").is_file():
        return runs_dir / ref
    raise InputError(f"Cannot find previous run {ref!r}: give a run directory, its report.json, a run id under "
                     f"{runs_dir}, or 'latest'.")


def _bar() -> Any:
    from tqdm import tqdm

    state: dict[str, Any] = {}

    def progress(suite: str, done: int, total: int) -> None:
        if "bar" not in state:
            tty = sys.stderr.isatty()  # in CI logs: a line every 15 s instead of a redraw per case
            state["bar"] = tqdm(total=total, desc="eval", unit="case", file=sys.stderr, dynamic_ncols=True,
                                mininterval=0.2 if tty else 15.0, ascii=not tty)
        bar = state["bar"]
        if not bar.desc.endswith(suite):
            bar.set_description(f"eval {suite}", refresh=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


def run(args: argparse.Namespace, settings: Any) -> int:
    from datetime import datetime, timezone

    from guide.cli import tqdm_progress
    from guide.errors import InputError
    from guide.evals.compare import compare
    from guide.evals.junit import write_junit
    from guide.evals.render import headline, write_outputs
    from guide.evals.report import load_report
    from guide.evals.runner import EvalOptions, run_eval

    unknown = [s for s in args.suites if s not in SUITE_NAMES]
    if unknown:
        raise InputError(f"Unknown suite {unknown[0]!r}; choose from {', '.join(SUITE_NAMES)}.")
    overrides: dict[str, Any] = {"llm": args.llm, "evals_dir": args.evals_dir}
    settings = settings.with_overrides(**overrides)
    run_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.out) if args.out else settings.runs_dir / run_id
    previous = None
    if args.compare:
        prev_path = resolve_previous(args.compare, settings.runs_dir, exclude=out_dir)
        previous = (load_report(prev_path), str(prev_path))
    options = EvalOptions(
        suites=tuple(args.suites) or SUITE_NAMES, tags=tuple(args.tag), modes=tuple(args.mode), k=args.k,
        thresholds=Path(args.thresholds) if args.thresholds else None,
        external_questions=_external_file(args.external, "questions.jsonl"),
        external_lookalikes=_external_file(args.external, "xstest.jsonl"),
    )
    report = run_eval(settings, options, progress=_bar(), index_progress=tqdm_progress("Building index"), run_id=run_id)
    external_paths: dict[str, Path] = {}
    if args.external:
        report, external_paths = _with_external(report, settings, Path(args.external), out_dir, options)
    if previous is not None:
        report = report.model_copy(update={"comparison": compare(previous[0], report, previous[1])})
    paths = {**write_outputs(report, out_dir), **external_paths}
    if args.junit:
        paths["junit"] = write_junit(report, Path(args.junit))
    print(summary_text(report, headline(report)))
    print("\nReports: " + ", ".join(str(p) for p in paths.values()))
    return 0 if report.gate is None or report.gate.passed else 1


def _external_file(root: str | None, name: str) -> Path | None:
    """DIR/test/NAME (or DIR/NAME when DIR is one split) of `--external DIR`, when it is there."""
    if not root:
        return None
    for candidate in (Path(root) / "test" / name, Path(root) / name):
        if candidate.is_file():
            return candidate
    return None


def _with_external(report: Any, settings: Any, root: Path, out_dir: Path, options: Any) -> tuple[Any, dict[str, Path]]:
    """Score the third-party sets with the same checker and gate their metrics with the rest (evals/thresholds.yaml)."""
    from guide.evals import external
    from guide.evals.runner import _display_path
    from guide.evals.thresholds import THRESHOLDS_FILE, apply_thresholds, load_thresholds
    from guide.safety.detector import default_checker

    checker = default_checker(settings.safety_classifier)
    reports = external.score_external(checker, root)
    paths = external.write_outputs(reports, out_dir)
    print(external.render_markdown(reports), file=sys.stderr)
    metrics = {**report.metrics, **external.flat_metrics(reports)}
    report = report.model_copy(update={"metrics": metrics})
    thresholds_path = options.thresholds or settings.evals_dir / THRESHOLDS_FILE
    gate = apply_thresholds(report, load_thresholds(thresholds_path), _display_path(thresholds_path))
    return report.model_copy(update={"gate": gate}), paths


def summary_text(report: Any, rows: list[tuple[str, str]]) -> str:
    lines: list[str] = []
    c = report.comparison
    if c is not None:
        lines.append(f"Since run {c.previous_run_id}: {len(c.newly_failing)} newly failing, {len(c.newly_passing)} newly passing")
        lines += [f"  ✗ {x.suite}:{x.id} ({x.before} → fail): {x.detail[:140]}" for x in c.newly_failing[:30]]
        lines += [f"  ✓ {x.suite}:{x.id} (fail → pass)" for x in c.newly_passing[:30]]
        lines.append("")
    width = max((len(k) for k, _ in rows), default=0)
    lines += [f"{k.ljust(width)}  {v}" for k, v in rows]
    secs = ", ".join(f"{k} {v:.1f}s" for k, v in report.run.suite_seconds.items())
    cpu = ", ".join(f"{k} {v:.1f}s" for k, v in report.run.suite_cpu_seconds.items())
    lines.append(f"{'Time'.ljust(width)}  {report.run.duration_s:.1f}s wall ({secs}); CPU {cpu}")
    if report.gate is not None:
        lines.append("")
        if report.gate.passed:
            lines.append(f"Gate PASSED ({len(report.gate.checks)} checks)")
        else:
            lines.append("Gate FAILED:")
            for b in report.gate.breaches:
                ids = ", ".join(b.failing_cases[:25]) + (" …" if len(b.failing_cases) > 25 else "")
                value = "n/a" if b.value is None else f"{b.value:.4f}"
                lines.append(f"  ✗ {b.metric} = {value} (needs {b.op} {b.threshold:g})" + (f": {ids}" if ids else ""))
    return "\n".join(lines)
