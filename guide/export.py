"""A conversation as a Markdown file the user can keep: every exchange with its numbered sources and links."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from guide.types import Answer, Resource
from guide.ui.render import citation_label, escape_markdown, safe_url


def _resource_line(r: Resource) -> str:
    how = r.text_instructions or (f"call {r.phone}" if r.phone else "")
    url = safe_url(r.url)
    parts = [p for p in (how, url and f'<{url}>') if p]
    return f"- {r.name}" + (f": {' · '.join(parts)}" if parts else "")  # reviewed data, not user text


def conversation_markdown(
    questions: Sequence[str],
    answers: Sequence[Answer],
    *,
    help_lines: Sequence[Resource] = (),
    exported_at: datetime | None = None,
) -> str:
    """Questions and answers in order; each answer is followed by its numbered sources (title › section, URL)
    or, for a crisis turn, the help lines it showed. User text is escaped so the file renders as typed."""
    when = (exported_at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Recovery Guide — conversation",
        "",
        f"Exported {when}. Answers come from vetted public sources; this guide is not a clinician and not an "
        "emergency service.",
        "",
    ]
    if help_lines:
        out += ["**Help lines (free, confidential):**", "", *(_resource_line(r) for r in help_lines), ""]
    for n, (question, answer) in enumerate(zip(questions, answers, strict=True), 1):
        out += [f"## {n}. You asked", "", escape_markdown(question) or "(empty message)", "", "### Guide", ""]
        out += [answer.text.strip(), ""]
        if answer.notice:
            out += [f"_{answer.notice}_", ""]
        if answer.route == "crisis" or (answer.resources and not answer.citations):
            if answer.resources:
                out += ["**Help lines:**", "", *(_resource_line(r) for r in answer.resources), ""]
        if answer.citations:
            out += ["**Sources:**", ""]
            for c in answer.citations:
                url = safe_url(c.url, ("https:", "http:"))
                link = f" — <{url}>" if url else ""
                out.append(f"- \\[{c.n}\\] {escape_markdown(citation_label(c))}{link}")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def export_filename(exported_at: datetime | None = None) -> str:
    when = (exported_at or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M")
    return f"recovery-guide-conversation-{when}.md"
