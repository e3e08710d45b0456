"""The Streamlit dashboard: thin pages that call core and db."""
