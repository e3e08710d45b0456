"""Training: pytorch-ssd's target matching and loss, a short CPU run that learns, checkpoints, resume."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from core.cli import main
from core.data.synthetic import make_synthetic_dataset
from core.detect import DetectorSpec, load_detector
from core.errors import UserError
from core.model.box_ops import center_to_corner
from core.model.priors import generate_priors
from core.optimize.multibox_loss import hard_negative_mask, multibox_loss
from core.optimize.prior_matching import match_priors
from core.optimize.train import STATE_FILE, TrainConfig, Trainer, checkpoint_name

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("synth") / "shapes", images=80, seed=3)


def test_a_box_equal_to_a_prior_matches_it_with_zero_regression():
    priors = generate_priors()
    box = center_to_corner(priors[100])[None]
    locations, labels = match_priors(box, torch.tensor([4]), priors)
    assert labels[100] == 4 and torch.allclose(locations[100], torch.zeros(4), atol=1e-5)
    assert (labels[:50] == 0).all()  # far-away priors are background


def test_every_box_claims_its_best_prior_even_below_half_iou():
    priors = generate_priors()
    tiny = torch.tensor([[0.50, 0.50, 0.52, 0.53]])  # far smaller than any prior: best IoU < 0.5
    _, labels = match_priors(tiny, torch.tensor([2]), priors)
    assert int((labels == 2).sum()) == 1


def test_empty_image_is_all_background():
    locations, labels = match_priors(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), generate_priors())
    assert labels.sum() == 0 and locations.shape == (3000, 4)


def test_hard_negative_mining_keeps_three_negatives_per_positive():
    labels = torch.zeros(2, 20, dtype=torch.long)
    labels[0, [3, 7]] = 1  # image 0: 2 positives -> 6 negatives
    background_loss = torch.arange(40, dtype=torch.float32).view(2, 20)
    mask = hard_negative_mask(background_loss, labels)
    assert int(mask[0].sum()) == 8 and int(mask[1].sum()) == 0
    assert mask[0, 14:20].all() and not mask[0, 13]  # the six highest-loss negatives


def test_loss_is_zero_for_a_perfect_prediction():
    labels = torch.tensor([[0, 2, 0, 0, 0, 0, 0, 0]])
    confidences = torch.full((1, 8, 3), -50.0)
    confidences[0, torch.arange(8), labels[0]] = 50.0
    targets = torch.randn(1, 8, 4)
    regression, classification = multibox_loss(confidences, targets.clone(), labels, targets)
    assert float(regression) == 0.0 and float(classification) < 1e-6


def _config(data, output, epochs, **extra) -> TrainConfig:
    return TrainConfig(data=data, output=output, epochs=epochs, batch_size=8, workers=0, device="cpu", seed=0,
                       lr=0.01, **extra)


def test_two_cpu_epochs_lower_the_loss_and_write_loadable_pytorch_ssd_checkpoints(tiny_dataset, tmp_path):
    seen = []
    checkpoint = Trainer(_config(tiny_dataset, tmp_path, 2), on_epoch=seen.append).run()
    assert [m["epoch"] for m in seen] == [0, 1]
    assert seen[1]["train_loss"] < seen[0]["train_loss"]
    for metrics in seen:
        assert metrics["images_per_sec"] > 0 and metrics["epoch_seconds"] > 0
        assert {"val_loss", "val_map50", "train_regression_loss", "train_classification_loss"} <= set(metrics)
        assert 0.0 <= metrics["val_map50"] <= 1.0
    assert checkpoint.name == checkpoint_name(1, seen[1]["val_loss"])
    assert checkpoint.name.startswith("mb1-ssd-Epoch-1-Loss-") and repr(seen[1]["val_loss"]) in checkpoint.name
    labels = (tmp_path / "labels.txt").read_text()
    assert labels.startswith("BACKGROUND\n") and not labels.endswith("\n")
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [0, 1]
    state = torch.load(checkpoint, weights_only=True)
    assert len(state) == 202 and all(isinstance(v, torch.Tensor) for v in state.values())
    detector = load_detector(DetectorSpec(checkpoint, tmp_path / "labels.txt", score_threshold=0.01))
    frame = np.full((240, 320, 3), 90, np.uint8)
    assert len(detector.detect([frame, frame])) == 2


def test_resume_continues_epoch_count_and_lr_schedule(tiny_dataset, tmp_path):
    first = Trainer(_config(tiny_dataset, tmp_path, 1, evaluate_map=False, t_max=4)).run()
    expected_lr = 0.01 * (1 + math.cos(math.pi * 1 / 4)) / 2  # cosine schedule after one of four epochs
    resumed = Trainer(_config(tiny_dataset, tmp_path, 4, evaluate_map=False, t_max=4, resume=first))
    assert resumed.start_epoch == 1
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(expected_lr)
    assert resumed.optimizer.state_dict()["state"], "momentum buffers come back from training-state.pt"
    (tmp_path / STATE_FILE).unlink()  # a checkpoint from pytorch-ssd itself has no state file: epoch from the name
    from_name = Trainer(_config(tiny_dataset, tmp_path, 4, evaluate_map=False, t_max=4, resume=first))
    assert from_name.start_epoch == 1
    assert from_name.optimizer.param_groups[0]["lr"] == pytest.approx(expected_lr)


def test_train_cli_records_a_run_with_per_epoch_metrics(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDS_DB_URL", f"sqlite:///{tmp_path / 'history.sqlite'}")
    code = main(["train", "--data", str(tiny_dataset), "--output", str(tmp_path / "model"), "--epochs", "1",
                 "--batch-size", "8", "--workers", "0", "--device", "cpu", "--no-map"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["images_per_sec"] > 0 and printed["epoch_seconds"] > 0
    assert main(["runs", "list", "--kind", "train", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["id"] == printed["run_id"] and listed["status"] == "succeeded"
    assert {"images_per_sec", "epoch_seconds", "train_loss", "val_loss"} <= set(listed["metrics"])
    assert listed["metrics"]["images_per_sec"]["unit"] == "img/s"
    assert main(["runs", "show", str(printed["run_id"])]) == 0
    shown = capsys.readouterr().out
    per_epoch = [line.split() for line in shown.splitlines() if line.startswith(("images_per_sec", "epoch_seconds"))]
    assert any(row[-1] == "0" for row in per_epoch), "per-epoch metrics carry their epoch"
    assert main(["report", "training"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| device | Images/sec | Time per epoch | batch size | dataset |"
    cells = [cell.strip() for cell in table[2].strip("|").split("|")]
    assert cells[0] == listed["device"] and float(cells[1]) > 0 and cells[3] == "8" and cells[4] == "shapes"


def test_report_reads_a_history_imported_from_another_device(tmp_path, capsys):
    from core.config import DEMO_DIR

    url = f"sqlite:///{tmp_path / 'fleet.sqlite'}"
    assert main(["runs", "--db-url", url, "import", str(DEMO_DIR / "training-runs.jsonl")]) == 0
    assert main(["report", "training", "--db-url", url]) == 0
    table = capsys.readouterr().out.strip().splitlines()
    rows = table[table.index("|---|---:|---:|---:|---|") + 1:]  # newest first: the demo weights' training
    assert rows[0].startswith("| NVIDIA H100") and "| 64 | synthetic |" in rows[0], rows
    assert len(rows) == 4 and all(row.startswith("| NVIDIA H100") for row in rows), rows


def test_pretrained_ssd_initialises_everything_but_the_heads(tmp_path):
    from core.model import build_mobilenet_v1_ssd
    from core.model.checkpoint import save_state_dict
    from core.optimize.train import initialise

    torch.manual_seed(5)
    voc = save_state_dict(build_mobilenet_v1_ssd(21), tmp_path / "mobilenet-v1-ssd-mp-0_675.pth")  # 21-class VOC SSD
    source = torch.load(voc, weights_only=True)
    network = build_mobilenet_v1_ssd(8)
    initialise(network, voc)
    state = network.state_dict()
    assert torch.equal(state["base_net.13.3.weight"], source["base_net.13.3.weight"])
    assert torch.equal(state["extras.3.2.weight"], source["extras.3.2.weight"])
    assert not torch.equal(state["regression_headers.0.weight"], source["regression_headers.0.weight"])
    assert state["classification_headers.0.weight"].shape[0] == 48


def test_warp_augmentation_matches_the_reference_chain_on_fixed_seeds(tiny_dataset):
    from core.data.readers import default_class_names, open_split, read_dataset
    from core.optimize.augment import augment, augment_reference

    tables = read_dataset(tiny_dataset)
    split = open_split(tables, "train", default_class_names(tables))
    expanded = 0
    for seed in range(24):
        sample = split[seed % len(split)]
        image, boxes, labels = augment(sample.image, sample.boxes, sample.labels, np.random.default_rng(seed))
        expected = augment_reference(sample.image, sample.boxes, sample.labels, np.random.default_rng(seed))
        assert labels.tolist() == expected[2].tolist()
        np.testing.assert_allclose(boxes, expected[1], atol=1e-6)
        levels = np.abs(image - expected[0])[:, 1:-1, 1:-1] * 128  # inside the outermost ring, in 0..255 levels
        assert image.shape == (3, 300, 300) and levels.max() < 4 and levels.mean() < 0.2
        expanded += bool((np.abs(image * 128) < 0.5).all(axis=0).mean() > 0.2)  # a fifth or more is canvas mean
    assert expanded > 0, "some seeds zoom out onto the mean-filled canvas"


def test_an_unknown_augmentation_is_refused(tiny_dataset, tmp_path):
    with pytest.raises(UserError, match="unknown augmentation"):
        Trainer(_config(tiny_dataset, tmp_path, 1, augmentation="fancy"))
