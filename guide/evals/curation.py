"""Turn stored user feedback into eval cases: one action on the staff page appends a reviewed-later case.

The new case replays the rated question and expects the route the guide took; it carries the tag
`needs-review` so a reviewer adds must_include / sources before relying on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from guide.errors import InputError
from guide.evals.cases import ConversationCase, load_cases

if TYPE_CHECKING:
    from guide.feedback import FeedbackEntry

FROM_FEEDBACK_FILE = "from-feedback.jsonl"
NEEDS_REVIEW = "needs-review"


def feedback_case_id(entry: "FeedbackEntry") -> str:
    return f"fb-{entry.id:05d}"


def case_from_feedback(entry: "FeedbackEntry") -> ConversationCase:
    route = entry.route if entry.route in ("answer", "decline", "crisis") else "answer"
    return ConversationCase.model_validate({
        "id": feedback_case_id(entry),
        "turns": [entry.question],
        "audience": entry.audience or "newcomer",
        "category": "from-feedback",
        "difficulty": "unknown",
        "language": "en",
        "kind": "single",
        "expect": {"route": route, "must_include": [], "must_not_include": [], "sources": []},
        "tags": [NEEDS_REVIEW, "feedback-down" if entry.rating < 0 else "feedback-up"],
        "feedback": {"id": entry.id, "rating": entry.rating, "comment": entry.comment, "created_at": entry.created_at,
                     "answer": entry.answer, "cited": [c.doc_id for c in entry.citations]},
    })


def append_case(evals_dir: Path, case: ConversationCase, filename: str = FROM_FEEDBACK_FILE) -> Path:
    """Append the case to evals/conversations/<filename>; refuses an id the suite already has."""
    directory = evals_dir / "conversations"
    directory.mkdir(parents=True, exist_ok=True)
    existing = {c.id for c in load_cases(directory, ConversationCase)}
    if case.id in existing:
        raise InputError(f"Eval case {case.id} already exists in {directory}; edit it there instead.")
    path = directory / filename
    line = json.dumps(case.model_dump(mode="json", exclude_none=True), ensure_ascii=False)
    prefix = "" if not path.exists() or path.read_text(encoding="utf-8").endswith("\n") or path.stat().st_size == 0 else "\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(prefix + line + "\n")
    return path


def add_feedback_case(evals_dir: Path, entry: "FeedbackEntry") -> tuple[ConversationCase, Path]:
    case = case_from_feedback(entry)
    return case, append_case(evals_dir, case)
