"""The vetted corpus: Markdown documents with YAML front matter, a vetting manifest, and checks.

Ingestion refuses documents that are not in the manifest or whose sha256 changed since review; the
fix is always `guide corpus vet ID --reviewer NAME` after a human has reviewed the edit.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from guide.errors import CorpusError
from guide.types import AUDIENCES, Document, Source

MANIFEST_NAME = "manifest.yaml"
DOCS_DIRNAME = "docs"
_KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
#: libyaml's parser when PyYAML has it (same results, ~10× faster: the corpus is parsed on every start).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n(.*)\Z", re.S)


class SourceModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=3)
    url: str

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme != "https" or not parsed.netloc or " " in value:
            raise ValueError(f"{value!r} is not a well-formed https URL")
        return value


class FrontMatter(BaseModel):
    """The schema every corpus document's front matter must satisfy."""

    model_config = ConfigDict(extra="forbid")
    id: str
    title: str = Field(min_length=3)
    summary: str = Field(min_length=20)
    audience: list[str] = Field(min_length=1)
    topics: list[str] = Field(min_length=1)
    sources: list[SourceModel] = Field(min_length=1)
    reviewed_by: str = Field(min_length=2)
    reviewed_on: date

    @field_validator("id")
    @classmethod
    def _kebab(cls, value: str) -> str:
        if not _KEBAB.match(value):
            raise ValueError(f"{value!r} is not kebab-case (lowercase letters, digits and single hyphens)")
        return value

    @field_validator("topics", mode="before")
    @classmethod
    def _topics_as_text(cls, value: object) -> object:
        # YAML reads `[crisis, 988]` as a string and an int; topics are tags, so keep them as text.
        return [str(v) for v in value] if isinstance(value, list) else value

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in AUDIENCES]
        if bad:
            raise ValueError(f"unknown audience {bad}; use any of {sorted(AUDIENCES)}")
        return value


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    path: str
    sha256: str
    reviewed_by: str
    reviewed_on: date


