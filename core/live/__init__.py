"""Live processing of sources: `LivePipeline` (latest-frame-wins detection), a registry sharing one per source, and
`LiveService`, the one owner of every long-lived live object (built from the settings; see core.live.service)."""
from core.live.pipeline import LivePipeline, LiveResult
from core.live.registry import PipelineRegistry

__all__ = ["LivePipeline", "LiveResult", "PipelineRegistry"]
