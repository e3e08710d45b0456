"""MobileNet-v1-SSD exactly as dusty-nv/pytorch-ssd builds it (`mb1-ssd`), its priors, box ops and checkpoints."""
from core.model.checkpoint import LoadedModel, load_model, read_labels
from core.model.mobilenet_ssd import SSDInference, build_mobilenet_v1_ssd

__all__ = ["LoadedModel", "SSDInference", "build_mobilenet_v1_ssd", "load_model", "read_labels"]
