"""Detection behind one contract: `Detections`, the `Detector` protocol (with its stage-timing capability,
`StagedDetector`) and `load_detector(spec)`, which picks a backend by name (torch, onnxruntime, tensorrt, triton);
beside them the stages every backend shares (preprocess, postprocess, `staged`), overlay drawing and the one-call
image service for UIs."""
from core.detect.base import Detections, Detector, DetectorSpec, StagedDetector, runs_spec
from core.detect.registry import available_backends, load_detector

__all__ = ["Detections", "Detector", "DetectorSpec", "StagedDetector", "available_backends", "load_detector",
           "runs_spec"]
