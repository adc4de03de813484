"""Feedback stores: one contract for SQLite and the in-memory fake, plus WAL mode and lock handling."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from guide.errors import FeedbackError
from guide.feedback import InMemoryFeedbackStore, SQLiteFeedbackStore, rating_from_thumbs
from guide.types import Answer, Citation, SafetyVerdict

CITE = Citation(n=1, doc_id="smart-recovery", title="SMART Recovery", section="SMART Recovery › Is it religious?",
                url="https://www.smartrecovery.org/", quote="SMART Recovery is secular and science-based.")


def answer(text: str = "SMART Recovery is secular [1].", route: str = "answer", audience: str = "newcomer") -> Answer:
    return Answer(route=route, text=text, citations=(CITE,) if route == "answer" else (),
                  safety=SafetyVerdict(route="ok"), audience=audience)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        return SQLiteFeedbackStore(tmp_path / "data" / "feedback.sqlite3")
    return InMemoryFeedbackStore()


def test_record_keeps_the_exchange(store) -> None:
    entry_id = store.record(1, "Is SMART religious?", answer(audience="family"), comment="  clear  ")
    [entry] = store.list()
    assert entry.id == entry_id
    assert (entry.rating, entry.comment, entry.question) == (1, "clear", "Is SMART religious?")
    assert entry.answer == "SMART Recovery is secular [1]."
    assert entry.citations == (CITE,)
    assert (entry.route, entry.audience) == ("answer", "family")
    assert entry.created_at.endswith("+00:00")  # UTC ISO


def test_update_delete_and_count(store) -> None:
    a = store.record(1, "q1", answer())
    store.update(a, rating=-1, comment="missing the meeting link")
    [entry] = store.list()
    assert (entry.rating, entry.comment) == (-1, "missing the meeting link")
    store.delete(a)
    assert store.count() == 0


def test_worst_first_then_newest(store) -> None:
    good = store.record(1, "good", answer())
    bad_old = store.record(-1, "bad old", answer())
    bad_new = store.record(-1, "bad new", answer())
    assert [e.id for e in store.list(order="worst_first")] == [bad_new, bad_old, good]
    assert [e.id for e in store.list(order="newest", limit=2)] == [bad_new, bad_old]
    assert [e.id for e in store.list(order="oldest")] == [good, bad_old, bad_new]


@pytest.mark.parametrize("rating", [0, 2, -5])
def test_rejects_ratings_other_than_plus_minus_one(store, rating: int) -> None:
    with pytest.raises(ValueError, match="rating"):
        store.record(rating, "q", answer())


def test_rejects_unknown_order(store) -> None:
    with pytest.raises(ValueError, match="worst_first"):
        store.list(order="random")


def test_thumbs_mapping() -> None:
    assert [rating_from_thumbs(v) for v in (1, 0, None)] == [1, -1, None]


def test_sqlite_uses_wal_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    SQLiteFeedbackStore(path).record(-1, "q", answer())
    reopened = SQLiteFeedbackStore(path)
    assert reopened.journal_mode() == "wal"
    assert reopened.count() == 1
    with sqlite3.connect(path) as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(feedback)")]
    assert cols == ["id", "created_at", "rating", "comment", "question", "answer", "citations", "route", "audience"]


def test_sqlite_waits_out_a_held_write_lock(tmp_path: Path) -> None:
    """Another writer holds the database: the write waits and retries instead of losing the rating."""
    path = tmp_path / "feedback.sqlite3"
    store = SQLiteFeedbackStore(path, busy_timeout_ms=50, retries=30)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.4, lambda: blocker.execute("COMMIT"))
    release.start()
    try:
        store.record(1, "q", answer())
    finally:
        release.join()
        blocker.close()
    assert store.count() == 1


def test_sqlite_gives_up_with_a_clear_error_after_bounded_retries(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    store = SQLiteFeedbackStore(path, busy_timeout_ms=10, retries=2)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(FeedbackError, match="writable"):
            store.record(1, "q", answer())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_sqlite_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    stores = [SQLiteFeedbackStore(path) for _ in range(4)]

    def write(s: SQLiteFeedbackStore) -> None:
        for n in range(25):
            s.record(1 if n % 2 else -1, f"q{n}", answer())

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stores[0].count() == 100


def test_unwritable_data_dir_names_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(FeedbackError, match="GUIDE_DATA_DIR"):
        SQLiteFeedbackStore(blocker / "sub" / "feedback.sqlite3")
