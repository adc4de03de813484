"""Recovery Guide's Streamlit app: `guide app` (or `streamlit run app.py`). Thin: the pages live in guide.ui;
everything they show comes from guide.pipeline. The header (help-line banner) is drawn here, before the page
runs, so every page and every deep link has it. The favicon is an emoji: Streamlit fetches :material:
favicons from the internet, emoji ones are inline (pages have no icon for the same reason)."""

from pathlib import Path

import streamlit as st

from guide.ui.chat import render_chat
from guide.ui.header import render_header

STAFF_PAGE = Path(__file__).resolve().parent / "guide" / "ui" / "staff.py"  # a file page: AppTest can switch to it

st.set_page_config(page_title="Recovery Guide", page_icon="🧭", layout="centered",
                   menu_items={"About": "Recovery Guide: answers about peer support and recovery options from "
                                        "vetted public sources. Not a clinician; not for emergencies."})

page = st.navigation([st.Page(render_chat, title="Chat", default=True),
                      st.Page(STAFF_PAGE, title="Staff", url_path="staff")], position="sidebar")
render_header()
page.run()
