"""Frame sources behind one `open_source(uri)`: RTP H.264/H.265, GStreamer, files, webcams and the demo scene."""
from core.stream.base import Frame, FrameSource, SourceHealth
from core.stream.sources import open_source, parse_source_uri

__all__ = ["Frame", "FrameSource", "SourceHealth", "open_source", "parse_source_uri"]
