"""The staff workbench without the page: set-up files, two set-ups side by side with the exact McNemar test,
hand grades in the feedback database (and its migration), and every step from the CLI."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from _eval_synthetic import synthetic_run

from guide.errors import FeedbackError, InputError
from guide.evals.compare import compare_setups
from guide.evals.grading import review_queue, summarize, with_grades
from guide.evals.metrics import mcnemar_exact
from guide.evals.setups import Setup, load_setup, parse_setup
from guide.feedback import Grade, InMemoryFeedbackStore, SQLiteFeedbackStore

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUITE = FIXTURES / "own_suite" / "clinic-50.csv"


# ---------------------------------------------------------------- McNemar
@pytest.mark.parametrize("b, c, p", [
    (1, 9, 22 / 1024),        # 2 * (C(10,0) + C(10,1)) / 2^10
    (2, 8, 112 / 1024),       # 0.109375, as statsmodels' mcnemar(exact=True)
    (0, 5, 0.0625),
    (5, 0, 0.0625),
    (3, 3, 1.0),              # capped at 1
    (0, 1, 1.0),
    (10, 30, 0.002221),       # a larger case, to 4 significant figures
])
def test_exact_mcnemar_known_values(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-3)


def test_mcnemar_without_discordant_pairs_is_undefined() -> None:
    assert mcnemar_exact(0, 0) is None
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


# ---------------------------------------------------------------- set-up files
def test_setup_file_is_validated_against_settings(tmp_path: Path, fake_settings) -> None:
    good = tmp_path / "off.yaml"
    good.write_text("label: reranker off\nreranker: none\ntop_k: 8\n", encoding="utf-8")
    setup = load_setup(good, fake_settings)
    assert setup.label == "reranker off" and dict(setup.overrides) == {"reranker": "none", "top_k": 8}
    assert setup.apply(fake_settings).top_k == 8 and setup.apply(fake_settings).reranker == "none"
    with pytest.raises(InputError, match=r"'topk' is not a setting\. Use one of: .*top_k"):
        parse_setup({"topk": 3}, "a.yaml", fake_settings)
    with pytest.raises(InputError, match=r"a.yaml: top_k: Input should be less than or equal to 50 \(got 500\)"):
        parse_setup({"top_k": 500}, "a.yaml", fake_settings)
    with pytest.raises(InputError, match="a.yaml: reranker: "):
        parse_setup({"reranker": "magic"}, "a.yaml", fake_settings)
    with pytest.raises(InputError, match="is a mapping of settings"):
        parse_setup(["reranker", "none"], "a.yaml", fake_settings)
    with pytest.raises(InputError, match="does not exist"):
        load_setup(tmp_path / "missing.yaml", fake_settings)
    (tmp_path / "broken.yaml").write_text("reranker: [none\n", encoding="utf-8")
    with pytest.raises(InputError, match="is not valid YAML"):
        load_setup(tmp_path / "broken.yaml", fake_settings)
    assert parse_setup(None, "empty.yaml").label == "empty" and not parse_setup(None, "empty.yaml").overrides


def test_two_setups_side_by_side(tmp_path: Path) -> None:
    a = synthetic_run(tmp_path / "a", "A", run_id="run-A")
    b = synthetic_run(tmp_path / "b", "B", run_id="run-B")
    comp = compare_setups(a, b, Setup("A-config", {"top_k": 5}), Setup("B-config", {"top_k": 8}))
    assert [p.id for p in comp.pairs] == [c.id for c in a.answers.cases]
    c2 = next(p for p in comp.pairs if p.id == "c2")
    assert (c2.verdict_a, c2.verdict_b) == ("fail", "pass") and "verdict" in c2.changed
    assert comp.mcnemar.b == 0 and comp.mcnemar.c == 1 and comp.mcnemar.p_value == 1.0
    assert comp.pass_rate_a.n == comp.pass_rate_b.n == 3 and comp.pass_rate_b.k == comp.pass_rate_a.k + 1
    assert [x.id for x in comp.comparison.newly_passing if x.suite == "conversations"] == ["c2"]


# ---------------------------------------------------------------- grades store
@pytest.mark.parametrize("make", [lambda p: SQLiteFeedbackStore(p / "f.sqlite3"), lambda p: InMemoryFeedbackStore()],
                         ids=["sqlite", "memory"])
def test_grades_are_saved_replaced_and_validated(tmp_path: Path, make) -> None:
    store = make(tmp_path)
    store.save_grade(Grade(run_id="r1", case_id="g01", grade="wrong", reviewer=" Sam ", note="no"))
    store.save_grade(Grade(run_id="r1", case_id="g01", grade="partly", reviewer="Ana"))  # changed their mind
    store.save_grade(Grade(run_id="r1", case_id="g01", grade="correct", reviewer="Ana", setup="B"))
    store.save_grade(Grade(run_id="r2", case_id="g01", grade="correct", reviewer="Ana"))
    grades = store.grades("r1")
    assert [(g.setup, g.case_id, g.grade, g.reviewer) for g in grades] == [("A", "g01", "partly", "Ana"),
                                                                           ("B", "g01", "correct", "Ana")]
    assert grades[0].graded_at.endswith("+00:00")
    with pytest.raises(FeedbackError, match="reviewer's name"):
        store.save_grade(Grade(run_id="r1", case_id="g02", grade="correct", reviewer="  "))
    with pytest.raises(FeedbackError, match="one of correct, partly, wrong"):
        store.save_grade(Grade(run_id="r1", case_id="g02", grade="great", reviewer="Sam"))  # type: ignore[arg-type]


def test_an_existing_feedback_db_gains_the_grades_table_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    old = sqlite3.connect(path)  # the schema before grades existed, with a rating in it
    old.executescript("""
        CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL,
            rating INTEGER NOT NULL CHECK (rating IN (-1, 1)), comment TEXT NOT NULL DEFAULT '',
            question TEXT NOT NULL, answer TEXT NOT NULL, citations TEXT NOT NULL DEFAULT '[]',
            route TEXT NOT NULL DEFAULT 'answer', audience TEXT NOT NULL DEFAULT 'newcomer');
        INSERT INTO feedback (created_at, rating, question, answer) VALUES ('2025-01-01T00:00:00+00:00', -1, 'q', 'a');
    """)
    old.commit()
    old.close()
    store = SQLiteFeedbackStore(path)
    assert store.count() == 1 and store.list()[0].question == "q"
    assert store.schema_version() == 1
    store.save_grade(Grade(run_id="r", case_id="c", grade="correct", reviewer="Sam"))
    again = SQLiteFeedbackStore(path)  # opening twice migrates once
    assert again.schema_version() == 1 and len(again.grades("r")) == 1 and again.count() == 1


# ---------------------------------------------------------------- queue and summary
def test_queue_summary_and_disagreements(tmp_path: Path, fake_settings, fake_retriever) -> None:
    from guide.evals.own_suite import parse_suite
    from guide.evals.runner import EvalOptions, run_eval
    from guide.pipeline import Pipeline

    settings = fake_settings.with_overrides(evals_dir=FIXTURES / "evals")
    own = parse_suite(SUITE.read_bytes(), SUITE.name)
    report = run_eval(settings, EvalOptions(suites=("conversations",), own_suite=own),
                      pipeline=Pipeline(settings, fake_retriever), run_id="r")
    assert report.answers.overall.n == 50 and report.answers.overall.pass_rate.n == 40  # ungraded are not counted
    assert report.routing.n == 40 and report.suite.ungraded == [f"g{i:02d}" for i in range(1, 11)]
    queue = review_queue(report, [])
    assert [i.case.id for i in queue] == report.suite.ungraded and {i.setups for i in queue} == {("A",)}
    passing = next(c for c in report.answers.cases if c.verdict == "pass")
    grades = [Grade(run_id="r", case_id="g01", grade="correct", reviewer="Sam", graded_at="t"),
              Grade(run_id="r", case_id="g02", grade="partly", reviewer="Sam", graded_at="t"),
              Grade(run_id="r", case_id=passing.id, grade="wrong", reviewer="Sam", note="regex too loose", graded_at="t")]
    assert len(review_queue(report, grades)) == 8
    assert len(review_queue(report, grades, everything=True)) == 8 + 39
    [s] = summarize(report, grades)
    assert (s.n, s.correct, s.partly, s.wrong, s.to_grade) == (3, 1, 1, 1, 8)
    assert s.graded_pass_rate.k == 1 and s.graded_ok_rate.k == 2 and (s.regex_pass_rate.k, s.regex_pass_rate.n) == (1, 1)
    assert [d.case_id for d in s.disagreements] == [passing.id]
    from guide.evals.render import to_markdown

    md = to_markdown(with_grades(report, grades))
    assert "## Graded by hand" in md and "### Regex and reviewer disagree: 1" in md and "regex too loose" in md
    assert "## Own suite: clinic-50.csv" in md and "10 without expectations" in md


def test_one_grade_covers_both_setups_when_they_gave_the_same_answer(tmp_path: Path) -> None:
    """c1 and c3 get the same answer under both set-ups: queued once, graded once, stored for A and B. c2's
    answers differ (B cites another document): both are queued, one after the other."""
    from guide.evals.grading import grade_targets, save_grade

    a = synthetic_run(tmp_path / "a", "A", run_id="run-A")
    b = synthetic_run(tmp_path / "b", "B", run_id="run-B")
    report = a.model_copy(update={"setups": compare_setups(a, b, Setup("A-config"), Setup("B-config"))})
    queue = review_queue(report, [], everything=True)
    assert [(i.case.id, i.setups, i.differs) for i in queue] == [
        ("c1", ("A", "B"), False), ("c2", ("A",), True), ("c2", ("B",), True), ("c3", ("A", "B"), False)]
    assert queue[0].setup_text == "A and B (same answer)" and queue[1].setup_text == "A (A-config)"
    assert grade_targets(report, "A", "c1") == ("A", "B") and grade_targets(report, "B", "c2") == ("B",)
    assert grade_targets(report, "B", "nope") == ()

    store = InMemoryFeedbackStore()
    save_grade(store, "run-A", "c1", queue[0].setups, "correct", "Sam", "both fine")
    save_grade(store, "run-A", "c2", queue[1].setups, "wrong", "Sam")
    grades = store.grades("run-A")
    assert [(g.setup, g.case_id, g.grade, g.note) for g in grades] == [
        ("A", "c1", "correct", "both fine"), ("A", "c2", "wrong", ""), ("B", "c1", "correct", "both fine")]
    assert [(i.case.id, i.setups) for i in review_queue(report, grades, everything=True)] == [
        ("c2", ("B",)), ("c3", ("A", "B"))]
    by_setup = {g.setup: g for g in summarize(report, grades)}
    assert (by_setup["A"].n, by_setup["B"].n) == (2, 1)
    # a grade stored for A alone before (an older run): B's identical answer is still queued, for B only
    old = [Grade(run_id="run-A", case_id="c3", grade="partly", reviewer="Ana", setup="A")]
    assert [(i.case.id, i.setups) for i in review_queue(report, old, everything=True)
            if i.case.id == "c3"] == [("c3", ("B",))]


# ---------------------------------------------------------------- the CLI, every step
def _cli(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "guide.cli", *args], env=env, capture_output=True, text=True,
                          timeout=600, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


@pytest.fixture()
def env(tmp_path: Path, fixture_corpus: Path) -> dict[str, str]:
    from test_cli import clean_env

    shutil.copytree(FIXTURES / "evals", tmp_path / "evals")
    return clean_env(GUIDE_DATA_DIR=str(tmp_path / "data"), GUIDE_CORPUS_DIR=str(fixture_corpus),
                     GUIDE_EVALS_DIR=str(tmp_path / "evals"), GUIDE_EMBEDDING_MODEL="hash:384",
                     GUIDE_RERANKER="fake", GUIDE_MULTILINGUAL_MODEL="none")


def test_cli_own_suite_two_setups_grade_and_grades(env: dict[str, str], tmp_path: Path) -> None:
    suite = tmp_path / "clinic.csv"
    suite.write_bytes(SUITE.read_bytes() + b"bad,What?,(,,,answer,,\n")
    evals = Path(env["GUIDE_EVALS_DIR"])
    out = tmp_path / "run"
    proc = _cli(["eval", "conversations", "--suite", str(suite), "--compare-config", str(evals / "setups" / "hybrid.yaml"),
                 str(evals / "setups" / "keyword.yaml"), "--out", str(out)], env)
    assert proc.returncode == 0, proc.stderr
    assert "clinic.csv: 51 rows, 50 will run, 1 not run, 10 without expectations" in proc.stderr
    assert "✗ row 51, column expect_any: /(/ is not a valid regular expression" in proc.stderr
    assert "Set-ups A (hybrid (current)) vs B (keyword only)" in proc.stdout and "Paired test A vs B" in proc.stdout
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.md", "report.html", "report.csv", "suite.csv"}
    assert (out / "suite.csv").read_bytes() == suite.read_bytes()

    # grade in the terminal: g01 got the same answer under both set-ups (one grade for both), g02 did not
    # (A's answer, then B's): correct, then wrong with a note, then quit
    proc = _cli(["eval", "grade", str(out), "--reviewer", "Sam"], env, stdin="c\n\nw\noff topic\nq\n")
    assert proc.returncode == 0, proc.stderr
    assert "[1/16] g01 · set-up A and B (same answer)" in proc.stdout and "Citations and their passages:" in proc.stdout
    assert "[2/16] g02 · set-up A (hybrid (current))" in proc.stdout
    assert "The set-ups answered this case differently" in proc.stdout
    proc = _cli(["eval", "grade", str(out), "--reviewer", "Sam", "--case", "q01", "--grade", "wrong",
                 "--note", "regex too loose"], env)
    assert proc.returncode == 0, proc.stderr
    proc = _cli(["eval", "grade", str(out), "--reviewer", "Sam", "--case", "g06", "--setup", "B", "--grade", "partly"],
                env)
    assert proc.returncode == 0 and "g06: set-ups A and B gave the same answer; the grade covers both." in proc.stdout
    proc = _cli(["eval", "grades", str(out)], env)
    assert proc.returncode == 0, proc.stderr
    assert "Set-up A: 4 graded (1 correct, 1 partly, 2 wrong), 7 still to grade" in proc.stdout
    assert "Set-up B: 2 graded (1 correct, 1 partly, 0 wrong), 8 still to grade" in proc.stdout
    assert "q01" in proc.stdout and "≠ regex" in proc.stdout
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Graded by hand" in md and "## Set-ups side by side" in md and "## Own suite: clinic.csv" in md
    csv_text = (out / "report.csv").read_text(encoding="utf-8")
    assert csv_text.count("\nB: keyword only,") == 50 and ",ungraded,correct,," in csv_text


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"\x00\x01\x02", "looks like a binary file"),
])
def test_cli_bad_suite_file_is_a_clean_error(env: dict[str, str], tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    proc = _cli(["eval", "--suite", str(bad)], env)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_bad_setup_file_fails_before_running(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "b.yaml"
    bad.write_text("top_k: many\n", encoding="utf-8")
    proc = _cli(["eval", "--suite", str(SUITE), "--compare-config", str(bad), str(bad)], env)
    assert proc.returncode == 2 and "b.yaml: top_k: " in proc.stderr, proc.stderr
    assert not (Path(env["GUIDE_DATA_DIR"]) / "runs").exists()


# ---------------------------------------------------------------- set-ups that shape the index
def test_a_setup_changing_the_chunking_gets_its_own_collection_and_leaves_the_current_index_alone(
        fake_settings) -> None:
    from guide.retrieval.index import open_retriever
    from guide.retrieval.store import ChromaStore, make_chroma_client
    from guide.retrieval.embedding import make_embedder

    current = fake_settings
    smaller = parse_setup({"label": "small chunks", "chunk_size": 400, "chunk_overlap": 40}, "small.yaml",
                          current).apply(current)
    assert smaller.collection == "recovery-guide-c400-o40" and smaller.keyword_path != current.keyword_path
    assert Setup("top k", {"top_k": 8}).apply(current).collection == current.collection  # same index, same collection
    assert parse_setup({"embedding_model": "hash:256"}, "e.yaml", current).apply(current).collection.startswith(
        "recovery-guide-c900-o120-e")

    _, built = open_retriever(current)
    assert built is not None and built.total_chunks > 0
    _, built_b = open_retriever(smaller)  # set-up B: its own index, built once
    assert built_b is not None and built_b.total_chunks > built.total_chunks
    _, again = open_retriever(current)  # the current index was neither rebuilt nor re-chunked by B
    assert again is None
    store = ChromaStore(make_chroma_client(current), current.collection, make_embedder(current.embedding_model))
    assert store.get_state()["chunking"] == "900/120" and store.count() == built.total_chunks


def test_a_setup_that_reuses_the_current_collection_with_other_chunking_is_refused(fake_settings) -> None:
    with pytest.raises(InputError, match=r"s.yaml: chunk_size changes how the index is built, but `collection` is the "
                                         r"current one \('recovery-guide'\)"):
        parse_setup({"chunk_size": 500, "collection": "recovery-guide"}, "s.yaml", fake_settings)
    own = parse_setup({"chunk_size": 500, "collection": "small"}, "s.yaml", fake_settings).apply(fake_settings)
    assert own.collection == "small" and own.chunk_size == 500


def test_each_setup_answers_one_untimed_warm_up_question_before_its_cases(fake_settings, fake_retriever) -> None:
    """A fresh pipeline's first query opens the index and loads the models: without the warm-up that cost lands on
    set-up A's first case (1.7 s against 7 ms on the fixture corpus) and A's latency looks worse than B's."""
    from guide.evals.own_suite import parse_suite
    from guide.evals.runner import EvalOptions
    from guide.evals.setups import WARM_UP_QUESTION, run_setups
    from guide.pipeline import Pipeline

    asked: list[tuple[str, str]] = []

    class Recording(Pipeline):
        def answer(self, history, message, audience="newcomer"):  # noqa: ANN001, ANN201
            asked.append((self.settings.retrieval_mode, message))
            return super().answer(history, message, audience)

    settings = fake_settings.with_overrides(evals_dir=FIXTURES / "evals")
    own = parse_suite(b"id,question\nq1,What is Al-Anon?\nq2,What is SMART Recovery?\n", "two.csv")
    report = run_setups(settings, EvalOptions(suites=("conversations",), own_suite=own), Setup("hybrid"),
                        Setup("keyword", {"retrieval_mode": "keyword"}),
                        pipeline_for=lambda s: Recording(s, fake_retriever), run_id="r")
    assert asked == [("hybrid", WARM_UP_QUESTION), ("hybrid", "What is Al-Anon?"), ("hybrid", "What is SMART Recovery?"),
                     ("keyword", WARM_UP_QUESTION), ("keyword", "What is Al-Anon?"),
                     ("keyword", "What is SMART Recovery?")]
    assert [c.id for c in report.answers.cases] == ["q1", "q2"] == [c.id for c in report.setups.answers_b.cases]


