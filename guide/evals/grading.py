"""Grading eval answers by hand: the review queue, and grades beside the regex verdicts in the report.

The queue holds the answers that have no expectations (a staff member's own questions without expect_* columns)
first, then, when asked, every other answer, so a reviewer can also check where the regexes are wrong. When two
set-ups were compared and both gave the same answer to a case (same route, text and citations), the case is
queued once and its grade is stored for both set-ups; different answers are queued one after the other. A grade
is correct, partly or wrong; the graded pass rate counts 'correct' (and, apart, 'correct or partly'). A
disagreement is a regex pass graded wrong, or a regex fail graded correct. Grades live in the feedback database
(guide.feedback); `with_grades` folds them into a report for rendering and download.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from guide.evals.report import ConversationCaseResult, GradeOut, GradesReport, RunReport
    from guide.feedback import Grade, GradeStore


@dataclass(frozen=True)
class QueueItem:
    """One answer to grade: the set-ups that gave it (A; B when set-ups were compared; both when they gave the
    same answer, so one grade covers both), their labels, and the case result."""

    setups: tuple[str, ...]
    labels: tuple[str, ...]
    case: "ConversationCaseResult"
    #: the case's answer under the other set-up differs, and is queued apart
    differs: bool = False

    @property
    def setup_text(self) -> str:
        """'A (label)' or 'A and B (same answer)'."""
        if len(self.setups) > 1:
            return f"{' and '.join(self.setups)} (same answer)"
        return f"{self.setups[0]} ({self.labels[0]})"


def same_answer(a: "ConversationCaseResult", b: "ConversationCaseResult") -> bool:
    """Two set-ups gave the same reply: one grade judges both."""
    return a.route == b.route and a.text == b.text and a.citations == b.citations


def grade_targets(report: "RunReport", setup: str, case_id: str) -> tuple[str, ...]:
    """The set-ups a grade of (setup, case) applies to: that one, and any other that gave the same answer."""
    sets = answers_by_setup(report)
    if setup not in sets:
        return ()
    case = next((c for c in sets[setup][1] if c.id == case_id), None)
    if case is None:
        return ()
    return tuple(s for s, (_, cases) in sets.items() if s == setup or any(
        c.id == case_id and same_answer(case, c) for c in cases))


def answers_by_setup(report: "RunReport") -> dict[str, tuple[str, list["ConversationCaseResult"]]]:
    """setup → (label, case results): A is the report's own answers, B the compared set-up's."""
    out: dict[str, tuple[str, list["ConversationCaseResult"]]] = {}
    if report.answers is not None:
        out["A"] = (report.setups.label_a if report.setups else "this run", list(report.answers.cases))
    if report.setups is not None:
        out["B"] = (report.setups.label_b, list(report.setups.answers_b.cases))
    return out


def review_queue(report: "RunReport", grades: Sequence["Grade"], *, everything: bool = False) -> list[QueueItem]:
    """Answers still waiting for a grade: the ungraded cases case by case, then, with everything=True, the cases
    that have expectations too. Per case: one item when the set-ups gave the same answer, else A's then B's."""
    done = {(g.setup, g.case_id) for g in grades}
    sets = answers_by_setup(report)
    items = []
    for want_ungraded in ((True, False) if everything else (True,)):
        ids = list(dict.fromkeys(c.id for _, cases in sets.values() for c in cases if c.ungraded == want_ungraded))
        for case_id in ids:
            found = [(setup, label, case) for setup, (label, cases) in sets.items()
                     for case in cases if case.id == case_id]
            groups: list[list[tuple[str, str, "ConversationCaseResult"]]] = []
            for entry in found:
                group = next((g for g in groups if same_answer(g[0][2], entry[2])), None)
                if group is None:
                    groups.append([entry])
                else:
                    group.append(entry)
            for group in groups:
                waiting = [(s, lab) for s, lab, _ in group if (s, case_id) not in done]
                if waiting:
                    items.append(QueueItem(setups=tuple(s for s, _ in waiting), labels=tuple(lab for _, lab in waiting),
                                           case=group[0][2], differs=len(groups) > 1))
    return items


def summarize(report: "RunReport", grades: Sequence["Grade"]) -> list["GradesReport"]:
    """Per set-up: counts, graded pass rate beside the regex pass rate on the same cases, and disagreements."""
    from guide.evals.metrics import rate
    from guide.evals.report import GradeOut, GradesReport

    out = []
    for setup, (_, cases) in answers_by_setup(report).items():
        by_id = {c.id: c for c in cases}
        rows: list[GradeOut] = [
            GradeOut(case_id=g.case_id, setup=g.setup, grade=g.grade, note=g.note, reviewer=g.reviewer,
                     graded_at=g.graded_at, regex_verdict=by_id[g.case_id].verdict)
            for g in grades if g.setup == setup and g.case_id in by_id]
        if not rows and not any(c.ungraded for c in cases):
            continue
        n = len(rows)
        counts = {k: sum(r.grade == k for r in rows) for k in ("correct", "partly", "wrong")}
        checked = [r for r in rows if r.regex_verdict != "ungraded"]
        graded_ids = {r.case_id for r in rows}
        out.append(GradesReport(
            setup=setup, n=n, **counts,
            graded_pass_rate=rate(counts["correct"], n), graded_ok_rate=rate(counts["correct"] + counts["partly"], n),
            regex_pass_rate=rate(sum(r.regex_verdict == "pass" for r in checked), len(checked)),
            to_grade=sum(1 for c in cases if c.ungraded and c.id not in graded_ids),
            disagreements=[r for r in rows if disagrees(r)], grades=rows,
        ))
    return out


def disagrees(g: "GradeOut") -> bool:
    """A regex pass a reviewer graded wrong, or a regex fail graded correct: where a regex is wrong."""
    return (g.regex_verdict == "pass" and g.grade == "wrong") or (g.regex_verdict == "fail" and g.grade == "correct")


def with_grades(report: "RunReport", grades: Sequence["Grade"]) -> "RunReport":
    """The report with its grades section filled in from the stored grades (for rendering and download)."""
    return report.model_copy(update={"grades": summarize(report, grades)})


def save_grade(store: "GradeStore", run_id: str, case_id: str, setups: Sequence[str], grade: str, reviewer: str,
               note: str = "") -> list["Grade"]:
    """One reviewer's grade of one answer, stored for every set-up that gave that answer."""
    from guide.feedback import Grade

    return [store.save_grade(Grade(run_id=run_id, case_id=case_id, grade=grade, reviewer=reviewer,  # type: ignore[arg-type]
                                   note=note, setup=setup)) for setup in setups]
