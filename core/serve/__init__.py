"""`core serve`: our SSD network behind a real Triton Inference Server (through PyTriton) with dynamic batching."""
