"""The chat page. It only renders: the pipeline decides (guide.pipeline), render.py builds the strings,
session.py holds the conversation. The help-line banner above it is drawn by app.py (guide.ui.header) before
any page runs, so it comes first and every page, deep links included, has it exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import streamlit as st

from guide.ui import render
from guide.ui.session import ChatConversation, ask, pipeline_slot

if TYPE_CHECKING:
    from guide.config import Settings
    from guide.feedback import SQLiteFeedbackStore
    from guide.pipeline import Pipeline
    from guide.types import Answer, Resource

CONVERSATION = "rg_conversation"
AUDIENCE = "rg_audience"
PENDING = "rg_pending"
STREAM_DELAY_S = 0.012


# ------------------------------------------------------------------------------------------ resources
@st.cache_resource(show_spinner=False)
def _feedback_store(path: str) -> "SQLiteFeedbackStore":
    from guide.feedback import open_feedback_store

    return open_feedback_store(path)


def _progress_text(stage: str, done: int, total: int) -> str:
    what = render.BUILD_STAGES.get(stage)
    if what is None or not total:
        return "Loading the search model…"
    return f"{what} (first run only): {done}/{total}"


def load_pipeline(settings: "Settings", help_lines: Sequence["Resource"]) -> "Pipeline":
    """The cached pipeline; the first run in a process builds the index while the page shows progress."""
    from guide.errors import GuideError
    from guide.pipeline import build_pipeline

    slot = pipeline_slot(settings.model_dump_json())  # filled by `guide app` before the server started
    if slot.ready:
        return slot.pipeline
    slot.start(lambda progress: build_pipeline(settings, progress=progress))
    holder = st.empty()
    with holder.status("Getting the guide ready…", expanded=True) as status:
        bar = st.progress(0.0, text="Loading the search model…")
        shown: tuple[str, int, int] | None = None
        while not slot.wait(0.25):
            if slot.state != shown:
                shown = slot.state
                stage, done, total = shown
                if total:
                    status.update(label="Building the search index (first run only)…")
                bar.progress(min(done / total, 1.0) if total else 0.0, text=_progress_text(stage, done, total))
        if slot.error is not None:
            status.update(label="The guide could not start", state="error", expanded=True)
            if isinstance(slot.error, GuideError):
                st.error(f"The guide could not start: {slot.error}")
            else:
                st.error(f"Sorry, the guide could not start ({type(slot.error).__name__}). Please try again later.")
            _show_help_lines(help_lines)
            st.button("Try again")
            st.stop()
        status.update(label="Ready", state="complete", expanded=False)
    holder.empty()
    return slot.pipeline


# ------------------------------------------------------------------------------------------ state
def _conversation() -> ChatConversation:
    if CONVERSATION not in st.session_state:
        st.session_state[CONVERSATION] = ChatConversation()
    return st.session_state[CONVERSATION]


def _new_conversation() -> None:
    """Clear everything but the audience."""
    st.session_state[CONVERSATION] = ChatConversation()
    st.session_state.pop(PENDING, None)


def _queue(question: str) -> None:
    st.session_state[PENDING] = question


def _on_feedback(db_path: str, conversation_id: str, i: int) -> None:
    from guide.errors import GuideError
    from guide.feedback import rating_from_thumbs

    conv = _conversation()
    if conv.id != conversation_id or i >= len(conv.answers):
        return
    rating = rating_from_thumbs(st.session_state.get(f"fb-{conversation_id}-{i}"))
    try:
        store = _feedback_store(db_path)
        if rating is None:
            entry = conv.feedback_ids.pop(i, None)
            if entry is not None:
                store.delete(entry)
        elif i in conv.feedback_ids:
            store.update(conv.feedback_ids[i], rating=rating)
        else:
            conv.feedback_ids[i] = store.record(rating, conv.questions[i], conv.answers[i])
    except GuideError:
        st.session_state["rg_feedback_failed"] = True


def _on_comment(db_path: str, conversation_id: str, i: int) -> None:
    from guide.errors import GuideError

    conv = _conversation()
    key = f"fbc-{conversation_id}-{i}-text"
    comment = str(st.session_state.get(key) or "").strip()
    entry = conv.feedback_ids.get(i)
    if conv.id != conversation_id or entry is None or not comment:
        return
    try:
        _feedback_store(db_path).update(entry, comment=comment[:2000])
        st.session_state[f"fbc-{conversation_id}-{i}-sent"] = True
    except GuideError:
        st.session_state["rg_feedback_failed"] = True


# ------------------------------------------------------------------------------------------ pieces
def _show_help_lines(resources: Sequence["Resource"]) -> None:
    st.html(render.resources_html(resources, "Help lines — free, confidential, 24/7"))


def _sidebar(settings: "Settings", help_lines: Sequence["Resource"]) -> None:
    with st.sidebar:
        st.html(render.resources_html(help_lines, "Help now — free, confidential, 24/7"))
        st.caption(f"Help lines for region: {settings.region}")
        st.markdown("### About this guide")
        st.markdown("Answers come only from vetted public sources, each shown under the answer. It is not a "
                    "clinician and not for emergencies.")
        st.caption(render.FEEDBACK_NOTICE)


def _welcome(audience: str) -> None:
    with st.container(border=True):
        st.markdown(render.WELCOME)
        st.markdown("**Try asking:**")
        for n, question in enumerate(render.QUICK_STARTS.get(audience, render.QUICK_STARTS["newcomer"])):
            st.button(question, key=f"qs-{audience}-{n}", on_click=_queue, args=(question,))


def _drip(text: str) -> Iterator[str]:
    """A checked answer, shown a few words at a time (it was composed and checked before the first word)."""
    for piece in render.word_pieces(text):
        yield render.answer_markdown(piece)
        time.sleep(STREAM_DELAY_S)


def _citations(answer: "Answer") -> None:
    if not answer.citations:
        return
    st.markdown("**Sources**")
    for c in answer.citations:
        st.markdown(render.citation_markdown(c))
        with st.expander(f"Preview the vetted passage [{c.n}]"):
            st.markdown(render.quote_markdown(c))


def _feedback(settings: "Settings", conv: ChatConversation, i: int) -> None:
    db = str(settings.feedback_db)
    st.feedback("thumbs", key=f"fb-{conv.id}-{i}", on_change=_on_feedback, args=(db, conv.id, i))
    if i not in conv.feedback_ids:
        if i == len(conv.answers) - 1:
            st.caption(render.FEEDBACK_NOTICE)
        return
    if st.session_state.get(f"fbc-{conv.id}-{i}-sent"):
        st.caption("Thanks — your feedback was saved.")
        return
    with st.form(key=f"fbc-{conv.id}-{i}", border=False, clear_on_submit=True):
        st.text_input("Anything to add? (optional)", key=f"fbc-{conv.id}-{i}-text", max_chars=2000,
                      placeholder="What was missing or unclear?")
        st.form_submit_button("Send comment", on_click=_on_comment, args=(db, conv.id, i))
    st.caption("Thanks — your rating was saved. " + render.FEEDBACK_NOTICE)


def _assistant(settings: "Settings", conv: ChatConversation, i: int, answer: "Answer", fresh: bool) -> None:
    """One assistant message, top to bottom as render.reply_parts says; a fresh answer is shown word by word."""
    parts = render.reply_parts(answer, conv.pinned)
    if parts.pinned:
        st.html(render.pinned_line_html(parts.pinned))
    if parts.card:
        st.html(render.crisis_card_html(answer.text, answer.resources))
    elif fresh:
        st.write_stream(_drip(answer.text))
    else:
        st.markdown(render.answer_markdown(answer.text))
    if answer.notice:
        st.info(answer.notice)
    if parts.side:
        heading = "Help lines — free, confidential, 24/7" if answer.decline_kind == "error" else "Help lines"
        st.html(render.resources_html(parts.side, heading))
    _citations(answer)
    _feedback(settings, conv, i)


def _user(question: str) -> None:
    with st.chat_message("user"):
        st.markdown(render.user_markdown(question))


# ------------------------------------------------------------------------------------------ page
def render_chat(settings: "Settings | None" = None) -> None:
    """The whole chat page (st.navigation's default page)."""
    from guide import safety
    from guide.config import load_settings

    settings = settings or load_settings()
    help_lines = tuple(safety.always_visible(settings.region))  # the banner itself is app.py's (guide.ui.header)
    _sidebar(settings, help_lines)
    st.title("Recovery Guide")
    st.caption("Peer support and recovery options, from vetted public sources — with the source under every answer.")
    pinned_slot = st.container()

    conv = _conversation()
    prompt = st.chat_input("Ask about meetings, family support, treatment…")
    message = prompt if prompt is not None else st.session_state.pop(PENDING, None)

    top = st.columns([3, 1], vertical_alignment="bottom")
    with top[0]:
        audience = st.segmented_control(
            "I'm asking as", options=list(render.AUDIENCE_LABELS), format_func=render.AUDIENCE_LABELS.get,
            default="newcomer", required=True, key=AUDIENCE,
        ) or "newcomer"
    with top[1]:
        st.button("New conversation", on_click=_new_conversation, icon=":material/refresh:",
                  disabled=conv.empty and message is None)

    if conv.empty and message is None:
        _welcome(audience)  # readable while a first run builds the index
    pipeline = load_pipeline(settings, help_lines)

    for i, question, answer in conv.exchanges():
        _user(question)
        with st.chat_message("assistant"):
            _assistant(settings, conv, i, answer, False)

    if message is not None:
        _user(message)
        with st.chat_message("assistant"):
            with st.spinner(render.THINKING):
                answer = ask(pipeline, conv, message, audience, settings.region)
            _assistant(settings, conv, len(conv.answers) - 1, answer, True)

    if conv.pinned and conv.answers[-1].route != "crisis":  # right after a crisis turn its card is the focus
        with pinned_slot:
            st.html(render.pinned_html(conv.pinned))
    if st.session_state.pop("rg_feedback_failed", False):
        st.warning("Sorry, your feedback couldn't be saved just now. Please try again in a moment.")
    if not conv.empty:
        _export(conv, help_lines)


def _export(conv: ChatConversation, help_lines: Sequence["Resource"]) -> None:
    from guide.export import conversation_markdown, export_filename

    data = conversation_markdown(conv.questions, conv.answers, help_lines=help_lines)
    st.download_button("Download this conversation (Markdown)", data=data, file_name=export_filename(),
                       mime="text/markdown", on_click="ignore", icon=":material/download:")


__all__ = ["render_chat", "load_pipeline"]
