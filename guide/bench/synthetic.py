"""A bigger corpus for the scale benchmark, grown deterministically from the vetted one.

Copy j of document i keeps i's front matter (new id and title) and mixes i's sections with those of
document (i + j) mod n, in a seeded order, so every copy is distinct text of the same kind and size.
It is written to a temporary directory with its own manifest and is never shipped as content.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from guide.corpus import ManifestEntry, load_vetted, sha256_bytes, write_manifest
from guide.types import Document

_SECTION = re.compile(r"(?m)^(?=## )")
REVIEWER = "synthetic benchmark corpus (not vetted content)"


def split_sections(body: str) -> tuple[str, list[str]]:
    """(text before the first '## ' heading, the '## ' sections in order)."""
    parts = _SECTION.split(body)
    head = parts[0] if parts and not parts[0].startswith("## ") else ""
    sections = [p.strip() for p in parts if p.startswith("## ")]
    return head.strip(), sections


def _front_matter(doc: Document, doc_id: str, title: str) -> str:
    meta = {
        "id": doc_id,
        "title": title,
        "summary": doc.summary,
        "audience": list(doc.audience),
        "topics": list(doc.topics),
        "sources": [{"title": s.title, "url": s.url} for s in doc.sources],
        "reviewed_by": REVIEWER,
        "reviewed_on": doc.reviewed_on.isoformat(),
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def synthetic_copy(docs: Sequence[Document], i: int, j: int) -> tuple[str, str]:
    """(id, file text) of copy j (>= 1) of docs[i]."""
    doc, other = docs[i], docs[(i + j) % len(docs)]
    rng = random.Random(f"{doc.id}:{j}")
    head, own = split_sections(doc.body)
    _, borrowed = split_sections(other.body)
    sections = [s for s in own if rng.random() < 0.6] + [s for s in borrowed if rng.random() < 0.4]
    sections = sections or own or borrowed
    rng.shuffle(sections)
    doc_id = f"{doc.id}-syn{j:03d}"
    title = f"{doc.title} (synthetic copy {j})"
    body = "\n\n".join([f"# {title}", re.sub(r"(?m)^# .*\n?", "", head).strip() or doc.summary, *sections])
    return doc_id, _front_matter(doc, doc_id, title) + body + "\n"


def grow_corpus(source_dir: Path, dest_dir: Path, factor: int) -> Path:
    """Write a corpus `factor` times the size of `source_dir` (the originals plus factor-1 copies) to dest_dir."""
    if factor < 1:
        raise ValueError("factor must be at least 1")
    docs = sorted(load_vetted(source_dir), key=lambda d: d.id)
    out = dest_dir / "docs"
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for doc in docs:
        raw = (source_dir / doc.path).read_bytes() if (source_dir / doc.path).exists() else None
        if raw is None:  # documents found outside docs/ (fixture layout)
            raw = next(p for p in source_dir.rglob(f"{doc.id}.md")).read_bytes()
        (out / f"{doc.id}.md").write_bytes(raw)
        entries.append(ManifestEntry(id=doc.id, path=f"docs/{doc.id}.md", sha256=sha256_bytes(raw),
                                     reviewed_by=doc.reviewed_by, reviewed_on=doc.reviewed_on))
    for j in range(1, factor):
        for i, doc in enumerate(docs):
            doc_id, text = synthetic_copy(docs, i, j)
            raw = text.encode("utf-8")
            (out / f"{doc_id}.md").write_bytes(raw)
            entries.append(ManifestEntry(id=doc_id, path=f"docs/{doc_id}.md", sha256=sha256_bytes(raw),
                                         reviewed_by=REVIEWER, reviewed_on=doc.reviewed_on))
    write_manifest(dest_dir, entries)
    return dest_dir
