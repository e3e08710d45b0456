"""The frames model's outputs on the wire: a batch's detections padded into fixed tensors (boxes, scores, labels,
count) and back; one rule for the server that pads (core serve) and the client that unpads (the Triton backend)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.detect.base import Detections
from core.errors import UserError
from core.serve.names import FRAME_OUTPUTS, PADDING_LABEL


def pad_detections(detections: Sequence[Detections]) -> dict[str, np.ndarray]:
    """A batch's detections as the frames model's outputs, padded to the frame with the most detections (at least
    one row: the Python backend cannot pass an empty tensor)."""
    longest = max([1, *(len(found) for found in detections)])
    outputs = {"boxes": np.zeros((len(detections), longest, 4), np.float32),
               "scores": np.zeros((len(detections), longest), np.float32),
               "labels": np.full((len(detections), longest), PADDING_LABEL, np.int32),
               "count": np.array([[len(found)] for found in detections], np.int32).reshape(-1, 1)}
    for row, found in enumerate(detections):
        outputs["boxes"][row, :len(found)] = found.boxes
        outputs["scores"][row, :len(found)] = found.scores
        outputs["labels"][row, :len(found)] = found.labels
    return outputs


def unpad_detections(outputs: dict[str, np.ndarray]) -> list[Detections]:
    """The frames model's outputs for a batch as one `Detections` per frame, padding dropped."""
    boxes, scores, labels, counts = (outputs[name] for name in FRAME_OUTPUTS)
    if not (len(boxes) == len(scores) == len(labels) == len(counts)) or np.any(counts < 0) \
            or np.any(counts > scores.shape[1]):
        raise UserError(f"the frames model answered malformed outputs: counts {counts.ravel().tolist()} for "
                        f"{scores.shape[1]} rows per frame")
    return [Detections(boxes[row, :count].astype(np.float32), scores[row, :count].astype(np.float32),
                       labels[row, :count].astype(np.int64))
            for row, count in enumerate(int(count) for count in counts[:, 0])]
