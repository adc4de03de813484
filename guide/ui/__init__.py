"""The Streamlit app's parts: `render` (pure Markdown/HTML builders), `session` (conversation state and the
guarded pipeline call) and `chat` (the chat page). Only `chat` imports Streamlit."""