def test_report_plots_tags_for_both_setups_and_the_change_since_the_previous_run_of_the_suite(
        tmp_path: Path, fake_settings, fake_retriever) -> None:
    from guide.evals.compare import compare
    from guide.evals.own_suite import parse_suite
    from guide.evals.render import figures, write_outputs
    from guide.evals.report import previous_run_of_suite
    from guide.evals.runner import EvalOptions, run_eval
    from guide.evals.setups import run_setups
    from guide.pipeline import Pipeline

    settings = fake_settings.with_overrides(evals_dir=FIXTURES / "evals")
    options = EvalOptions(suites=("conversations",), own_suite=parse_suite(SUITE.read_bytes(), SUITE.name))
    first = run_eval(settings, options, pipeline=Pipeline(settings, fake_retriever), run_id="r1")
    runs = tmp_path / "runs"
    write_outputs(first, runs / "r1")
    write_outputs(synthetic_run(tmp_path / "other", "A", run_id="other"), runs / "other")  # not an own suite
    assert previous_run_of_suite(runs, SUITE.name) == runs / "r1"
    assert previous_run_of_suite(runs, SUITE.name, exclude=runs / "r1") is None
    assert previous_run_of_suite(runs, "someone-else.csv") is None

    second = run_setups(settings, options, Setup("hybrid"), Setup("keyword", {"retrieval_mode": "keyword"}),
                        pipeline_for=lambda s: Pipeline(s, fake_retriever), run_id="r2")
    worse_before = first.model_copy(update={"metrics": {**first.metrics, "answers.pass_rate": 0.5}})
    second = second.model_copy(update={"comparison": compare(worse_before, second, str(runs / "r1"))})
    figs = dict(figures(second))
    tags = figs["Answer pass rate by tag (95% Wilson interval)"]
    assert [t.name for t in tags.data] == ["A: hybrid", "B: keyword"]
    assert {"faq", "family", "newcomer"} <= {x.split("<br>")[0] for x in tags.data[0].x}
    assert [t.name for t in figs["Answer latency distribution"].data] == ["A: hybrid", "B: keyword"]
    change = figs["Change since run r1"]
    assert list(change.data[0].y) == ["answers.pass_rate"] and change.data[0].x[0] > 0.4
