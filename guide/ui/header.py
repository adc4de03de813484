"""What every page shows first: the app's CSS and the help-line banner ("In crisis? Call or text 988 ·
Emergency 911 · SAMHSA …"). app.py draws it once per run, before st.navigation runs the page, so every page
(deep links included) has it exactly once, and it is drawn before anything on the page could fail."""

from __future__ import annotations

import streamlit as st

from guide.ui import render


def render_header() -> None:
    """Draw the CSS and the banner for the configured region; with unusable settings, draw the default
    region's banner, say what to fix and stop the page (the help lines still show)."""
    from guide import safety
    from guide.config import Settings, load_settings
    from guide.errors import GuideError

    try:
        region, problem = load_settings().region, None
    except GuideError as exc:
        region, problem = Settings.model_fields["region"].default, exc
    st.html(render.CSS)
    st.html(render.help_banner_html(tuple(safety.always_visible(region))))
    if problem is not None:
        st.error(f"The guide could not start: {problem}")
        st.stop()


__all__ = ["render_header"]
