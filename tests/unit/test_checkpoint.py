"""Loading pytorch-ssd checkpoints: round trip, and one-line errors for every kind of wrong file."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from core.cli import main
from core.errors import CheckpointError
from core.model import build_mobilenet_v1_ssd, load_model, read_labels
from core.model.checkpoint import save_state_dict, write_labels
from core.pictures.imageio import write_image


def test_round_trip_keeps_every_tensor(random_model):
    weights, labels = random_model
    loaded = load_model(weights, labels)
    on_disk = torch.load(weights, weights_only=True)
    assert list(on_disk) == list(loaded.network.state_dict())
    for key, tensor in loaded.network.state_dict().items():
        assert torch.equal(tensor, on_disk[key]), key
    assert loaded.class_names[0] == "BACKGROUND" and len(loaded.class_names) == 8


def test_fp16_state_dict_loads_as_fp32(random_model, tmp_path):
    weights, labels = random_model
    network = load_model(weights, labels).network
    half = save_state_dict(network, tmp_path / "half.pth", half=True)
    loaded = load_model(half, labels).network
    key = "classification_headers.0.weight"
    assert loaded.state_dict()[key].dtype == torch.float32
    assert torch.allclose(loaded.state_dict()[key], network.state_dict()[key], atol=1e-3)


def test_labels_written_like_train_ssd(tmp_path):
    path = write_labels(["BACKGROUND", "Zebra", "Whale"], tmp_path / "labels.txt")
    assert path.read_bytes() == b"BACKGROUND\nZebra\nWhale"  # no trailing newline
    assert read_labels(path) == ["BACKGROUND", "Zebra", "Whale"]


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_key_is_named(random_model, tmp_path):
    weights, labels = random_model
    state = torch.load(weights, weights_only=True)
    del state["base_net.5.4.running_var"]
    torch.save(state, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError) as error:
        load_model(tmp_path / "missing.pth", labels)
    assert "missing keys: base_net.5.4.running_var" in _one_line(error)


def test_wrong_class_count_is_explained(random_model, tmp_path):
    weights, _ = random_model
    write_labels(["BACKGROUND", "Zebra", "Whale"], tmp_path / "labels.txt")
    with pytest.raises(CheckpointError) as error:
        load_model(weights, tmp_path / "labels.txt")
    message = _one_line(error)
    assert "trained for 8 classes" in message and "labels.txt lists 3" in message


def test_wrong_shape_and_unexpected_keys_are_named(random_model, tmp_path):
    weights, labels = random_model
    state = torch.load(weights, weights_only=True)
    state["extras.0.0.weight"] = torch.zeros(1, 1, 1, 1)
    state["fc.weight"] = torch.zeros(3)
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError) as error:
        load_model(tmp_path / "odd.pth", labels)
    message = _one_line(error)
    assert "unexpected keys: fc.weight" in message and "wrong shapes: extras.0.0.weight" in message


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "not a PyTorch checkpoint"),
        (b"hello, I am a text file", "not a PyTorch checkpoint"),
        (pickle.dumps({"a": 1}, protocol=2), "not a readable PyTorch checkpoint"),
    ],
)
def test_garbage_files_fail_cleanly(tmp_path, random_model, content, expected):
    _, labels = random_model
    (tmp_path / "bad.pth").write_bytes(content)
    with pytest.raises(CheckpointError) as error:
        load_model(tmp_path / "bad.pth", labels)
    assert expected in _one_line(error)


def test_checkpoint_without_tensors_is_refused(tmp_path, random_model):
    _, labels = random_model
    torch.save({"epoch": 3, "lr": 0.01}, tmp_path / "meta.pth")
    with pytest.raises(CheckpointError) as error:
        load_model(tmp_path / "meta.pth", labels)
    assert "does not hold a state_dict of tensors" in _one_line(error)


def test_truncated_checkpoint_fails_cleanly(random_model, tmp_path):
    weights, labels = random_model
    (tmp_path / "cut.pth").write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    with pytest.raises(CheckpointError) as error:
        load_model(tmp_path / "cut.pth", labels)
    assert "not a readable PyTorch checkpoint" in _one_line(error)


def test_arbitrary_pickled_objects_are_refused(tmp_path, random_model):
    _, labels = random_model
    torch.save({"payload": ValueError("x")}, tmp_path / "objects.pth")
    with pytest.raises(CheckpointError) as error:
        load_model(tmp_path / "objects.pth", labels)
    assert "refusing to unpickle" in _one_line(error)


def test_labels_must_start_with_background(tmp_path):
    (tmp_path / "labels.txt").write_text("Zebra\nWhale\n")
    with pytest.raises(CheckpointError) as error:
        read_labels(tmp_path / "labels.txt")
    assert "must start with BACKGROUND" in _one_line(error)


def test_cli_reports_bad_checkpoint_in_one_line_with_exit_2(random_model, tmp_path, capsys):
    _, labels = random_model
    torch.save(build_mobilenet_v1_ssd(3).state_dict(), tmp_path / "three.pth")
    image = write_image(np.zeros((10, 10, 3), np.uint8), tmp_path / "img.png")
    code = main(["detect", "--weights", str(tmp_path / "three.pth"), "--labels", str(labels), "--image", str(image)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "trained for 3 classes" in err
