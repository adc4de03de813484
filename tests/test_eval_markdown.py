"""The one Markdown table writer: compact for report files, aligned for terminals, a `|` in a cell never splits it."""

from __future__ import annotations

from guide.evals.markdown import markdown_table


def test_compact_table() -> None:
    assert markdown_table(["a", "b"], [(1, None), ("x", "")]) == "| a | b |\n|---|---|\n| 1 | None |\n| x |  |"


def test_aligned_table_pads_every_column() -> None:
    assert markdown_table(["a", "bb"], [["1", "22222"]], aligned=True).splitlines() == [
        "| a | bb    |", "|---|-------|", "| 1 | 22222 |"]


def test_a_pipe_or_newline_in_a_cell_keeps_the_row_whole() -> None:
    table = markdown_table(["file", "n"], [["foo|bar", "two\nlines"]], aligned=True)
    assert table.splitlines()[-1] == "| foo\\|bar | two lines |"
    assert table.splitlines()[1] == "|----------|-----------|"
