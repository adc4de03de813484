"""Answer feedback (thumbs + optional comment): the one thing the guide stores about a conversation.
Beside it, in the same file, staff's hand grades of eval answers (table `grades`, keyed by run, set-up and case).

A rating keeps the question, the answer, its citations, the route and the audience, so staff can see
what went wrong; nothing else from the conversation is written anywhere. `SQLiteFeedbackStore` is the
real store (WAL mode, one file in the data dir); `InMemoryFeedbackStore` is the fake for tests.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from guide.errors import FeedbackError
from guide.types import Answer, Citation

Order = Literal["worst_first", "newest", "oldest"]
ORDERS: tuple[Order, ...] = ("worst_first", "newest", "oldest")
T = TypeVar("T")

#: How long one statement waits for another writer (SQLite busy_timeout), then how many times we retry it.
BUSY_TIMEOUT_MS = 5_000
LOCKED_RETRIES = 8

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  TEXT    NOT NULL,
    rating      INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment     TEXT    NOT NULL DEFAULT '',
    question    TEXT    NOT NULL,
    answer      TEXT    NOT NULL,
    citations   TEXT    NOT NULL DEFAULT '[]',
    route       TEXT    NOT NULL DEFAULT 'answer',
    audience    TEXT    NOT NULL DEFAULT 'newcomer'
);
CREATE INDEX IF NOT EXISTS feedback_rating_created ON feedback (rating, created_at);
"""

#: Migrations by PRAGMA user_version: each only adds (CREATE … IF NOT EXISTS), so an existing db keeps its rows.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS grades (
        run_id      TEXT NOT NULL,
        setup       TEXT NOT NULL DEFAULT 'A',
        case_id     TEXT NOT NULL,
        grade       TEXT NOT NULL CHECK (grade IN ('correct', 'partly', 'wrong')),
        note        TEXT NOT NULL DEFAULT '',
        reviewer    TEXT NOT NULL,
        graded_at   TEXT NOT NULL,
        PRIMARY KEY (run_id, setup, case_id)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

GradeValue = Literal["correct", "partly", "wrong"]
GRADES: tuple[GradeValue, ...] = ("correct", "partly", "wrong")

_ORDER_SQL = {
    "worst_first": "rating ASC, created_at DESC, id DESC",
    "newest": "created_at DESC, id DESC",
    "oldest": "created_at ASC, id ASC",
}


@dataclass(frozen=True)
class FeedbackEntry:
    """One stored rating, as the staff page reads it."""

    id: int
    created_at: str
    rating: int
    comment: str
    question: str
    answer: str
    citations: tuple[Citation, ...]
    route: str
    audience: str


@dataclass(frozen=True)
class Grade:
    """A reviewer's verdict on one eval answer: correct, partly or wrong, with an optional note."""

    run_id: str
    case_id: str
    grade: GradeValue
    reviewer: str
    note: str = ""
    setup: str = "A"
    graded_at: str = ""


def check_grade(run_id: str, case_id: str, grade: str, reviewer: str, setup: str) -> None:
    if grade not in GRADES:
        raise FeedbackError(f"A grade is one of {', '.join(GRADES)}, not {grade!r}.")
    if not reviewer.strip():
        raise FeedbackError("Give the reviewer's name with the grade (who graded it is part of the record).")
    if not run_id.strip() or not case_id.strip() or not setup.strip():
        raise FeedbackError("A grade needs the run id, the set-up and the case id.")


class GradeStore(Protocol):
    """Where hand grades go; saving a case's grade again replaces it (the reviewer changed their mind)."""

    def save_grade(self, grade: Grade) -> Grade: ...

    def grades(self, run_id: str) -> list[Grade]: ...


class FeedbackStore(Protocol):
    """Where answer ratings go; the app records and amends, the staff page lists."""

    def record(self, rating: int, question: str, answer: Answer, comment: str = "") -> int:
        """Store a rating for one exchange and return its id."""
        ...

    def update(self, entry_id: int, *, rating: int | None = None, comment: str | None = None) -> None:
        """Change the rating or add a comment to an entry (the user changed their mind)."""
        ...

    def delete(self, entry_id: int) -> None:
        """Remove an entry (the user cleared their rating)."""
        ...

    def list(self, order: Order = "worst_first", limit: int | None = None) -> list[FeedbackEntry]:
        """Entries for the staff page; worst_first puts thumbs-down first, newest first within each."""
        ...

    def count(self) -> int: ...


