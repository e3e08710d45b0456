"""Streams page: connect a camera. The Jetson's sender command filled in for this server, what is arriving on the
configured ports, the configured streams (editable), and tools that explain any gst-launch-1.0 pipeline or convert its display sink to NVIDIA's."""
from __future__ import annotations

import streamlit as st

from dashboard import resources
from dashboard.components.stream_listen import listening_section, streams_editor_section
from dashboard.components.stream_tools import convert_section, explain_section, sender_command_section

st.title("Streams")
sender_command_section(resources.settings())
listening_section()
streams_editor_section()
explain_section()
convert_section()
