"""`core serve`: our SSD network behind a real Triton Inference Server (its Python backend, several model instances)
with dynamic batching."""
