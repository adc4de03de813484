"""Markdown-header-aware chunking: every chunk keeps its header path and its document's metadata."""

from __future__ import annotations

from collections.abc import Iterable

from guide.types import Chunk, Document

SEPARATOR = " › "


def chunk_document(doc: Document, chunk_size: int = 900, chunk_overlap: int = 120) -> list[Chunk]:
    """Split on #/##/### headers (LangChain's MarkdownHeaderTextSplitter), then by size within a section."""
    from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

    header_splitter = MarkdownHeaderTextSplitter(
        headers_to_split_on=[("#", "h1"), ("##", "h2"), ("###", "h3")], strip_headers=True
    )
    size_splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end",
    )
    chunks: list[Chunk] = []
    for section in header_splitter.split_text(doc.body):
        text = section.page_content.strip()
        if not text:
            continue
        path = [doc.title]
        for key in ("h2", "h3"):
            heading = section.metadata.get(key)
            if heading and heading != doc.title:
                path.append(heading.strip())
        label = SEPARATOR.join(path)
        for piece in size_splitter.split_text(text):
            piece = piece.strip()
            if len(piece) < 2:
                continue
            chunks.append(
                Chunk(
                    id=f"{doc.id}::{len(chunks):03d}",
                    doc_id=doc.id,
                    title=doc.title,
                    section=label,
                    url=doc.url,
                    text=piece,
                    position=len(chunks),
                    audience=doc.audience,
                    topics=doc.topics,
                    doc_sha=doc.sha256,
                    summary=doc.summary,
                )
            )
    return chunks


def chunk_documents(docs: Iterable[Document], chunk_size: int = 900, chunk_overlap: int = 120) -> list[Chunk]:
    return [c for d in docs for c in chunk_document(d, chunk_size, chunk_overlap)]
