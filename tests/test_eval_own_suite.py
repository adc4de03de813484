"""A staff member's own suite (guide.evals.own_suite): CSV and JSONL rows → conversation cases, one clear problem
per bad row, and a clear error for a file that cannot be a suite at all (empty, binary, too big, no question)."""

from __future__ import annotations

import json

import pytest

from guide.errors import InputError
from guide.evals.cases import expectation_text
from guide.evals.own_suite import MAX_BYTES, parse_suite

HEADER = "id,question,expect_any,expect_all,expect_none,route,audience,tags\n"


def test_csv_columns_map_to_expectations() -> None:
    suite = parse_suite((HEADER + 'a1,What is Al-Anon?,family;friends,free,\\[9\\],answer,family,"faq;family"\n'
                         "a2,What is SMART?,,,,,,\n").encode(), "clinic.csv")
    assert suite.format == "csv" and suite.rows == 2 and not suite.problems
    a1, a2 = suite.cases
    assert a1.expect.route == "answer" and a1.audience == "family"
    assert a1.expect.must_include == ("(?i)(?:family)|(?:friends)", "(?i)free")
    assert a1.expect.must_not_include == ("(?i)\\[9\\]",)
    assert {"faq", "family", "own-suite"} <= a1.tags
    assert a2.expect is None and "needs-grade" in a2.tags and suite.ungraded_ids == ["a2"]
    assert expectation_text(a1).startswith("route answer; includes /(?:family)|(?:friends)/")
    assert expectation_text(a2) == ""


def test_a_route_alone_is_an_expectation_and_expect_any_alone_defaults_to_answer() -> None:
    suite = parse_suite(b"question,route,expect_any\nI want to die,crisis,\nWhat is NA?,,narcotics\n", "s.csv")
    crisis, na = suite.cases
    assert crisis.expect.route == "crisis" and crisis.expect.must_include == ()
    assert na.expect.route == "answer" and crisis.id == "row-1" and na.id == "row-2"


@pytest.mark.parametrize("row, column, fix", [
    (",,,,,answer,,", "question", "is empty"),
    ("x,What?,(unclosed,,,,,", "expect_any", "not a valid regular expression"),
    ("x,What?,,,,maybe,,", "route", "'maybe' is not a route; use one of answer, decline, crisis, checkin"),
    ("x,What?,,,,,kids,", "audience", "'kids' is not an audience"),
    ('x,What?,"[1,",,,,,', "expect_any", "not a JSON list"),
    ("x,What?,,,,,,,,extra", "(row)", "quote values that contain commas"),
])
def test_each_bad_row_says_row_column_and_fix_and_good_rows_still_run(row: str, column: str, fix: str) -> None:
    suite = parse_suite((HEADER + "ok1,What is AA?,,,,,,\n" + row + "\nok2,What is NA?,,,,,,\n").encode(), "s.csv")
    assert [c.id for c in suite.cases] == ["ok1", "ok2"]
    [problem] = suite.problems
    assert (problem.row, problem.column) == (2, column) and fix in problem.message, problem
    assert str(problem).startswith(f"row 2, column {column}: ")


def test_duplicate_ids_are_a_problem_not_a_silent_overwrite() -> None:
    suite = parse_suite(b"id,question\nq1,A?\nq1,B?\n", "s.csv")
    assert [c.turns for c in suite.cases] == [("A?",)]
    assert suite.problems[0].column == "id" and "earlier row" in suite.problems[0].message


def test_utf8_bom_blank_lines_and_turns() -> None:
    data = "\ufeffQuestion,turns\n\n,What is SMART?||Is it religious?\n,\"[\"\"a\"\", \"\"b\"\"]\"\n".encode()
    suite = parse_suite(data, "excel.csv")
    assert [c.turns for c in suite.cases] == [("What is SMART?", "Is it religious?"), ("a", "b")]
    assert suite.cases[0].kind == "followup" and not suite.problems


def test_jsonl_rows_lists_and_the_repo_schema() -> None:
    lines = [
        {"id": "j1", "question": "What is Al-Anon?", "expect_any": ["family", "friends"], "tags": ["faq"]},
        {"id": "j2", "turns": ["What is NA?", "Is it free?"], "route": "answer"},
        {"id": "j3", "turns": ["Hi"], "expect": {"route": "answer", "must_include": ["hello"]}},
        {"id": "j4", "turns": ["Hi"], "expect": {"route": "nowhere"}},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\nnot json\n[1, 2]\n"
    suite = parse_suite(text.encode(), "mine.jsonl")
    assert [c.id for c in suite.cases] == ["j1", "j2", "j3"]
    assert suite.cases[2].expect.must_include == ("hello",)
    assert [(p.row, p.column) for p in suite.problems] == [(4, "expect.route"), (5, "(line)"), (6, "(line)")]
    assert "not valid JSON" in suite.problems[1].message


def test_unused_columns_are_noted() -> None:
    suite = parse_suite(b"question,owner\nWhat is AA?,Sam\n", "s.csv")
    assert suite.notes == ("column 'owner' is not used (known columns: id, question, turns, expect_any, expect_all, "
                           "expect_none, route, audience, tags)",)


@pytest.mark.parametrize("data, name, message", [
    (b"", "empty.csv", "is empty"),
    (b"  \n\n", "blank.csv", "is empty"),
    (b"question\n", "header-only.csv", "has a header but no rows"),
    (b"PK\x03\x04\x00\x00\x08\x00", "book.xlsx.csv", "looks like a binary file"),
    ("question\nqué\n".encode("latin-1"), "latin1.csv", "is not UTF-8 text"),
    (b"name,phone\nSam,555\n", "contacts.csv", "no 'question' or 'turns' column"),
    (b"x" * (MAX_BYTES + 1), "huge.csv", "a suite can be at most 5 MB"),
    (b"question\n" + b"q?\n" * 5001, "long.csv", "at most 5000"),
])
def test_a_file_that_cannot_be_a_suite_is_one_clear_error(data: bytes, name: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_suite(data, name)
