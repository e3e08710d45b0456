"""The Open Images download command against a local fixture server on 127.0.0.1 (404, truncated and slow images)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.data.fetch import image_problem
from core.data.open_images import SOURCE_COLUMNS, SUBSET_COLUMNS, annotation_file
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
CLASSES = [("/m/0898b", "Zebra"), ("/m/0120dh", "Sea turtle"), ("/m/084zz", "Whale"), ("/m/0ccs93", "Canary")]
MISSING_ID = "0000000000000404"
TRUNCATED_ID = "00000000000000ee"
SLOW_ID = "0000000000000510"
ESCAPING_ID = "../../../../somewhere/x"
SPLIT_PREFIX = {"train": "a0", "validation": "b0", "test": "c0"}  # ImageIDs are 16 lowercase hex characters


def jpeg(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def box_rows(split: str, count: int, label: str, start: int, **flags) -> list[dict]:
    rows = []
    for index in range(start, start + count):
        row = dict.fromkeys(SOURCE_COLUMNS, "0")
        row.update(ImageID=f"{SPLIT_PREFIX[split]}{index:014x}", Source="xclick", LabelName=label, Confidence="1",
                   XMin="0.1", XMax="0.5", YMin="0.2", YMax="0.7", **flags)
        rows.append(row)
    return rows


class FixtureServer:
    """Serves the class descriptions, three full box files and their images; counts requests per path."""

    def __init__(self, *, failures: bool = True, image_delay_s: float = 0.0, escaping_id: bool = False) -> None:
        self.files: dict[str, bytes] = {}
        self.slow: dict[str, float] = {}
        self.image_delay_s = image_delay_s
        self.requests: Counter = Counter()
        self.files["/annotations/class-descriptions-boxable.csv"] = "".join(
            f"{mid},{name}\n" for mid, name in CLASSES).encode()
        sizes = {"train": 12, "validation": 3, "test": 3}
        for split, size in sizes.items():
            rows = box_rows(split, size, "/m/0898b", 0) + box_rows(split, 2, "/m/0120dh", 0)  # 2 images, 2 classes
            rows += box_rows(split, 2, "/m/0ccs93", 100)  # not requested
            rows += box_rows(split, 1, "/m/0898b", 200, IsDepiction="1")  # a depiction: dropped
            if split == "train" and failures:
                for image_id in (MISSING_ID, TRUNCATED_ID, SLOW_ID):
                    rows += [dict(box_rows(split, 1, "/m/084zz", 0)[0], ImageID=image_id)]
            if split == "train" and escaping_id:
                rows += [dict(box_rows(split, 1, "/m/0898b", 0)[0], ImageID=ESCAPING_ID) for _ in range(2)]
            frame = pd.DataFrame(rows, columns=list(SOURCE_COLUMNS))
            self.files[f"/annotations/{split}/{split}-annotations-bbox.csv"] = frame.to_csv(index=False).encode()
            for seed, image_id in enumerate(pd.unique(frame["ImageID"])):
                if image_id != MISSING_ID:
                    self.files[f"/images/{split}/{image_id}.jpg"] = jpeg(seed)
        if failures:
            complete = self.files[f"/images/train/{TRUNCATED_ID}.jpg"]
            self.files[f"/images/train/{TRUNCATED_ID}.jpg"] = complete[: len(complete) // 2]
            self.slow[f"/images/train/{SLOW_ID}.jpg"] = 1.0

    def start(self) -> None:
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                fixture.requests[self.path] += 1
                body = fixture.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                if self.path.startswith("/images/"):
                    time.sleep(fixture.slow.get(self.path, fixture.image_delay_s))
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the downloader was killed mid-response

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def environment(self) -> dict[str, str]:
        base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        return {"EDS_OPEN_IMAGES_ANNOTATIONS_URL": f"{base}/annotations",
                "EDS_OPEN_IMAGES_IMAGES_URL": f"{base}/images",
                "EDS_DOWNLOAD_RETRIES": "2", "EDS_DOWNLOAD_BACKOFF_S": "0.01", "EDS_DOWNLOAD_TIMEOUT_S": "10"}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(request, monkeypatch=None, **options) -> FixtureServer:
    server = FixtureServer(**options)
    server.start()
    request.addfinalizer(server.stop)
    if monkeypatch is not None:
        for key, value in server.environment().items():
            monkeypatch.setenv(key, value)
    return server


def images_in(folder: Path) -> set[str]:
    return {path.stem for path in folder.glob("*.jpg")}


@pytest.mark.timeout(60)
def test_download_writes_the_right_files_and_reports_404_and_truncated(request, monkeypatch, tmp_path, capsys):
    server = serve(request, monkeypatch)
    data = tmp_path / "animals"
    code = main(["dataset", "download", "--classes", "zebra, SEA TURTLE,Whale", "--data", str(data), "--workers", "4",
                 "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1
    failures = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 2
    assert f"failed: train/{MISSING_ID}.jpg: HTTP 404" in err
    assert f"failed: train/{TRUNCATED_ID}.jpg: truncated image" in err
    assert server.requests[f"/images/train/{TRUNCATED_ID}.jpg"] == 3  # first try + 2 retries
    assert server.requests[f"/images/train/{MISSING_ID}.jpg"] == 1  # a 404 is not retried

    train = pd.read_csv(annotation_file(data, "train"), dtype=str)
    assert list(train.columns) == list(SUBSET_COLUMNS)
    assert train["ClassName"].value_counts().to_dict() == {"Zebra": 12, "Sea turtle": 2, "Whale": 3}
    assert (train["IsDepiction"] == "0").all()
    for split, images in {"train": 15, "validation": 3, "test": 3}.items():
        expected = set(pd.read_csv(annotation_file(data, split), dtype=str)["ImageID"]) - {MISSING_ID, TRUNCATED_ID}
        assert len(expected) == images - (2 if split == "train" else 0)
        assert images_in(data / split) == expected
        assert not [p for p in (data / split).iterdir() if not p.name.endswith(".jpg")]
        for path in (data / split).glob("*.jpg"):
            assert path.read_bytes() == server.files[f"/images/{split}/{path.name}"]
    assert SLOW_ID in images_in(data / "train")
    assert " 'train' set statistics\n-------------------------------------\n  Image count:  15\n" in out
    assert "train: 15 images, 13 downloaded, 0 already present, 2 failed" in out


@pytest.mark.timeout(60)
def test_an_image_id_that_is_a_path_is_refused_and_nothing_is_written_outside_the_data_folder(
        request, monkeypatch, tmp_path, capsys):
    server = serve(request, monkeypatch, failures=False, escaping_id=True)
    # a JPEG waits at the URL the escaping id would name, so only the id check can keep it from being written
    server.files[f"/images/train/{ESCAPING_ID}.jpg"] = jpeg(7)
    data = tmp_path / "deep" / "er" / "still" / "animals"
    before = {path for path in tmp_path.rglob("*")}
    code = main(["dataset", "download", "--classes", "Zebra", "--data", str(data), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1
    refusals = [line for line in err.splitlines() if line.startswith("refused: ")]
    assert refusals == [f"refused: 2 rows of train-annotations-bbox.csv have an ImageID that is not an Open Images "
                        f"id (16 lowercase hex characters), e.g. {ESCAPING_ID!r}; nothing was written for them"]
    written = {path for path in tmp_path.rglob("*")} - before
    outside = [path for path in written if data != path and data not in path.parents and path not in data.parents]
    assert outside == []
    assert not any("somewhere" in path for path in server.requests)
    assert ESCAPING_ID not in set(pd.read_csv(annotation_file(data, "train"), dtype=str)["ImageID"])
    assert len(images_in(data / "train")) == 12
    assert "train: 12 images, 12 downloaded, 0 already present, 0 failed" in out


@pytest.mark.timeout(60)
def test_written_paths_stay_under_the_data_folder_through_symlinks(request, monkeypatch, tmp_path, capsys):
    serve(request, monkeypatch, failures=False)
    data, elsewhere = tmp_path / "animals", tmp_path / "elsewhere"
    data.mkdir()
    elsewhere.mkdir()
    (data / "train").symlink_to(elsewhere, target_is_directory=True)
    code = main(["dataset", "download", "--classes", "Zebra", "--data", str(data), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "resolves outside" in err
    assert list(elsewhere.iterdir()) == []


@pytest.mark.timeout(60)
def test_unknown_class_is_a_one_line_error_with_close_matches(request, monkeypatch, tmp_path, capsys):
    serve(request, monkeypatch)
    code = main(["dataset", "download", "--classes", "Zebar,Whale", "--data", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "unknown class name(s) 'Zebar' (did you mean Zebra?)" in err
    assert not (tmp_path / "train-annotations-bbox.csv").exists()  # stopped before the big files


@pytest.mark.timeout(60)
def test_limits_and_stats_only(request, monkeypatch, tmp_path, capsys):
    serve(request, monkeypatch, failures=False)
    code = main(["dataset", "download", "--classes", "Zebra,Sea turtle", "--data", str(tmp_path), "--max-images", "9",
                 "--max-annotations-per-class", "1", "--stats-only", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    # 18 images available: train gets int(9 * 12/18) = 6 of its 12, validation and test 1 each; then one box per
    # class leaves train with its first image (a Zebra and a Sea turtle box).
    assert " 'train' set statistics\n-------------------------------------\n  Image count:  1\n" in out
    assert "    Zebra:  1/2 = 0.50\n    Sea turtle:  1/2 = 0.50\n" in out
    assert "Overall statistics\n-------------------------------------\n  Image count:  3\n" in out
    assert not (tmp_path / "train").exists() and not annotation_file(tmp_path, "train").exists()


@pytest.mark.timeout(120)
def test_download_resumes_after_being_killed(request, tmp_path):
    server = serve(request, failures=False, image_delay_s=0.25)
    data = tmp_path / "animals"
    command = [sys.executable, "-m", "core", "dataset", "download", "--classes", "Zebra,Sea turtle", "--data",
               str(data), "--workers", "2", "--no-progress"]
    environment = {**os.environ, **server.environment()}
    process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(images_in(data / "train")) >= 4 or process.poll() is not None, 60, interval=0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    before = images_in(data / "train")
    assert 4 <= len(before) < 12, "the kill should land mid-download"
    for path in (data / "train").glob("*.jpg"):
        assert image_problem(path.read_bytes()) is None  # never a partial image under its final name

    server.image_delay_s = 0.0
    finished = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=90)
    assert finished.returncode == 0, finished.stderr
    assert "already present" in finished.stdout
    assert len(images_in(data / "train")) == 12 and not list((data / "train").glob(".*"))
    for image_id in before:
        assert server.requests[f"/images/train/{image_id}.jpg"] == 1  # not fetched again
    assert server.requests["/annotations/train/train-annotations-bbox.csv"] == 1  # the box file is reused
