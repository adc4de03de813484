"""The Streamlit app through streamlit.testing's AppTest: what a user sees for ordinary, follow-up, crisis,
hostile and failing turns; feedback and export. Fast tier: fixture corpus, hash embedder, tmp data dir."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")
from _staff import open_page  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "app.py"
FIXTURE_CORPUS = Path(__file__).resolve().parent / "fixtures" / "corpus"
TIMEOUT = 180  # the first run builds the fixture index; generous for a busy 2-core CI box


@pytest.fixture(scope="module")
def app_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One data dir for the module, so the app's cached pipeline is built once for all tests."""
    root = tmp_path_factory.mktemp("app")
    corpus = root / "corpus"
    shutil.copytree(FIXTURE_CORPUS, corpus)
    return {"data": root / "data", "corpus": corpus}


@pytest.fixture()
def app(app_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> AppTest:
    env = {"GUIDE_DATA_DIR": str(app_dirs["data"]), "GUIDE_CORPUS_DIR": str(app_dirs["corpus"]),
           "GUIDE_EMBEDDING_MODEL": "hash:384", "GUIDE_REGION": "US"}
    return open_page(APP, monkeypatch, env, TIMEOUT)


def ask(at: AppTest, message: str) -> AppTest:
    at.chat_input[0].set_value(message).run()
    assert not at.exception, at.exception
    return at


def texts(node: Any) -> str:
    """Everything a user can read inside a node (markdown, captions, alerts, html)."""
    parts = [m.value for m in node.markdown] + [c.value for c in node.caption]
    parts += [h.value for h in node.get("html")]
    parts += [e.value for e in (*node.error, *node.warning, *node.info)]
    return "\n".join(str(p) for p in parts)


def assistant_messages(at: AppTest) -> list[Any]:
    return [m for m in at.chat_message if m.name == "assistant"]


def source_lines(message: Any) -> list[str]:
    return [m.value for m in message.markdown if m.value.startswith("**\\[")]


def crisis_cards(node: Any) -> list[str]:
    return [h.value for h in node.get("html") if "rg-crisis-card" in h.value]


def pinned_blocks(at: AppTest) -> list[str]:
    return [h.value for h in at.main.get("html") if 'data-testid="rg-pinned"' in h.value]


def banners(at: AppTest) -> list[str]:
    return [h.value for h in at.main.get("html") if "In crisis?" in h.value]


# ------------------------------------------------------------------------------------------ first visit
def test_first_visit_shows_help_lines_welcome_and_quick_starts(app: AppTest) -> None:
    banner = banners(app)
    assert len(banner) == 1, "the chat page shows the help-line banner exactly once"
    assert "Call or text 988" in banner[0] and "Emergency 911" in banner[0]
    assert 'href="tel:988"' in banner[0] and "SAMHSA National Helpline" in banner[0]
    page = texts(app.main)
    assert "not a clinician" in page and "not for emergencies" in page
    labels = [b.label for b in app.button]
    assert "What happens at a first AA meeting?" in labels  # newcomer quick start
    assert "SAMHSA National Helpline" in texts(app.sidebar)


def test_audience_selector_changes_quick_starts(app: AppTest) -> None:
    app.segmented_control(key="rg_audience").set_value("family").run()
    labels = [b.label for b in app.button]
    assert "What is Al-Anon?" in labels
    assert "What happens at a first AA meeting?" not in labels


def test_quick_start_button_asks_the_question(app: AppTest) -> None:
    next(b for b in app.button if b.label == "Is SMART Recovery religious?").click().run()
    assert not app.exception
    [user] = [m for m in app.chat_message if m.name == "user"]
    assert "SMART Recovery religious" in user.markdown[0].value
    assert source_lines(assistant_messages(app)[0])


# ------------------------------------------------------------------------------------------ answers
def test_ordinary_question_shows_answer_and_citations(app: AppTest) -> None:
    ask(app, "What happens at an Al-Anon meeting?")
    [reply] = assistant_messages(app)
    body = texts(reply)
    assert "[1]" in body
    sources = source_lines(reply)
    assert sources, body
    assert "Al-Anon" in "\n".join(sources)
    assert "](<https://" in sources[0]  # a link to the original public source
    assert reply.expander, "each source has a preview of the vetted passage"
    assert reply.expander[0].markdown[0].value.startswith("> ")
    assert not crisis_cards(app.main)
    assert "Welcome." not in texts(app.main)  # the welcome goes away once the conversation starts


def test_follow_up_uses_the_conversation(app: AppTest) -> None:
    ask(app, "What is SMART Recovery?")
    ask(app, "Is it religious?")
    first, second = assistant_messages(app)
    assert "SMART Recovery" in "\n".join(source_lines(second)), texts(second)
    assert "religio" in texts(second).lower() or "secular" in texts(second).lower()


def test_crisis_message_shows_the_card_and_no_retrieved_answer(app: AppTest) -> None:
    ask(app, "I want to kill myself")
    [reply] = assistant_messages(app)
    cards = crisis_cards(reply)
    assert cards, texts(reply)
    card = cards[0]
    assert "988" in card and 'href="tel:988"' in card and 'href="sms:988"' in card
    assert 'href="sms:741741?body=HOME"' in card
    assert not source_lines(reply) and not reply.expander  # nothing retrieved, nothing cited


def test_resources_stay_pinned_after_a_crisis_turn(app: AppTest) -> None:
    ask(app, "I want to kill myself")
    assert not pinned_blocks(app), "right after the crisis turn, its card is the one place the lines are shown"
    ask(app, "What happens at an Al-Anon meeting?")
    assert pinned_blocks(app) and "tel:988" in pinned_blocks(app)[0], "pinned at the top from then on"
    ask(app, "Is it religious?")
    assert pinned_blocks(app) and len(crisis_cards(app.main)) == 1
    later = assistant_messages(app)[1]
    assert [h.value for h in later.get("html") if "rg-pinned-line" in h.value], "the later reply repeats the help lines"
    # a new conversation clears the pin but keeps the audience
    app.segmented_control(key="rg_audience").set_value("family").run()
    next(b for b in app.button if b.label == "New conversation").click().run()
    assert not pinned_blocks(app) and not assistant_messages(app)
    assert app.segmented_control(key="rg_audience").value == "family"


# ------------------------------------------------------------------------------------------ feedback, export
def test_feedback_is_written_to_the_database(app: AppTest, app_dirs: dict[str, Path]) -> None:
    from guide.feedback import SQLiteFeedbackStore

    store = SQLiteFeedbackStore(app_dirs["data"] / "feedback.sqlite3")
    before = {e.id for e in store.list()}
    ask(app, "Does Al-Anon cost anything?")
    assert "feedback stores" in texts(app.main).lower() or "saves that one question" in texts(app.main)
    app.feedback[0].set_value(0).run()  # thumbs down
    assert not app.exception
    [entry] = [e for e in store.list() if e.id not in before]
    assert entry.rating == -1 and entry.question == "Does Al-Anon cost anything?"
    assert entry.answer and entry.citations and entry.citations[0].url.startswith("https://")
    assert entry.route == "answer" and entry.audience == "newcomer"
    assert store.journal_mode() == "wal"

    app.text_input[0].set_value("Please add the meeting finder link")
    next(b for b in app.button if b.label == "Send comment").click().run()
    [entry] = [e for e in store.list() if e.id not in before]
    assert entry.comment == "Please add the meeting finder link"
    assert "Thanks" in texts(app.main)


def test_export_contains_the_conversation_and_sources(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.runtime.media_file_manager import MediaFileManager

    saved: list[tuple[bytes | str, str, str | None]] = []
    real_add = MediaFileManager.add

    def capture(self, data, mimetype, coordinates, file_name=None, is_for_static_download=False):  # noqa: ANN001
        saved.append((data, mimetype, file_name))
        return real_add(self, data, mimetype, coordinates, file_name, is_for_static_download)

    monkeypatch.setattr(MediaFileManager, "add", capture)
    ask(app, "What is SMART Recovery?")
    ask(app, "Is it religious?")
    assert app.get("download_button"), "an export button appears once there is a conversation"
    data, mimetype, file_name = saved[-1]
    text = data.decode() if isinstance(data, bytes) else data
    assert mimetype.startswith("text/markdown") and file_name and file_name.endswith(".md")
    assert "What is SMART Recovery?" in text and "Is it religious?" in text
    assert "**Sources:**" in text and "- \\[1\\] " in text and "<https://" in text
    assert "988" in text  # the help lines travel with the export


# ------------------------------------------------------------------------------------------ hostile input, failures
def test_html_and_markdown_in_a_question_are_escaped(app: AppTest) -> None:
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script> **bold** [click](javascript:alert(3))'
    ask(app, hostile)
    [user] = [m for m in app.chat_message if m.name == "user"]
    shown = user.markdown[0]
    assert not shown.proto.allow_html
    assert re.search(r"(?<!\\)[<>\[\]*]", shown.value) is None, shown.value  # every markup character escaped
    assert "\\<script\\>" in shown.value and "\\*\\*bold\\*\\*" in shown.value and "\\[click\\]" in shown.value
    for node in (*app.main.get("html"), *app.sidebar.get("html")):
        assert "alert(" not in node.value and "javascript:" not in node.value
    for md in app.main.markdown:
        if "alert(" in md.value:
            assert not md.proto.allow_html


def test_a_pipeline_failure_shows_a_kind_error_and_the_resources(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    from guide.pipeline import Pipeline

    def broken(self, history, message, audience="newcomer"):  # noqa: ANN001
        raise RuntimeError("boom: secret internals")

    monkeypatch.setattr(Pipeline, "answer", broken)
    ask(app, "What happens at an Al-Anon meeting?")
    assert not app.exception
    [reply] = assistant_messages(app)
    body = texts(reply)
    assert "Sorry" in body and "try again" in body
    assert "boom" not in texts(app.main) and "Traceback" not in texts(app.main)
    assert "tel:988" in body and "tel:911" in body and "SAMHSA National Helpline" in body
    assert not source_lines(reply)


def test_a_corpus_that_cannot_load_shows_a_kind_error_and_the_help_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "no-corpus"
    empty.mkdir()
    monkeypatch.setenv("GUIDE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GUIDE_CORPUS_DIR", str(empty))
    monkeypatch.setenv("GUIDE_EMBEDDING_MODEL", "hash:384")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    page = texts(at.main)
    assert "could not start" in page and "Traceback" not in page
    assert "tel:988" in page and "SAMHSA National Helpline" in page
    assert any(b.label == "Try again" for b in at.button)


# ------------------------------------------------------------------------------------------ pure parts
def test_resource_links_are_limited_to_tel_sms_and_https() -> None:
    from guide.types import Resource
    from guide.ui.render import crisis_card_html, resource_actions

    evil = Resource(id="x", name='<b onmouseover="x">Line</b>', phone="988", tel="javascript:alert(1)",
                    sms="sms:741741", sms_body='HOME"><script>', url="http://insecure.example")
    assert [a.kind for a in resource_actions(evil)] == ["text"]
    card = crisis_card_html("- <img src=x>\nStay safe & call", (evil,))
    assert "<script" not in card and "<img" not in card and "<b " not in card and "javascript:" not in card
    assert "&lt;img src=x&gt;" in card and 'href="sms:741741?body=HOME%22%3E%3Cscript%3E"' in card


def test_pipeline_slot_builds_once_in_the_background_and_retries_after_a_failure() -> None:
    from guide.ui.session import PipelineSlot

    calls: list[int] = []

    def flaky(progress):  # noqa: ANN001
        calls.append(1)
        progress("embedding", 1, 2)
        if len(calls) == 1:
            raise RuntimeError("disk full")
        return "pipeline"

    slot = PipelineSlot()
    slot.start(flaky)
    assert slot.wait(10) and isinstance(slot.error, RuntimeError) and not slot.ready
    slot.start(flaky)
    assert slot.wait(10) and slot.ready and slot.pipeline == "pipeline" and slot.error is None
    slot.start(flaky)  # already built: nothing happens
    assert len(calls) == 2 and slot.state == ("embedding", 1, 2)


# ------------------------------------------------------------------------------------------ every page
def test_the_staff_page_has_the_same_banner_as_the_chat_page(app: AppTest) -> None:
    chat_banner = banners(app)
    app.switch_page("guide/ui/staff.py").run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Staff: evaluation"
    staff_banner = banners(app)
    assert staff_banner == chat_banner and len(staff_banner) == 1
    assert 'href="tel:988"' in staff_banner[0] and "SAMHSA National Helpline" in staff_banner[0]


def test_unusable_settings_still_show_the_help_lines(app_dirs: dict[str, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUIDE_DATA_DIR", str(app_dirs["data"]))
    monkeypatch.setenv("GUIDE_CORPUS_DIR", str(app_dirs["corpus"]))
    monkeypatch.setenv("GUIDE_EMBEDDING_MODEL", "hash:384")
    monkeypatch.setenv("GUIDE_REGION", "Mars")
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    [banner] = banners(at)
    assert 'href="tel:988"' in banner  # the default region's lines
    assert "could not start" in texts(at.main) and "GUIDE_REGION" in texts(at.main)


def test_no_pages_directory_next_to_app_py() -> None:
    """Streamlit would auto-discover it as an old-style multipage app: a deep link such as /staff then shows
    that directory's navigation ("app / staff") and none of app.py's header (the help-line banner)."""
    assert not (REPO / "pages").exists()
