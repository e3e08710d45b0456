"""Live processing of one source: `LivePipeline` (latest-frame-wins detection) and a registry sharing it."""
from core.live.pipeline import LivePipeline, LiveResult
from core.live.registry import PipelineRegistry, registry

__all__ = ["LivePipeline", "LiveResult", "PipelineRegistry", "registry"]