@dataclass(frozen=True)
class CorpusReport:
    """The outcome of `guide corpus check`: the documents that parsed and every problem found."""

    documents: tuple[Document, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def docs_dir(corpus_dir: Path) -> Path:
    """Documents live in corpus/docs/ when it exists, else directly in the corpus dir (fixtures)."""
    sub = corpus_dir / DOCS_DIRNAME
    return sub if sub.is_dir() else corpus_dir


def document_paths(corpus_dir: Path) -> list[Path]:
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus directory {corpus_dir} does not exist. Set GUIDE_CORPUS_DIR or pass --corpus DIR.")
    return sorted(p for p in docs_dir(corpus_dir).glob("*.md") if p.name.lower() != "readme.md")


def parse_document(path: Path, root: Path | None = None) -> Document:
    """Parse one Markdown file; any problem is a CorpusError naming the file, the field and the fix."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not valid UTF-8 (byte {exc.start}). Re-save the file as UTF-8.") from None
    text = text.lstrip("\ufeff")
    match = _FRONT.match(text)
    if not match:
        raise CorpusError(
            f"{path}: missing YAML front matter. Start the file with a '---' line, the fields "
            "(id, title, summary, audience, topics, sources, reviewed_by, reviewed_on), and a closing '---' line."
        )
    try:
        meta = yaml.load(match.group(1), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise CorpusError(f"{path}: front matter is not valid YAML{where}. Quote values that contain ':'.") from None
    if not isinstance(meta, dict):
        raise CorpusError(f"{path}: front matter must be a YAML mapping of fields.")
    try:
        fm = FrontMatter.model_validate(meta)
    except ValidationError as exc:
        err = exc.errors()[0]
        fld = ".".join(str(p) for p in err["loc"]) or "front matter"
        raise CorpusError(f"{path}: field '{fld}': {err['msg']}. Fix the front matter and re-run.") from None
    if fm.id != path.stem:
        raise CorpusError(f"{path}: field 'id' is {fm.id!r} but the file is named {path.name!r}; make them match.")
    body = match.group(2).strip()
    if len(body.split()) < 20:
        raise CorpusError(f"{path}: the document body is empty or too short; write the content below the front matter.")
    rel = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    return Document(
        id=fm.id,
        title=fm.title,
        summary=fm.summary,
        audience=tuple(fm.audience),
        topics=tuple(fm.topics),
        sources=tuple(Source(title=s.title, url=s.url) for s in fm.sources),
        reviewed_by=fm.reviewed_by,
        reviewed_on=fm.reviewed_on,
        body=body,
        path=rel,
        sha256=sha256_bytes(raw),
    )


def load_manifest(corpus_dir: Path) -> dict[str, ManifestEntry]:
    path = corpus_dir / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
        entries = [ManifestEntry.model_validate(e) for e in data.get("documents", [])]
    except (yaml.YAMLError, ValidationError, AttributeError) as exc:
        raise CorpusError(f"{path}: the vetting manifest is malformed ({type(exc).__name__}). Restore it from git.") from None
    return {e.id: e for e in entries}


def write_manifest(corpus_dir: Path, entries: Iterable[ManifestEntry]) -> Path:
    path = corpus_dir / MANIFEST_NAME
    rows = [
        {**e.model_dump(mode="json")}
        for e in sorted(entries, key=lambda e: e.id)
    ]
    header = (
        "# Vetting manifest: one entry per reviewed document. Do not edit by hand;\n"
        "# run `guide corpus vet ID --reviewer NAME` after reviewing a change.\n"
    )
    path.write_text(header + yaml.safe_dump({"documents": rows}, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def check_corpus(corpus_dir: Path) -> CorpusReport:
    """Validate every document and the manifest; collect all problems instead of stopping at the first."""
    problems: list[str] = []
    documents: list[Document] = []
    paths = document_paths(corpus_dir)
    if not paths:
        problems.append(f"{corpus_dir}: no documents (*.md) found. Add vetted documents to {docs_dir(corpus_dir)}.")
    seen: dict[str, str] = {}
    for path in paths:
        try:
            doc = parse_document(path, root=corpus_dir)
        except CorpusError as exc:
            problems.append(str(exc))
            continue
        if doc.id in seen:
            problems.append(f"{path}: id {doc.id!r} is also used by {seen[doc.id]}; ids must be unique.")
            continue
        seen[doc.id] = str(path)
        documents.append(doc)
    try:
        manifest = load_manifest(corpus_dir)
    except CorpusError as exc:
        return CorpusReport(tuple(documents), tuple([*problems, str(exc)]))
    problems.extend(vetting_problems(documents, manifest))
    for orphan in sorted(set(manifest) - {p.stem for p in paths}):
        problems.append(
            f"manifest entry {orphan!r} has no document ({manifest[orphan].path}). "
            f"Restore the file or run `guide corpus unvet {orphan}`."
        )
    return CorpusReport(tuple(documents), tuple(problems))


def vetting_problems(documents: Sequence[Document], manifest: dict[str, ManifestEntry]) -> list[str]:
    problems = []
    for doc in documents:
        entry = manifest.get(doc.id)
        if entry is None:
            problems.append(
                f"{doc.path}: not vetted (no manifest entry). After review run `guide corpus vet {doc.id} --reviewer NAME`."
            )
        elif entry.sha256 != doc.sha256:
            problems.append(
                f"{doc.path}: changed since it was vetted on {entry.reviewed_on} (sha256 differs). "
                f"Review the change, then run `guide corpus vet {doc.id} --reviewer NAME`."
            )
    return problems


def load_vetted(corpus_dir: Path) -> tuple[Document, ...]:
    """The documents ingestion may use; raises CorpusError listing every problem otherwise."""
    report = check_corpus(corpus_dir)
    if not report.ok:
        shown = "\n  - ".join(report.problems[:20])
        more = f"\n  … and {len(report.problems) - 20} more" if len(report.problems) > 20 else ""
        raise CorpusError(f"The corpus is not ready to ingest ({len(report.problems)} problem(s)):\n  - {shown}{more}")
    return report.documents


def corpus_hash(documents: Sequence[Document]) -> str:
    """One hash for the whole corpus, recorded in the index and in eval reports."""
    h = hashlib.sha256()
    for doc in sorted(documents, key=lambda d: d.id):
        h.update(f"{doc.id}:{doc.sha256}\n".encode())
    return h.hexdigest()


def _set_review_fields(path: Path, reviewer: str, on: date) -> None:
    text = path.read_text(encoding="utf-8")
    match = _FRONT.match(text.lstrip("\ufeff"))
    if not match:
        raise CorpusError(f"{path}: missing YAML front matter; cannot record a review.")
    head = match.group(1)
    head = re.sub(r"(?m)^reviewed_by:.*$", f"reviewed_by: {reviewer}", head)
    head = re.sub(r"(?m)^reviewed_on:.*$", f"reviewed_on: {on.isoformat()}", head)
    path.write_text(f"---\n{head}\n---\n{match.group(2)}", encoding="utf-8")


def vet(corpus_dir: Path, doc_ids: Sequence[str], reviewer: str, on: date | None = None) -> list[ManifestEntry]:
    """Record that `reviewer` reviewed these documents today: update their front matter and the manifest."""
    if not reviewer.strip():
        raise CorpusError("A reviewer name is required: `guide corpus vet ID --reviewer NAME`.")
    on = on or date.today()
    paths = {p.stem: p for p in document_paths(corpus_dir)}
    manifest = load_manifest(corpus_dir)
    recorded = []
    for doc_id in doc_ids:
        path = paths.get(doc_id)
        if path is None:
            raise CorpusError(f"No document with id {doc_id!r} in {docs_dir(corpus_dir)}. Check the file name.")
        parse_document(path, root=corpus_dir)  # must be valid before it can be vetted
        _set_review_fields(path, reviewer.strip(), on)
        doc = parse_document(path, root=corpus_dir)
        entry = ManifestEntry(id=doc.id, path=doc.path, sha256=doc.sha256, reviewed_by=doc.reviewed_by, reviewed_on=on)
        manifest[doc.id] = entry
        recorded.append(entry)
    write_manifest(corpus_dir, manifest.values())
    return recorded


def unvet(corpus_dir: Path, doc_ids: Sequence[str]) -> None:
    manifest = load_manifest(corpus_dir)
    for doc_id in doc_ids:
        if manifest.pop(doc_id, None) is None:
            raise CorpusError(f"{doc_id!r} is not in the manifest.")
    write_manifest(corpus_dir, manifest.values())
