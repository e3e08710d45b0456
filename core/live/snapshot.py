"""Pictures of a viewer's view for the browser: a PNG snapshot to download and JPEG data URIs for the image view."""
from __future__ import annotations

import base64

import numpy as np

from core.live.viewer import Viewer, placeholder_image, render_view
from core.pictures.imageio import encode_image


def snapshot_png(viewer: Viewer) -> bytes:
    """The newest frame as this viewer sees it (its filter applied), as PNG; a placeholder before any frame."""
    pipeline = viewer.pipeline
    result = pipeline.latest() if pipeline is not None else None
    if result is None:
        return encode_image(placeholder_image(None, "NO FRAME YET"), ".png")
    return encode_image(render_view(result, viewer.filter, viewer.class_names()), ".png")


def jpeg_data_uri(image: np.ndarray) -> str:
    """`data:image/jpeg;base64,...` for an <img> that needs no media endpoint."""
    return "data:image/jpeg;base64," + base64.b64encode(encode_image(image, ".jpg")).decode("ascii")