def now_utc() -> str:
    """UTC ISO 8601 timestamp with seconds, e.g. 2025-01-31T14:05:09+00:00."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_rating(rating: int) -> int:
    if rating not in (-1, 1):
        raise ValueError(f"rating must be +1 (helpful) or -1 (not helpful), not {rating!r}")
    return int(rating)


def rating_from_thumbs(value: int | None) -> int | None:
    """st.feedback("thumbs") gives 1 for thumbs up and 0 for thumbs down; None when cleared."""
    if value is None:
        return None
    return 1 if value == 1 else -1


def citations_json(citations: Sequence[Citation]) -> str:
    return json.dumps([c.model_dump() for c in citations], ensure_ascii=False)


def _parse_citations(raw: str) -> tuple[Citation, ...]:
    try:
        return tuple(Citation(**c) for c in json.loads(raw or "[]"))
    except (ValueError, TypeError):
        return ()


def _check_order(order: str) -> str:
    if order not in _ORDER_SQL:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    return _ORDER_SQL[order]


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


class SQLiteFeedbackStore:
    """Feedback in one SQLite file (WAL mode: readers never block the writer).

    Each call opens its own short connection, so Streamlit's threads and several app processes can
    share the file; a write that still meets "database is locked" is retried a bounded number of times
    with backoff before giving up with a FeedbackError, so a busy moment loses nothing."""

    def __init__(self, path: Path | str, *, retries: int = LOCKED_RETRIES, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.retries = retries
        self.busy_timeout_ms = busy_timeout_ms
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FeedbackError(f"Cannot create {self.path.parent} for feedback: {exc.strerror}. "
                                "Set GUIDE_DATA_DIR to a writable directory.") from None
        self._retrying(self._create)

    # ---------------------------------------------------------------- plumbing
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            yield conn
        finally:
            conn.close()

    def _retrying(self, action: Callable[[], T]) -> T:
        delay = 0.05
        for attempt in range(self.retries + 1):
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or attempt == self.retries:
                    raise FeedbackError(f"Could not save feedback to {self.path}: {exc}. "
                                        "Check that the data dir is writable and try again.") from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _create(self) -> None:
        with self._connect() as conn:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise FeedbackError(f"{self.path} could not switch to WAL mode (got {mode!r}); "
                                    "put GUIDE_DATA_DIR on a local disk.")
            conn.executescript(SCHEMA)
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(MIGRATIONS[version:], version + 1):
                conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def journal_mode(self) -> str:
        with self._connect() as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    # ---------------------------------------------------------------- API
    def record(self, rating: int, question: str, answer: Answer, comment: str = "") -> int:
        row = (now_utc(), check_rating(rating), comment.strip(), question, answer.text,
               citations_json(answer.citations), answer.route, answer.audience)

        def write() -> int:
            with self._connect() as conn:
                cur = conn.execute(
                    "INSERT INTO feedback (created_at, rating, comment, question, answer, citations, route, audience)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                return int(cur.lastrowid)

        return self._retrying(write)

    def update(self, entry_id: int, *, rating: int | None = None, comment: str | None = None) -> None:
        sets, values = [], []
        if rating is not None:
            sets.append("rating = ?")
            values.append(check_rating(rating))
        if comment is not None:
            sets.append("comment = ?")
            values.append(comment.strip())
        if not sets:
            return

        def write() -> None:
            with self._connect() as conn:
                conn.execute(f"UPDATE feedback SET {', '.join(sets)} WHERE id = ?", (*values, int(entry_id)))

        self._retrying(write)

    def delete(self, entry_id: int) -> None:
        def write() -> None:
            with self._connect() as conn:
                conn.execute("DELETE FROM feedback WHERE id = ?", (int(entry_id),))

        self._retrying(write)

    def list(self, order: Order = "worst_first", limit: int | None = None) -> list[FeedbackEntry]:
        sql = f"SELECT id, created_at, rating, comment, question, answer, citations, route, audience FROM feedback ORDER BY {_check_order(order)}"
        params: tuple[int, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (int(limit),)

        def read() -> list[FeedbackEntry]:
            with self._connect() as conn:
                rows = conn.execute(sql, params).fetchall()
            return [FeedbackEntry(id=r[0], created_at=r[1], rating=r[2], comment=r[3], question=r[4], answer=r[5],
                                  citations=_parse_citations(r[6]), route=r[7], audience=r[8]) for r in rows]

        return self._retrying(read)

    def count(self) -> int:
        def read() -> int:
            with self._connect() as conn:
                return int(conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])

        return self._retrying(read)


    # ---------------------------------------------------------------- grades
    def save_grade(self, grade: Grade) -> Grade:
        check_grade(grade.run_id, grade.case_id, grade.grade, grade.reviewer, grade.setup)
        from dataclasses import replace

        saved = replace(grade, reviewer=grade.reviewer.strip(), note=grade.note.strip(), graded_at=now_utc())

        def write() -> None:
            with self._connect() as conn:
                conn.execute(
                    "INSERT INTO grades (run_id, setup, case_id, grade, note, reviewer, graded_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, setup, case_id) DO UPDATE SET "
                    "grade = excluded.grade, note = excluded.note, reviewer = excluded.reviewer, "
                    "graded_at = excluded.graded_at",
                    (saved.run_id, saved.setup, saved.case_id, saved.grade, saved.note, saved.reviewer,
                     saved.graded_at))

        self._retrying(write)
        return saved

    def grades(self, run_id: str) -> list[Grade]:
        def read() -> list[Grade]:
            with self._connect() as conn:
                rows = conn.execute("SELECT run_id, case_id, grade, reviewer, note, setup, graded_at FROM grades "
                                    "WHERE run_id = ? ORDER BY setup, case_id", (run_id,)).fetchall()
            return [Grade(*r) for r in rows]

        return self._retrying(read)

    def schema_version(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])


class InMemoryFeedbackStore:
    """The fake: same contract, kept in a list (tests and the staff page's previews)."""

    def __init__(self) -> None:
        self._rows: dict[int, FeedbackEntry] = {}
        self._grades: dict[tuple[str, str, str], Grade] = {}
        self._next = 1
        self._lock = threading.Lock()

    def record(self, rating: int, question: str, answer: Answer, comment: str = "") -> int:
        with self._lock:
            entry = FeedbackEntry(id=self._next, created_at=now_utc(), rating=check_rating(rating),
                                  comment=comment.strip(), question=question, answer=answer.text,
                                  citations=tuple(answer.citations), route=answer.route, audience=answer.audience)
            self._rows[entry.id] = entry
            self._next += 1
            return entry.id

    def update(self, entry_id: int, *, rating: int | None = None, comment: str | None = None) -> None:
        from dataclasses import replace

        with self._lock:
            entry = self._rows.get(entry_id)
            if entry is None:
                return
            if rating is not None:
                entry = replace(entry, rating=check_rating(rating))
            if comment is not None:
                entry = replace(entry, comment=comment.strip())
            self._rows[entry_id] = entry

    def delete(self, entry_id: int) -> None:
        with self._lock:
            self._rows.pop(entry_id, None)

    def list(self, order: Order = "worst_first", limit: int | None = None) -> list[FeedbackEntry]:
        _check_order(order)
        rows = sorted(self._rows.values(), key=lambda e: (e.created_at, e.id), reverse=order != "oldest")
        if order == "worst_first":
            rows.sort(key=lambda e: e.rating)  # stable: newest first within each rating
        return rows[:limit] if limit is not None else rows

    def count(self) -> int:
        return len(self._rows)

    def save_grade(self, grade: Grade) -> Grade:
        from dataclasses import replace

        check_grade(grade.run_id, grade.case_id, grade.grade, grade.reviewer, grade.setup)
        saved = replace(grade, reviewer=grade.reviewer.strip(), note=grade.note.strip(), graded_at=now_utc())
        with self._lock:
            self._grades[(saved.run_id, saved.setup, saved.case_id)] = saved
        return saved

    def grades(self, run_id: str) -> list[Grade]:
        return sorted((g for g in self._grades.values() if g.run_id == run_id), key=lambda g: (g.setup, g.case_id))


def open_feedback_store(path: Path | str) -> SQLiteFeedbackStore:
    """The store the app and the staff page use (settings.feedback_db)."""
    return SQLiteFeedbackStore(path)


__all__ = ["FeedbackEntry", "FeedbackStore", "Grade", "GradeStore", "GRADES", "InMemoryFeedbackStore", "SQLiteFeedbackStore", "open_feedback_store",
           "rating_from_thumbs", "ORDERS"]
