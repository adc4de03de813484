"""The corpus loader and vetting manifest: every problem is a CorpusError naming the file and the fix,
and the shipped corpus itself passes the checks ingestion relies on."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from guide.corpus import (
    check_corpus,
    document_paths,
    load_manifest,
    load_vetted,
    parse_document,
    sha256_bytes,
    unvet,
    vet,
)
from guide.errors import CorpusError

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "corpus"

BODY = (
    "# Test Group\n\n"
    "Test Group is a free peer support meeting for people who want to change their drinking. "
    "Members share their own experience, listen to each other and try practical ideas between meetings.\n\n"
    "## What happens at a meeting?\n\n"
    "A meeting usually starts with a short reading. People who want to talk take turns, and anyone may just listen.\n"
)

GOOD_FRONT = {
    "id": "test-group",
    "title": "Test Group",
    "summary": "Test Group is a free peer support meeting used to exercise the corpus loader.",
    "audience": "[newcomer, family]",
    "topics": "[mutual-help, 988]",
    "sources": "\n  - title: Example Source\n    url: https://example.org/test-group",
    "reviewed_by": "Reviewer One",
    "reviewed_on": "2026-01-15",
}


def front_matter(**changes: str | None) -> str:
    """Front matter text from GOOD_FRONT; a None value drops the field."""
    fields = {**GOOD_FRONT, **changes}
    lines = [f"{k}: {v}" for k, v in fields.items() if v is not None]
    return "---\n" + "\n".join(lines) + "\n---\n"


def write_doc(directory: Path, name: str = "test-group.md", text: str | bytes | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    content = text if text is not None else front_matter() + BODY
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_good_document_parses_into_a_typed_document(tmp_path: Path) -> None:
    path = write_doc(tmp_path / "docs")
    doc = parse_document(path, root=tmp_path)
    assert doc.id == "test-group"
    assert doc.title == "Test Group"
    assert doc.audience == ("newcomer", "family")
    assert doc.topics == ("mutual-help", "988")  # YAML ints are kept as text tags
    assert doc.url == "https://example.org/test-group"
    assert doc.reviewed_on == date(2026, 1, 15)
    assert doc.path == "docs/test-group.md"
    assert doc.sha256 == sha256_bytes(path.read_bytes())
    assert doc.body.startswith("# Test Group")
    assert "---" not in doc.body.splitlines()[0]


def test_byte_order_mark_and_crlf_line_endings_are_accepted(tmp_path: Path) -> None:
    text = "\ufeff" + (front_matter() + BODY).replace("\n", "\r\n")
    doc = parse_document(write_doc(tmp_path, text=text.encode("utf-8")))
    assert doc.id == "test-group"


BAD_DOCUMENTS = [
    pytest.param(BODY, ("missing YAML front matter", "'---'"), id="missing-front-matter"),
    pytest.param("---\ntitle: Test Group\nsummary: [unclosed\n---\n" + BODY, ("not valid YAML", "Quote values"),
                 id="invalid-yaml"),
    pytest.param("---\n- just\n- a list\n---\n" + BODY, ("must be a YAML mapping",), id="front-matter-not-a-mapping"),
    pytest.param(front_matter(summary=None) + BODY, ("field 'summary'", "Field required", "Fix the front matter"),
                 id="missing-field"),
    pytest.param(front_matter(reviewed_on=None) + BODY, ("field 'reviewed_on'", "Field required"),
                 id="missing-review-date"),
    pytest.param(front_matter(audience="[newcomer, donors]") + BODY,
                 ("field 'audience'", "unknown audience", "donors", "newcomer"), id="bad-audience"),
    pytest.param(front_matter(audience="[]") + BODY, ("field 'audience'",), id="empty-audience"),
    pytest.param(front_matter(sources="\n  - title: Example Source\n    url: http://example.org/x") + BODY,
                 ("field 'sources.0.url'", "https URL"), id="non-https-url"),
    pytest.param(front_matter(sources="[]") + BODY, ("field 'sources'",), id="no-sources"),
    pytest.param(front_matter(id="other-group") + BODY, ("field 'id'", "'other-group'", "test-group.md", "make them match"),
                 id="id-does-not-match-file-name"),
    pytest.param(front_matter(id="Test_Group") + BODY, ("field 'id'", "kebab-case"), id="id-not-kebab-case"),
    pytest.param(front_matter(colour="blue") + BODY, ("field 'colour'", "Extra inputs"), id="unknown-field"),
    pytest.param(front_matter() + "# Test Group\n\nToo short.\n", ("body is empty or too short",), id="empty-body"),
    pytest.param((front_matter() + BODY).encode("utf-8").replace(b"free", b"fr\xe9e"), ("not valid UTF-8", "Re-save"),
                 id="not-utf8"),
]


@pytest.mark.parametrize(("text", "fragments"), BAD_DOCUMENTS)
def test_bad_document_is_a_corpus_error_naming_the_file_and_the_fix(
    tmp_path: Path, text: str | bytes, fragments: tuple[str, ...]
) -> None:
    path = write_doc(tmp_path, text=text)
    with pytest.raises(CorpusError) as info:
        parse_document(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_check_corpus_collects_every_problem_instead_of_stopping(fixture_corpus: Path) -> None:
    docs = fixture_corpus / "docs"
    (docs / "alateen.md").write_text(BODY, encoding="utf-8")
    (docs / "al-anon.md").write_bytes(b"\xff\xfe not utf-8")
    report = check_corpus(fixture_corpus)
    assert not report.ok
    joined = "\n".join(report.problems)
    assert "alateen.md: missing YAML front matter" in joined
    assert "al-anon.md: not valid UTF-8" in joined
    assert len(report.documents) == 5


def test_empty_corpus_dir_is_reported_and_refused(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    report = check_corpus(tmp_path)
    assert not report.ok
    assert "no documents (*.md) found" in report.problems[0]
    with pytest.raises(CorpusError, match="no documents"):
        load_vetted(tmp_path)


def test_missing_corpus_dir_says_which_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="GUIDE_CORPUS_DIR"):
        load_vetted(tmp_path / "nope")


def test_readme_in_the_docs_dir_is_not_a_document(fixture_corpus: Path) -> None:
    (fixture_corpus / "docs" / "README.md").write_text("How to add a document.\n", encoding="utf-8")
    report = check_corpus(fixture_corpus)
    assert report.ok and len(report.documents) == 7  # the fixture's seven, no README among them
    assert "README" not in {d.id for d in report.documents}


# --- the vetting manifest -----------------------------------------------------------------------------------


def test_fixture_corpus_is_vetted(fixture_corpus: Path) -> None:
    docs = load_vetted(fixture_corpus)
    assert {d.id for d in docs} == {p.stem for p in document_paths(fixture_corpus)}


def test_unvetted_document_is_refused_with_the_vet_command(fixture_corpus: Path) -> None:
    write_doc(fixture_corpus / "docs")
    with pytest.raises(CorpusError) as info:
        load_vetted(fixture_corpus)
    message = str(info.value)
    assert "docs/test-group.md: not vetted" in message
    assert "guide corpus vet test-group --reviewer NAME" in message


def test_document_edited_after_vetting_is_refused(fixture_corpus: Path) -> None:
    path = fixture_corpus / "docs" / "smart-recovery.md"
    path.write_text(path.read_text(encoding="utf-8") + "\nAn unreviewed sentence.\n", encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        load_vetted(fixture_corpus)
    message = str(info.value)
    assert "docs/smart-recovery.md: changed since it was vetted" in message
    assert "sha256 differs" in message
    assert "guide corpus vet smart-recovery --reviewer NAME" in message


def test_vet_records_the_new_hash_and_reviewer(fixture_corpus: Path) -> None:
    path = fixture_corpus / "docs" / "smart-recovery.md"
    old = load_manifest(fixture_corpus)["smart-recovery"]
    path.write_text(path.read_text(encoding="utf-8") + "\nA reviewed sentence about SMART meetings.\n", encoding="utf-8")
    [entry] = vet(fixture_corpus, ["smart-recovery"], "Dana Reviewer", on=date(2026, 12, 1))
    assert entry.sha256 != old.sha256
    assert entry.sha256 == sha256_bytes(path.read_bytes())
    manifest = load_manifest(fixture_corpus)
    assert manifest["smart-recovery"] == entry
    assert manifest["al-anon"] == load_manifest(fixture_corpus)["al-anon"]
    doc = parse_document(path, root=fixture_corpus)
    assert (doc.reviewed_by, doc.reviewed_on) == ("Dana Reviewer", date(2026, 12, 1))
    assert "A reviewed sentence" in doc.body
    assert check_corpus(fixture_corpus).ok
    assert len(load_vetted(fixture_corpus)) == 7


def test_vet_needs_a_reviewer_and_a_known_id(fixture_corpus: Path) -> None:
    with pytest.raises(CorpusError, match="reviewer name is required"):
        vet(fixture_corpus, ["smart-recovery"], "  ")
    with pytest.raises(CorpusError, match="No document with id 'smart'"):
        vet(fixture_corpus, ["smart"], "Dana")


def test_vet_refuses_an_invalid_document(fixture_corpus: Path) -> None:
    path = write_doc(fixture_corpus / "docs", text=front_matter(audience="[donors]") + BODY)
    with pytest.raises(CorpusError, match="field 'audience'"):
        vet(fixture_corpus, ["test-group"], "Dana")
    assert "test-group" not in load_manifest(fixture_corpus)
    assert path.exists()


def test_orphan_manifest_entry_is_reported(fixture_corpus: Path) -> None:
    (fixture_corpus / "docs" / "alateen.md").unlink()
    report = check_corpus(fixture_corpus)
    assert report.problems == (
        "manifest entry 'alateen' has no document (docs/alateen.md). "
        "Restore the file or run `guide corpus unvet alateen`.",
    )
    unvet(fixture_corpus, ["alateen"])
    assert check_corpus(fixture_corpus).ok


def test_malformed_manifest_is_a_corpus_error(fixture_corpus: Path) -> None:
    (fixture_corpus / "manifest.yaml").write_text("documents:\n  - id: x\n    colour: blue\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="manifest is malformed"):
        load_vetted(fixture_corpus)


# --- the shipped corpus -------------------------------------------------------------------------------------

# A dose amount ("50 mg", "0.4 milligrams", "2 ml"), or dosing instructions: the guide never gives them.
DOSE = re.compile(
    r"\b\d+(?:[.,]\d+)?\s*(?:mg|mcg|µg|micrograms?|milligrams?|ml|millilit(?:er|re)s?|cc)\b"
    r"|\bdosages?\b|\btaper(?:ing)? schedules?\b|\bdosing (?:schedule|chart|instructions)\b",
    re.I,
)


@pytest.fixture(scope="module")
def shipped():
    report = check_corpus(SHIPPED)
    return report


def test_shipped_corpus_passes_the_check(shipped) -> None:
    assert shipped.ok, "\n".join(shipped.problems)
    assert len(shipped.documents) >= 45


def test_shipped_ids_are_unique_and_match_the_manifest(shipped) -> None:
    ids = [d.id for d in shipped.documents]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(load_manifest(SHIPPED))
    assert all(d.path == f"docs/{d.id}.md" for d in shipped.documents)


def test_shipped_documents_have_substantial_bodies_and_https_sources(shipped) -> None:
    problems = []
    for doc in shipped.documents:
        words = len(doc.body.split())
        if not 300 <= words <= 1200:
            problems.append(f"{doc.id}: {words} words in the body (want 300-1200)")
        if not any(s.url.startswith("https://") for s in doc.sources):
            problems.append(f"{doc.id}: no https source")
    assert not problems, "\n".join(problems)


def test_dose_pattern_catches_what_it_should() -> None:
    for text in ("take 8 mg daily", "0.4 milligrams", "2ml", "a dosage chart", "a taper schedule", "4mg/1mg film"):
        assert DOSE.search(text), text
    for text in ("overdose", "a dose of naloxone", "1-800-662-4357", "since 1935", "988"):
        assert not DOSE.search(text), text


def test_no_shipped_document_gives_dose_amounts(shipped) -> None:
    found = [
        f"{doc.id}: {m.group(0)!r}"
        for doc in shipped.documents
        for m in DOSE.finditer(f"{doc.title}\n{doc.summary}\n{doc.body}")
    ]
    assert not found, "dose amounts or dosing instructions in the corpus:\n" + "\n".join(found)
