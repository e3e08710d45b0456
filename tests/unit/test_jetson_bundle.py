"""`python -m core jetson pack` and `jetson import` on the server: the bundle's contents (graph as export-onnx writes
it, images laid out as our preprocessing does, ground truth, the Streams page's sender commands, a manifest with
sha256), the recorded runs, and an import that scores raw outputs with the project's own evaluation and refuses a
bad folder without recording anything."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.data.readers import open_split, read_dataset
from core.detect.preprocess import network_layout, preprocess_batch
from core.errors import UserError
from core.gst.jetson_sender import preset_options, sender_command
from core.jetson.pack import PackConfig, pack
from core.jetson.results import import_results as import_into
from core.ledger import History
from core.model import read_labels
from core.model.onnx_export import describe_onnx
from jetson_kit.records import RunLog
from tests.history_helpers import recorded_runs
from tests.jetson_helpers import DEMO_LABELS, DEMO_WEIGHTS, make_bundle


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> tuple[Path, str]:
    """One bundle for the module, recorded in a history of its own: (bundle, database URL)."""
    root = tmp_path_factory.mktemp("packed")
    url = f"sqlite:///{root / 'history.db'}"
    return make_bundle(root, db_url=url), url


@pytest.fixture()
def bundle(packed: tuple[Path, str]) -> Path:
    return packed[0]


@pytest.fixture()
def url(packed: tuple[Path, str]) -> str:
    return packed[1]


def _runs(url: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for run in recorded_runs(url):
        found.setdefault(run.kind, []).append(run)
    return found


def import_results(folder: Path, url: str):
    with History.open(url) as history:
        return import_into(folder, history)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pack_writes_the_bundle_the_jetson_program_reads(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["format"] == 1 and [t["name"] for t in manifest["targets"]] == ["trt-fp32", "trt-fp16", "trt-int8"]
    assert manifest["input"] == {"name": "input_0", "shape": [3, 300, 300], "layout": "NCHW", "channels": "RGB",
                                 "dtype": "uint8", "mean": 127.0, "std": 128.0}
    assert describe_onnx(bundle / "model.onnx") == {"opset": 11, "inputs": {"input_0": ["batch", 3, 300, 300]},
                                                   "outputs": {"scores": ["batch", 3000, 8],
                                                               "boxes": ["batch", 3000, 4]}}
    assert describe_onnx(bundle / "model-b4.onnx")["inputs"] == {"input_0": [4, 3, 300, 300]}
    for name, digest in manifest["files"].items():
        assert _sha256(bundle / name) == digest
    # the evaluation images: the first readable test images, resized and laid out exactly as our preprocessing does
    split = open_split(read_dataset(bundle.parent / "shapes"), "test", read_labels(DEMO_LABELS))
    samples = [split[index] for index in range(4)]
    resized, sizes = preprocess_batch([sample.image for sample in samples])
    np.testing.assert_array_equal(np.load(bundle / "evaluation.npy"), network_layout(resized))
    assert manifest["evaluation"]["ids"] == [sample.image_id for sample in samples]
    assert manifest["evaluation"]["sizes"] == sizes.astype(int).tolist()
    truth = json.loads((bundle / "ground-truth.json").read_text())
    np.testing.assert_array_equal(np.asarray(truth["boxes"][0], np.float32), samples[0].boxes)
    assert np.load(bundle / "calibration.npy").shape == (6, 3, 300, 300)
    # the pipeline text has one home: the Streams page's sender builder
    assert manifest["sender"]["5"]["command"] == sender_command(
        preset_options("jetpack5-usb-h265", "192.168.1.10", port=5000, camera="/dev/video0"))
    assert manifest["sender"]["4"]["command"] == sender_command(
        preset_options("jetpack4-usb-h265", "192.168.1.10", port=5000, camera="/dev/video0"))


def test_pack_records_the_export_the_bundle_and_the_servers_reference(bundle: Path, url: str) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    runs = _runs(url)
    (export,) = runs["export"]  # packing from the .onnx (a test below) exports nothing
    (packed,) = [run for run in runs["jetson-pack"] if run.uuid == manifest["pack_run_uuid"]]
    (reference,) = [run for run in runs["optimize"] if run.params["target"] == "ort-fp32"
                    and run.params["optimize_id"] == manifest["optimize_id"]]
    assert manifest["onnx"]["run_uuid"] == export.uuid
    assert export.params["dynamic_batch"] is True and export.params["opset"] == 11
    outputs = {Path(item.path).name: item.sha256 for item in packed.artifacts if item.kind == "output"}
    assert outputs["manifest.json"] == _sha256(bundle / "manifest.json")
    assert outputs["model.onnx"] == manifest["onnx"]["sha256"]
    assert reference.params["target"] == "ort-fp32" and reference.params["optimize_id"] == manifest["optimize_id"]
    assert reference.params["eval_images"] == 4 and reference.parent_id == export.id
    assert manifest["reference"]["run_uuid"] == reference.uuid
    map50 = next(metric.value for metric in reference.metrics if metric.name == "map50")
    assert manifest["reference"]["evaluation"]["map50"] == map50


def test_pack_refuses_bad_requests_before_writing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    base = dict(model=DEMO_WEIGHTS, labels=DEMO_LABELS, data=data, progress=False)
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "notes.txt").write_text("mine")
    for config, message in [
        (PackConfig(**base, output=tmp_path / "occupied"), "is not a bundle"),
        (PackConfig(**base, output=tmp_path / "b", targets=("ort-int8",)), "the Jetson builds"),
        (PackConfig(**base, output=tmp_path / "b", batch_sizes=(0, 8)), "batch sizes must be 1 to 256"),
        (PackConfig(**base, output=tmp_path / "b", eval_images=4000, calib_images=2000, max_bundle_mb=100),
         "over --max-bundle-mb 100"),
        (PackConfig(**base, output=tmp_path / "b", eval_images=0), "--eval-images must be 1 to 5000"),
    ]:
        with pytest.raises(UserError, match=message), History.open(f"sqlite:///{tmp_path / 'h.db'}") as history:
            pack(config, history)
    assert (tmp_path / "occupied" / "notes.txt").read_text() == "mine" and not (tmp_path / "b").exists()
    assert main(["jetson", "pack", "--weights", str(tmp_path / "none.pth"), "--labels", str(DEMO_LABELS), "--data",
                 str(data), "--output", str(tmp_path / "b")]) == 2


def test_pack_from_the_onnx_export_names_its_export_run(bundle: Path, url: str, tmp_path: Path) -> None:
    with History.open(url) as history:
        result = pack(PackConfig(model=bundle / "model.onnx", labels=DEMO_LABELS, data=bundle.parent / "shapes",
                                 output=tmp_path / "from-onnx", batch_sizes=(1, 4), calib_images=2, eval_images=2,
                                 threads=1, progress=False, stream_host="192.168.1.10"), history)
    manifest = result.manifest
    assert manifest["onnx"]["sha256"] == json.loads((bundle / "manifest.json").read_text())["onnx"]["sha256"]
    assert manifest["onnx"]["run_uuid"] == _runs(url)["export"][0].uuid  # found by the graph's content
    assert manifest["onnx"]["fixed_batch"] == {} and not list((tmp_path / "from-onnx").glob("model-b*.onnx"))


def _jetson_results(bundle: Path, folder: Path, outputs: dict[str, np.ndarray] | None = None) -> Path:
    """A results folder as the Jetson program writes it, with one trt-fp32 run whose raw outputs are `outputs`
    (default: the server's own ONNX Runtime outputs of the bundle's images)."""
    from core.detect import load_detector
    from core.detect.base import DetectorSpec

    manifest = json.loads((bundle / "manifest.json").read_text())
    folder.mkdir(parents=True)
    for name in ("manifest.json", "ground-truth.json"):
        shutil.copyfile(bundle / name, folder / name)
    if outputs is None:
        detector = load_detector(DetectorSpec(bundle / "model.onnx", DEMO_LABELS, backend="onnxruntime",
                                              device="cpu", threads=1))
        pixels = np.load(bundle / "evaluation.npy")
        scores, boxes = detector.infer(np.ascontiguousarray(pixels.transpose(0, 2, 3, 1)[..., ::-1]))
        detector.close()
        outputs = {"scores": scores.numpy(), "boxes": boxes.numpy()}
    (folder / "eval").mkdir()
    np.savez_compressed(folder / "eval" / "trt-fp32.npz", image_ids=np.array(manifest["evaluation"]["ids"]),
                        **outputs)
    log = RunLog(folder)
    record = log.start("optimize", {"target": "trt-fp32", "backend": "tensorrt", "precision": "fp32",
                                    "optimize_id": manifest["optimize_id"], "weights": manifest["model"]["weights"],
                                    "bundle_uuid": manifest["pack_run_uuid"], "eval_outputs": "eval/trt-fp32.npz"},
                       {"device": "NVIDIA Jetson Xavier NX Developer Kit", "host": "xavier"},
                       parent_uuid=manifest["onnx"]["run_uuid"])
    log.artifact(record, folder / "eval" / "trt-fp32.npz", format="npz", precision="fp32")
    log.metric(record, "latency_p50_ms", 4.2, unit="ms")
    log.finish(record)
    return folder


def test_import_scores_raw_outputs_like_the_servers_evaluation(bundle: Path, url: str, tmp_path: Path) -> None:
    folder = _jetson_results(bundle, tmp_path / "jetson-out")
    summary = import_results(folder, url)
    assert (summary.added, summary.skipped) == (1, 0)
    reference = json.loads((bundle / "manifest.json").read_text())["reference"]["evaluation"]
    (evaluated,) = summary.evaluated
    assert evaluated["map50"] == reference["map50"] and evaluated["coco_map"] == reference["coco_map"]
    jetson = next(run for run in _runs(url)["optimize"] if run.params["target"] == "trt-fp32")
    metrics = {(metric.name, metric.class_name): metric.value for metric in jetson.metrics}
    assert metrics[("delta_map50", None)] == 0.0 and metrics[("latency_p50_ms", None)] == 4.2
    assert ("ap50", "circle") in metrics and jetson.device == "NVIDIA Jetson Xavier NX Developer Kit"
    assert jetson.parent_id == _runs(url)["export"][0].id  # the bundle's ONNX run
    assert import_results(folder, url).added == 0  # the same folder twice adds nothing


def test_import_refuses_a_bad_folder_and_records_nothing(bundle: Path, url: str, tmp_path: Path) -> None:
    count = 4
    wrong = {"scores": np.zeros((count, 3000, 5), np.float32), "boxes": np.zeros((count, 3000, 4), np.float32)}
    cases = {"wrong shape": (_jetson_results(bundle, tmp_path / "shape", wrong), "are not the raw outputs of 4")}
    tampered = _jetson_results(bundle, tmp_path / "tampered")
    np.savez_compressed(tampered / "eval" / "trt-fp32.npz", image_ids=np.array(["a", "b", "c", "d"]),
                        scores=np.zeros((count, 3000, 8), np.float32), boxes=np.zeros((count, 3000, 4), np.float32))
    cases["tampered"] = (tampered, "sha256 differs")
    escaping = _jetson_results(bundle, tmp_path / "escaping")
    text = (escaping / "runs.jsonl").read_text().replace("eval/trt-fp32.npz", "../shape/eval/trt-fp32.npz")
    (escaping / "runs.jsonl").write_text(text)
    cases["escaping"] = (escaping, "is outside")
    before = sum(len(runs) for runs in _runs(url).values())
    for name, (folder, message) in cases.items():
        with pytest.raises(UserError, match=message):
            import_results(folder, url)
    with pytest.raises(UserError, match="has no runs.jsonl"):
        import_results(tmp_path, url)
    assert sum(len(runs) for runs in _runs(url).values()) == before
    assert main(["jetson", "import", str(tmp_path / "nothing")]) == 2


def test_the_runs_page_imports_a_jetsons_results_archive(bundle: Path, url: str, tmp_path: Path) -> None:
    import io
    import zipfile

    from core.jetson.results import import_archive
    from jetson_kit.records import write_archive

    folder = _jetson_results(bundle, tmp_path / "jetson-out")
    archive = Path(write_archive(folder))
    with zipfile.ZipFile(archive) as opened:
        assert sorted(opened.namelist()) == ["eval/trt-fp32.npz", "ground-truth.json", "manifest.json", "runs.jsonl"]
    history = History.open(url)
    summary = import_archive(archive.name, archive.read_bytes(), history)
    assert summary.added == 1 and summary.evaluated[0]["target"] == "trt-fp32"
    hostile = io.BytesIO()
    with zipfile.ZipFile(hostile, "w") as opened:
        opened.writestr("runs.jsonl", "")
        opened.writestr("../escape.txt", "x")
    with pytest.raises(UserError, match="not a Jetson results archive"):
        import_archive("hostile.zip", hostile.getvalue(), history)
    with pytest.raises(UserError, match="not a zip archive"):
        import_archive("plain.zip", b"not a zip", history)
    history.close()
