"""Recovery Guide's Streamlit app: `guide app` (or `streamlit run app.py`). Thin: the pages live in guide.ui
and pages/; everything they show comes from guide.pipeline. The favicon is an emoji: Streamlit
fetches :material: favicons from the internet, emoji ones are inline (pages have no icon for the same reason)."""

from pathlib import Path

import streamlit as st

from guide.ui.chat import render_chat

st.set_page_config(page_title="Recovery Guide", page_icon="🧭", layout="centered",
                   menu_items={"About": "Recovery Guide: answers about peer support and recovery options from "
                                        "vetted public sources. Not a clinician; not for emergencies."})

pages = [st.Page(render_chat, title="Chat", default=True)]
staff = Path(__file__).resolve().parent / "pages" / "staff.py"
if staff.is_file():
    pages.append(st.Page(staff, title="Staff", url_path="staff"))
st.navigation(pages, position="sidebar" if len(pages) > 1 else "hidden").run()
