"""Small Streamlit building blocks shared by pages: the session check, the escape for data shown as text, and the Live
page's video and health panels."""
