"""Recovery Guide's Streamlit app: `guide app` (or `streamlit run app.py`). Thin: the pages live in guide.ui
and pages/; everything they show comes from guide.pipeline."""

from pathlib import Path

import streamlit as st

from guide.ui.chat import render_chat

st.set_page_config(page_title="Recovery Guide", page_icon=":material/support:", layout="centered",
                   menu_items={"About": "Recovery Guide: answers about peer support and recovery options from "
                                        "vetted public sources. Not a clinician; not for emergencies."})

pages = [st.Page(render_chat, title="Chat", icon=":material/forum:", default=True)]
staff = Path(__file__).resolve().parent / "pages" / "staff.py"
if staff.is_file():
    pages.append(st.Page(staff, title="Staff", icon=":material/monitoring:", url_path="staff"))
st.navigation(pages, position="sidebar" if len(pages) > 1 else "hidden").run()
