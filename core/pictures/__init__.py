"""Pictures: image files read and written with clear errors, boxes drawn on a frame, and the demo world's shapes."""
