"""Small Streamlit building blocks shared by pages: the login gate and the Live page's video and health panels."""
