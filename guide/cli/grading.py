"""`guide eval grade RUN_ID` (grade answers by hand in the terminal) and `guide eval grades RUN_ID` (print them).

Both fold the stored grades into the run's report.json/.md/.html/.csv, so the run directory holds one report
with the regex verdicts, the set-up comparison and the human grades together.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from guide.config import Settings
    from guide.evals.report import RunReport

KEYS = {"c": "correct", "p": "partly", "w": "wrong"}


def run_grading(args: argparse.Namespace, settings: "Settings") -> int:
    from guide.cli.eval import resolve_previous
    from guide.errors import InputError
    from guide.evals.report import load_report
    from guide.feedback import open_feedback_store

    if len(args.suites) != 2:
        raise InputError(f"Usage: guide eval {args.suites[0]} RUN_ID (a run id under {settings.runs_dir}, a run "
                         "directory, or 'latest').")
    run_dir = resolve_previous(args.suites[1], settings.runs_dir)
    run_dir = run_dir.parent if run_dir.is_file() else run_dir
    report = load_report(run_dir)
    if report.answers is None:
        raise InputError(f"Run {report.run.id} has no answers to grade; run `guide eval conversations` "
                         "(or `--suite FILE`) first.")
    store = open_feedback_store(settings.feedback_db)
    if args.suites[0] == "grade":
        grade_queue(report, store, args, sys.stdin, sys.stdout)
    graded = refresh_reports(report, store.grades(report.run.id), run_dir)
    print(grades_text(graded))
    print(f"\nReports updated in {run_dir}")
    return 0


def grade_queue(report: "RunReport", store: Any, args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    """One answer at a time: question, answer, citations with their passages; a key per grade. Returns the count."""
    from guide.errors import InputError
    from guide.evals.grading import grade_targets, review_queue, save_grade

    reviewer = (args.reviewer or "").strip()
    if not reviewer:
        raise InputError("Give your name with --reviewer NAME; it is stored with each grade.")
    if args.case:
        if not args.grade:
            raise InputError("--case needs --grade correct|partly|wrong.")
        targets = grade_targets(report, args.setup, args.case)
        if not targets:
            raise InputError(f"Run {report.run.id} has no case {args.case!r} under set-up {args.setup}.")
        save_grade(store, report.run.id, args.case, targets, args.grade, reviewer, args.note)
        if len(targets) > 1:
            print(f"{args.case}: set-ups {' and '.join(targets)} gave the same answer; the grade covers both.",
                  file=stdout)
        return 1
    queue = review_queue(report, store.grades(report.run.id), everything=args.grade_all)
    if not queue:
        print("Nothing left to grade" + ("" if args.grade_all else " (--all also queues the cases that have "
                                                                    "expectations)") + ".", file=stdout)
        return 0
    done = 0
    for i, item in enumerate(queue, 1):
        print(item_text(item, i, len(queue)), file=stdout)
        while True:
            print("Grade: [c]orrect, [p]artly, [w]rong, [s]kip, [q]uit > ", end="", file=stdout, flush=True)
            key = stdin.readline()
            if not key:
                return done
            key = key.strip().lower()[:1]
            if key in KEYS or key in ("s", "q"):
                break
        if key == "q":
            break
        if key == "s":
            continue
        print("Note (optional, Enter to skip) > ", end="", file=stdout, flush=True)
        note = stdin.readline().strip()
        save_grade(store, report.run.id, item.case.id, item.setups, KEYS[key], reviewer, note)
        done += 1
    return done


def item_text(item: Any, i: int, total: int) -> str:
    c = item.case
    lines = ["", "─" * 72, f"[{i}/{total}] {c.id} · set-up {item.setup_text} · regex verdict {c.verdict}"]
    if item.differs:
        lines.append("The set-ups answered this case differently: each answer is graded on its own.")
    if c.expectation:
        lines.append(f"Expects: {c.expectation}")
    lines += [f"Q{n}: {t}" for n, t in enumerate(c.turns, 1)]
    lines += [f"Answer ({c.route}):", c.text, "Citations and their passages:"]
    lines += [f"  [{x.n}] {x.title} › {x.section} ({x.doc_id})\n      “{x.quote}”" for x in c.citations] or ["  (none)"]
    return "\n".join(lines)


def refresh_reports(report: "RunReport", grades: list[Any], run_dir: Path) -> "RunReport":
    """Rewrite the run's reports with the grades folded in, keeping report.json's time (runs are listed by it)."""
    from guide.evals.grading import with_grades
    from guide.evals.render import write_outputs

    graded = with_grades(report, grades)
    stamp = (run_dir / "report.json").stat() if (run_dir / "report.json").is_file() else None
    write_outputs(graded, run_dir)
    if stamp is not None:
        os.utime(run_dir / "report.json", ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    return graded


def grades_text(report: "RunReport") -> str:
    from guide.evals.render import rate_text

    if not report.grades:
        return f"Run {report.run.id}: no grades yet, and no answers without expectations waiting for one."
    lines = [f"Run {report.run.id}: grades"]
    for g in report.grades:
        lines.append(f"Set-up {g.setup}: {g.n} graded ({g.correct} correct, {g.partly} partly, {g.wrong} wrong), "
                     f"{g.to_grade} still to grade")
        lines.append(f"  graded pass rate {rate_text(g.graded_pass_rate)}; regex pass rate on the same cases "
                     f"{rate_text(g.regex_pass_rate)}")
        for x in g.grades:
            flag = "  ≠ regex" if x in g.disagreements else ""
            lines.append(f"  {x.case_id:<24} {x.grade:<8} regex {x.regex_verdict:<9} {x.reviewer}"
                         + (f": {x.note}" if x.note else "") + flag)
    return "\n".join(lines)
