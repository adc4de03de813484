"""The one Markdown table writer behind every report: report.md, BENCHMARKS.md, external.md and `guide safety --eval`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def escape(text: object) -> str:
    """A cell (or list item) that cannot break a table: `|` escaped, newlines folded into spaces."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[object], rows: Iterable[Sequence[object]], aligned: bool = False) -> str:
    """A GitHub Markdown table, cells str()-ed and escaped; `aligned` pads the columns for reading in a terminal."""
    table = [[escape(c) for c in headers], *([escape(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in table) if aligned else 0 for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) if aligned else "---" for w in widths) + "|"
    return "\n".join([line(table[0]), sep, *(line(r) for r in table[1:])])
