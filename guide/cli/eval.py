"""`guide eval`: run the suites in evals/, write report.json/.md/.html/.csv (+ junit), gate on evals/thresholds.yaml.

  guide eval conversations --suite FILE        a staff member's own questions (CSV or JSONL) as the conversations
  guide eval --suite FILE --compare-config A.yaml B.yaml   the same suite under two set-ups, side by side
  guide eval grade RUN_ID --reviewer NAME      grade the run's answers by hand in the terminal, one at a time
  guide eval grades RUN_ID                     print the grades and fold them into the run's reports

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
    p.add_argument("suites", nargs="*", metavar="SUITE",
                   help=f"suites to run: {', '.join(SUITE_NAMES)} (default: all); or `grade RUN_ID` / `grades RUN_ID`")
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
    p.add_argument("--suite", metavar="FILE",
                   help="your own questions (CSV or JSONL: question or turns, expect_any/expect_all/expect_none, route, "
                        "audience, tags) instead of evals/conversations; bad rows are listed and skipped")
    p.add_argument("--compare-config", nargs=2, metavar=("A.yaml", "B.yaml"),
                   help="run the suites under two set-ups (YAML files of settings, e.g. `reranker: none`) and put the "
                        "answers side by side with a paired test")
    g = p.add_argument_group("grading (guide eval grade RUN_ID / grades RUN_ID)")
    g.add_argument("--reviewer", help="grade: your name, stored with each grade")
    g.add_argument("--case", metavar="ID", help="grade: grade this one case (with --grade) instead of the queue")
    g.add_argument("--grade", choices=("correct", "partly", "wrong"), help="grade: the grade for --case")
    g.add_argument("--setup", default="A", choices=("A", "B"), help="grade: which set-up's answer (default A)")
    g.add_argument("--note", default="", help="grade: an optional note with --case")
    g.add_argument("--all", action="store_true", dest="grade_all",
                   help="grade: after the answers without expectations, queue the others too")
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

    if args.suites and args.suites[0] in ("grade", "grades"):
        from guide.cli.grading import run_grading

        return run_grading(args, settings)
    if args.suite and "conversations" not in args.suites:
        args.suites = [*args.suites, "conversations"]
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
    own = None
    if args.suite:
        from guide.evals.own_suite import parse_suite

        suite_path = Path(args.suite)
        try:
            own = parse_suite(suite_path.read_bytes(), suite_path.name)
        except OSError as exc:
            raise InputError(f"Cannot read suite {suite_path}: {exc.strerror}.") from None
        print_suite_problems(own)
        if previous is None:  # the change against the previous run of the same suite, in the report and its plot
            from guide.evals.report import previous_run_of_suite

            prev_path = previous_run_of_suite(settings.runs_dir, own.name, exclude=out_dir)
            if prev_path is not None:
                previous = (load_report(prev_path), str(prev_path))
                print(f"Comparing with the previous run of {own.name}: {prev_path.name} (--compare RUN picks another).",
                      file=sys.stderr)
    options = EvalOptions(
        suites=tuple(args.suites) or SUITE_NAMES, tags=tuple(args.tag), modes=tuple(args.mode), k=args.k, own_suite=own,
        thresholds=Path(args.thresholds) if args.thresholds else None,
        external_questions=_external_file(args.external, "questions.jsonl"),
        external_lookalikes=_external_file(args.external, "xstest.jsonl"),
    )
    if args.compare_config:
        from guide.evals.setups import load_setup, run_setups

        setup_a, setup_b = (load_setup(Path(f), settings) for f in args.compare_config)  # fail fast, before any model
        report = run_setups(settings, options, setup_a, setup_b, progress=_bar(), run_id=run_id,
                            index_progress=tqdm_progress("Building index"))
    else:
        report = run_eval(settings, options, progress=_bar(), index_progress=tqdm_progress("Building index"),
                          run_id=run_id)
    external_paths: dict[str, Path] = {}
    if args.external:
        report, external_paths = _with_external(report, settings, Path(args.external), out_dir, options)
    if previous is not None:
        report = report.model_copy(update={"comparison": compare(previous[0], report, previous[1])})
    paths = {**write_outputs(report, out_dir), **external_paths}
    if args.suite:  # keep the file as uploaded beside its report: nothing is lost, bad rows included
        paths["suite"] = out_dir / f"suite{Path(args.suite).suffix or '.txt'}"
        paths["suite"].write_bytes(Path(args.suite).read_bytes())
    if args.junit:
        paths["junit"] = write_junit(report, Path(args.junit))
    print(summary_text(report, headline(report)))
    print("\nReports: " + ", ".join(str(p) for p in paths.values()))
    return 0 if report.gate is None or report.gate.passed else 1


def print_suite_problems(own: Any) -> None:
    """Every row of an own suite that will not run, with what to fix (stderr; the report lists them too)."""
    print(f"{own.name}: {own.rows} rows, {len(own.cases)} will run, {len(own.problems)} not run, "
          f"{len(own.ungraded_ids)} without expectations (grade them with `guide eval grade RUN_ID`).", file=sys.stderr)
    for problem in own.problems:
        print(f"  ✗ {problem}", file=sys.stderr)
    for note in own.notes:
        print(f"  · {note}", file=sys.stderr)


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
    if report.setups is not None:
        from guide.evals.render import setup_rows

        changed = [r for r in setup_rows(report) if r[-1] != "nothing"]
        lines.append(f"\nSet-ups A ({report.setups.label_a}) vs B ({report.setups.label_b}): "
                     f"{len(changed)} of {len(report.setups.pairs)} answers changed")
        lines += [f"  {r[0]}: verdict {r[2]}, route {r[3]}, citations {r[4]}, ms {r[5]} ({r[6]})" for r in changed[:30]]
        lines.append("")
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
