"""Conversation export: Markdown with every exchange, numbered sources and their URLs, user text escaped."""

from __future__ import annotations

from datetime import UTC, datetime

from guide.export import conversation_markdown, export_filename
from guide.types import Answer, Citation, Resource, SafetyVerdict

WHEN = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
C1 = Citation(n=1, doc_id="first-meeting", title="Your first meeting", section="Your first meeting › What happens",
              url="https://www.aa.org/what-is-aa", quote="Meetings usually open with a reading.")
C2 = Citation(n=2, doc_id="finding-meetings", title="Finding meetings", section="Where to find a meeting",
              url="https://www.aa.org/find-aa", quote="Each fellowship lists its meetings.")
R988 = Resource(id="us_988", name="988 Suicide & Crisis Lifeline", phone="988", tel="tel:988", sms="sms:988",
                text_instructions="Call or text 988", url="https://988lifeline.org/")


def _answer(text: str, citations=(), route="answer", resources=()) -> Answer:
    return Answer(route=route, text=text, citations=citations, resources=resources, safety=SafetyVerdict(route="ok"))


def test_exchanges_in_order_with_numbered_sources_and_urls() -> None:
    md = conversation_markdown(
        ["What happens at a first AA meeting?", "Where do I find one?"],
        [_answer("Meetings open with a reading [1].", (C1,)), _answer("Check the fellowship's site [2].", (C2,))],
        exported_at=WHEN,
    )
    assert md.startswith("# Recovery Guide — conversation")
    assert "Exported 2025-03-01 12:30 UTC" in md
    assert md.index("first AA meeting") < md.index("Meetings open with a reading [1].") < md.index("Where do I find one")
    assert "- \\[1\\] Your first meeting › What happens — <https://www.aa.org/what-is-aa>" in md
    assert "- \\[2\\] Finding meetings › Where to find a meeting — <https://www.aa.org/find-aa>" in md
    assert "not a clinician" in md


def test_crisis_turn_lists_its_help_lines() -> None:
    md = conversation_markdown(["i can't go on"], [_answer("Please reach out now.", route="crisis", resources=(R988,))],
                               help_lines=(R988,), exported_at=WHEN)
    assert "Please reach out now." in md
    assert md.count("988 Suicide & Crisis Lifeline: Call or text 988") == 2  # header + the crisis turn
    assert "Sources" not in md


def test_user_text_cannot_inject_markup() -> None:
    md = conversation_markdown(["<script>alert(1)</script> [x](javascript:alert(1)) # hi"], [_answer("ok")],
                               exported_at=WHEN)
    assert "<script>" not in md
    assert "](javascript" not in md
    assert "\\<script\\>" in md


def test_filename_is_dated_markdown() -> None:
    assert export_filename(WHEN) == "recovery-guide-conversation-20250301-1230.md"
