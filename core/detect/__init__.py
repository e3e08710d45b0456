"""Detectors behind one contract: `load_detector(spec)` returns a backend (torch, onnxruntime, tensorrt)."""
from core.detect.base import Detections, Detector, DetectorSpec
from core.detect.registry import available_backends, load_detector

__all__ = ["Detections", "Detector", "DetectorSpec", "available_backends", "load_detector"]
