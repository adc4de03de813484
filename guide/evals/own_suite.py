"""A staff member's own question suite (CSV or JSONL) → conversation cases, with one clear problem per bad row.

Columns (CSV header or JSONL keys): `question` or `turns` (a JSON list or `||`-separated), and optionally `id`,
`expect_any` / `expect_all` / `expect_none` (regexes, case-insensitive; `;`-separated in CSV, or JSON lists),
`route`, `audience`, `tags` (`;`- or `,`-separated). A row with none of expect_* or route has no expectations: its
answer goes to the review queue for a human grade. A JSONL record with an `expect` object is read as a case of the
repo's own conversation schema. Bad rows are reported (row, column, what to fix) and skipped; the good rows run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from guide.errors import InputError
from guide.evals.cases import ConversationCase, any_of
from guide.types import AUDIENCES, ROUTES

#: Larger uploads are refused with a message (a suite is questions, not a corpus).
MAX_BYTES = 5_000_000
MAX_ROWS = 5_000
MAX_QUESTION_CHARS = 4_000
COLUMNS = ("id", "question", "turns", "expect_any", "expect_all", "expect_none", "route", "audience", "tags")
TURN_SEPARATOR = "||"


@dataclass(frozen=True)
class RowProblem:
    """Why one row was not run: row number (the CSV line's data row, 1 = first row under the header; the JSONL
    line), the column, and what to fix."""

    row: int
    column: str
    message: str
    raw: str = ""

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


@dataclass(frozen=True)
class OwnSuite:
    """The parsed file: the runnable cases, the rows that were not, and notes (unused columns…)."""

    name: str
    format: str
    sha256: str
    rows: int
    cases: tuple[ConversationCase, ...]
    problems: tuple[RowProblem, ...]
    notes: tuple[str, ...] = ()

    @property
    def ungraded_ids(self) -> list[str]:
        return [c.id for c in self.cases if c.expect is None]


def parse_suite(data: bytes, name: str) -> OwnSuite:
    """Parse an uploaded suite; raises InputError only when the whole file is unusable (empty, binary, too big,
    no question column). Format from the file name (.csv, .jsonl/.ndjson), else sniffed from the first character."""
    if len(data) > MAX_BYTES:
        raise InputError(f"{name} is {len(data) / 1e6:.1f} MB; a suite can be at most {MAX_BYTES / 1e6:.0f} MB "
                         f"({MAX_ROWS} rows). Split it into several files.")
    if b"\x00" in data[:8192]:
        raise InputError(f"{name} looks like a binary file, not CSV or JSONL text. Export it from your spreadsheet "
                         "as 'CSV UTF-8' and upload that.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name} is not UTF-8 text (byte {exc.start}). Save it as 'CSV UTF-8' or JSONL in UTF-8.") from None
    if not text.strip():
        raise InputError(f"{name} is empty: give a header row with a 'question' column and one question per row.")
    lower = name.lower()
    fmt = "csv" if lower.endswith(".csv") else "jsonl" if lower.endswith((".jsonl", ".ndjson")) else \
        "jsonl" if text.lstrip().startswith("{") else "csv"
    records = _jsonl_records(text) if fmt == "jsonl" else _csv_records(text, name)
    if len(records) > MAX_ROWS:
        raise InputError(f"{name} has {len(records)} rows; a suite can have at most {MAX_ROWS}. Split it.")
    cases: list[ConversationCase] = []
    problems: list[RowProblem] = []
    seen: set[str] = set()
    unused: set[str] = set()
    for n, record in records:
        if isinstance(record, RowProblem):
            problems.append(record)
            continue
        unused |= {k for k in record if k not in COLUMNS and k not in ("expect", "kind", "category", "difficulty",
                                                                        "language")}
        case, problem = _case(n, record)
        if problem is None and case is not None and case.id in seen:
            problem = RowProblem(n, "id", f"id {case.id!r} is used by an earlier row; give each row its own id.",
                                 _raw(record))
        if problem is not None:
            problems.append(problem)
        elif case is not None:
            seen.add(case.id)
            cases.append(case)
    if not cases and not problems:
        raise InputError(f"{name} has a header but no rows: add one question per row.")
    notes = tuple(f"column {c!r} is not used (known columns: {', '.join(COLUMNS)})" for c in sorted(unused))
    return OwnSuite(name=name, format=fmt, sha256=hashlib.sha256(data).hexdigest(), rows=len(records),
                    cases=tuple(cases), problems=tuple(problems), notes=notes)


def _csv_records(text: str, name: str) -> list[tuple[int, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise InputError(f"{name}: cannot read the header row ({exc}).") from None
    header = [h.strip().lower() for h in header]
    if "question" not in header and "turns" not in header:
        raise InputError(f"{name}: the header row ({', '.join(h for h in header if h)[:200] or 'empty'}) has no "
                         "'question' or 'turns' column. The first row must name the columns, e.g. question,expect_any.")
    out: list[tuple[int, Any]] = []
    n = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            n += 1
            out.append((n, RowProblem(n, "(row)", f"not readable as CSV ({exc}); check its quotes.")))
            continue
        n += 1
        if not any(v.strip() for v in values):
            n -= 1  # blank lines are not rows
            continue
        if len(values) > len(header):
            out.append((n, RowProblem(n, "(row)", f"{len(values)} values but the header has {len(header)} columns; "
                                                  "quote values that contain commas.", ",".join(values)[:300])))
            continue
        out.append((n, {h: v for h, v in zip(header, values) if h}))
    return out


def _jsonl_records(text: str) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            out.append((n, RowProblem(n, "(line)", f"not valid JSON ({exc.msg} at character {exc.pos + 1}).", line[:300])))
            continue
        if not isinstance(record, dict):
            out.append((n, RowProblem(n, "(line)", "each line must be a JSON object such as {\"question\": \"…\"}.",
                                      line[:300])))
            continue
        out.append((n, record))
    return out


def _raw(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)[:300]


def _list(value: Any, column: str, sep: str = ";") -> list[str]:
    """A JSON list, a JSON-list string, or a `sep`-separated string → non-empty stripped strings."""
    if value is None:
        return []
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise ValueError("a list of strings")
        return [v.strip() for v in value if v.strip()]
    if not isinstance(value, str):
        raise ValueError("text or a list of strings")
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"starts with '[' but is not a JSON list ({exc.msg})") from None
        return _list(parsed, column, sep)
    return [v.strip() for v in value.split(sep) if v.strip()]


def _case(n: int, record: Mapping[str, Any]) -> tuple[ConversationCase | None, RowProblem | None]:
    raw = _raw(record)

    def bad(column: str, message: str) -> tuple[None, RowProblem]:
        return None, RowProblem(n, column, message, raw)

    case_id = str(record.get("id") or "").strip() or f"row-{n}"
    if "expect" in record:  # the repo's own conversation-case schema
        try:
            return ConversationCase.model_validate({"id": case_id, **record}), None
        except ValidationError as exc:
            err = exc.errors()[0]
            return bad(".".join(map(str, err["loc"])) or "expect", err["msg"])
    try:
        if str(record.get("turns") or "").strip() or isinstance(record.get("turns"), list):
            column = "turns"
            value = record["turns"]
            turns = _list(value, column, TURN_SEPARATOR) if not (isinstance(value, str) and value.strip().startswith("[")) \
                else _list(value, column)
        else:
            column = "question"
            question = record.get("question")
            if question is not None and not isinstance(question, str):
                return bad("question", "must be text.")
            turns = [question.strip()] if question and question.strip() else []
    except ValueError as exc:
        return bad(column, f"must be {exc}.")
    if not turns:
        return bad("question", "is empty; every row needs a question (or a 'turns' list).")
    if any(len(t) > MAX_QUESTION_CHARS for t in turns):
        return bad(column, f"a question is longer than {MAX_QUESTION_CHARS} characters; shorten it.")
    patterns: dict[str, list[str]] = {}
    for col in ("expect_any", "expect_all", "expect_none"):
        try:
            patterns[col] = _list(record.get(col), col)
        except ValueError as exc:
            return bad(col, f"must be {exc} (regexes separated by ';').")
        for p in patterns[col]:
            try:
                re.compile(p)
            except re.error as exc:
                return bad(col, f"/{p}/ is not a valid regular expression ({exc}); escape special characters "
                                "such as ( ) [ ] with a backslash.")
    route = str(record.get("route") or "").strip().lower()
    if route and route not in ROUTES:
        return bad("route", f"{route!r} is not a route; use one of {', '.join(ROUTES)} or leave it empty.")
    audience = str(record.get("audience") or "").strip().lower() or "newcomer"
    if audience not in AUDIENCES:
        return bad("audience", f"{audience!r} is not an audience; use one of {', '.join(AUDIENCES)} or leave it empty.")
    try:
        tags = _list(record.get("tags"), "tags", ";" if ";" in str(record.get("tags") or "") else ",")
    except ValueError as exc:
        return bad("tags", f"must be {exc}.")
    has_expectation = bool(route or any(patterns.values()))
    expect = {
        "route": route or "answer",
        "must_include": ([any_of(patterns["expect_any"])] if patterns["expect_any"] else [])
        + [f"(?i){p}" for p in patterns["expect_all"]],
        "must_not_include": [f"(?i){p}" for p in patterns["expect_none"]],
    } if has_expectation else None
    try:
        case = ConversationCase.model_validate({
            "id": case_id, "turns": turns, "audience": audience, "kind": "followup" if len(turns) > 1 else "single",
            "tags": ["own-suite", *tags, *([] if has_expectation else ["needs-grade"])], "expect": expect,
        })
    except ValidationError as exc:
        err = exc.errors()[0]
        return bad(".".join(map(str, err["loc"])), err["msg"])
    return case, None

