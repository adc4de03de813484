"""The Streamlit app's parts: `render` (pure Markdown/HTML builders), `session` (conversation state and the
guarded pipeline call), `header` (the help-line banner every page shows first), `chat` (the chat page) and
`staff` (the staff evaluation page). Only `header`, `chat` and `staff` import Streamlit."""
