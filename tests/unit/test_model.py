"""The network matches pytorch-ssd's mb1-ssd state_dict layout and priors exactly (facts file as reference)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from core.model import SSDInference, build_mobilenet_v1_ssd
from core.model.box_ops import center_to_corner, corner_to_center, decode_locations
from core.model.priors import generate_priors

FACTS = json.loads((Path(__file__).parents[1] / "fixtures" / "pytorch_ssd_mb1.json").read_text())


def test_state_dict_keys_shapes_dtypes_match_pytorch_ssd_for_8_classes():
    network = build_mobilenet_v1_ssd(8)
    expected = [(e["key"], e["shape"], e["dtype"]) for e in FACTS["model"]["state_dict_keys"]]
    actual = [(k, list(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in network.state_dict().items()]
    assert actual == expected
    assert sum(p.numel() for p in network.parameters()) == FACTS["model"]["num_trainable_parameters"]


@pytest.mark.parametrize("num_classes", [2, 5, 21])
def test_only_head_shapes_depend_on_class_count(num_classes):
    reference = {e["key"]: e["shape"] for e in FACTS["model"]["state_dict_keys"]}
    state = build_mobilenet_v1_ssd(num_classes).state_dict()
    assert list(state) == list(reference)
    for key, tensor in state.items():
        if key.startswith("classification_headers."):
            expected = [6 * num_classes, *reference[key][1:]] if key.endswith("weight") else [6 * num_classes]
            assert list(tensor.shape) == expected, key
        else:
            assert list(tensor.shape) == reference[key], key


def test_priors_equal_pytorch_ssd_priors_bit_for_bit():
    priors = generate_priors()
    facts = FACTS["priors"]
    assert tuple(priors.shape) == (3000, 4) and priors.dtype == torch.float32
    assert hashlib.sha256(priors.numpy().tobytes()).hexdigest() == facts["sha256_of_float32_C_order_bytes"]
    assert priors.double().sum().item() == pytest.approx(facts["sum_of_all_prior_values_float64"], abs=1e-6)
    assert torch.allclose(priors[:6], torch.tensor(facts["first_6_priors_cxcywh"]), atol=1e-6)
    assert torch.allclose(priors[-1], torch.tensor(facts["last_prior_cxcywh"]), atol=1e-6)


def test_inference_outputs_softmax_scores_and_decoded_corner_boxes():
    torch.manual_seed(0)
    network = build_mobilenet_v1_ssd(4).eval()
    images = torch.randn(2, 3, 300, 300)
    with torch.no_grad():
        logits, locations = network(images)
        scores, boxes = SSDInference(network)(images)
    assert logits.shape == (2, 3000, 4) and locations.shape == (2, 3000, 4)
    assert torch.allclose(scores, torch.softmax(logits, dim=2))
    assert torch.allclose(scores.sum(-1), torch.ones(2, 3000), atol=1e-5)
    priors = generate_priors()
    assert torch.allclose(boxes, center_to_corner(decode_locations(locations, priors)), atol=1e-6)
    zero = center_to_corner(decode_locations(torch.zeros(3000, 4), priors))
    assert torch.allclose(corner_to_center(zero), priors, atol=1e-6)  # zero regression gives back the priors
