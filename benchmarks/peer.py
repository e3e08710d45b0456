"""The peer: pytorch-ssd's own predictor (mb1-ssd), installed for the benchmark only and timed like our detect().

    python -m benchmarks.peer install [--into DIR]        (what benchmarks/peer_setup.sh runs)
    python -m benchmarks.peer measure --weights W --labels L [--image IMG] [--threads 2] [--min-seconds 5]

pytorch-ssd is not on PyPI and never part of our runtime: `install` unpacks a pinned archive of the repository
(PYTORCH_SSD_ARCHIVE names a local copy; otherwise it is downloaded from GitHub) under the data root, and checks the
unpacked files against a pinned digest of their contents (a digest of the files, not of the archive bytes, so a
re-compressed copy of the same commit is accepted and any other content is refused). `measure` runs in a process
of its own, so the peer's `vision` package never meets ours.

The peer imports torchvision for a name its code never uses (`vision/transforms/transforms.py` imports
`torchvision.transforms` and only mentions it in a docstring); torchvision is not installed here (its wheels pin
another torch), so `measure` registers an empty `torchvision` module before importing the peer. Nothing else of the
peer is changed. What is timed is what its example script does per image: BGR->RGB, then `predictor.predict(image,
10, 0.4)` (resize, normalize, network, per-class NMS), with its per-call "Inference time" print sent to /dev/null.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import types
import urllib.request
from pathlib import Path

from core.files.digest import file_sha256

PEER_COMMIT = "e7b5af50a157c50d3bab8f55089ce57c2c812f37"  # the commit described in the project's facts about mb1-ssd
PEER_URL = f"https://github.com/dusty-nv/pytorch-ssd/archive/{PEER_COMMIT}.tar.gz"
# sha256 of the unpacked tree: one "sha256(content)  relative/path" line per file, sorted by path, joined by "\n".
PEER_TREE_SHA256 = "e496513b6fb878af3de2d7e23fed386c20807585a1393ea1c232ee029f860246"
ARCHIVE_VARIABLE = "PYTORCH_SSD_ARCHIVE"
DOWNLOAD_TIMEOUT_S = 60
PREDICT_TOP_K, PREDICT_THRESHOLD = 10, 0.4  # as the peer's run_ssd_example.py calls predict()


class PeerUnavailable(Exception):
    """The peer cannot run here; the message is the reason shown in the benchmark's table."""


def default_peer_dir() -> Path:
    from core.config import load_settings

    return load_settings().data_root / "peers" / f"pytorch-ssd-{PEER_COMMIT[:12]}"


def tree_digest(folder: Path) -> str:
    """The content digest PEER_TREE_SHA256 pins (symlinks and folders do not count, file modes neither)."""
    lines = sorted(f"{file_sha256(path)}  {path.relative_to(folder).as_posix()}"
                   for path in folder.rglob("*") if path.is_file() and not path.is_symlink())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _archive_bytes() -> bytes:
    local = os.environ.get(ARCHIVE_VARIABLE)
    if local:
        try:
            return Path(local).read_bytes()
        except OSError as error:
            raise PeerUnavailable(f"{ARCHIVE_VARIABLE}={local} cannot be read: {error.strerror}") from None
    try:
        with urllib.request.urlopen(PEER_URL, timeout=DOWNLOAD_TIMEOUT_S) as response:
            return response.read()
    except OSError as error:
        raise PeerUnavailable(f"pytorch-ssd archive not downloadable ({error}); set {ARCHIVE_VARIABLE} to a local "
                              f"copy of {PEER_URL}") from None


def install_peer(into: Path | None = None) -> Path:
    """Unpack and check the pinned pytorch-ssd into `into` (once); returns the folder holding its `vision/`."""
    into = into or default_peer_dir()
    if (into / "vision").is_dir():
        return into
    with tempfile.TemporaryDirectory(prefix="peer-") as work:
        try:
            with tarfile.open(fileobj=io.BytesIO(_archive_bytes()), mode="r:*") as archive:
                archive.extractall(work, filter="data")
        except tarfile.TarError as error:
            raise PeerUnavailable(f"the pytorch-ssd archive is not a readable tar file: {error}") from None
        (top,) = [path for path in Path(work).iterdir() if path.is_dir()] or [None]
        if top is None or tree_digest(top) != PEER_TREE_SHA256:
            raise PeerUnavailable(f"the pytorch-ssd archive is not commit {PEER_COMMIT[:12]} (content digest differs)")
        into.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(top), str(into))
    return into


def measure_peer(weights: Path, labels: Path, *, image: Path | None, threads: int, min_seconds: float,
                 warmup: int = 5, min_repeats: int = 20) -> dict:
    """Time the peer's predictor in a subprocess; the figures it printed as JSON, or PeerUnavailable."""
    folder = install_peer()
    command = [sys.executable, "-m", "benchmarks.peer", "measure", "--peer-dir", str(folder), "--weights",
               str(weights), "--labels", str(labels), "--threads", str(threads), "--min-seconds", str(min_seconds),
               "--warmup", str(warmup), "--min-repeats", str(min_repeats)] + (["--image", str(image)] if image else [])
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise PeerUnavailable(f"pytorch-ssd's predictor failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _import_peer(folder: Path):
    sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))
    sys.modules.setdefault("torchvision.transforms", types.ModuleType("torchvision.transforms"))
    sys.modules["torchvision"].transforms = sys.modules["torchvision.transforms"]  # type: ignore[attr-defined]
    sys.path.insert(0, str(folder))
    from vision.ssd.mobilenetv1_ssd import create_mobilenetv1_ssd, create_mobilenetv1_ssd_predictor

    return create_mobilenetv1_ssd, create_mobilenetv1_ssd_predictor


def _measure_here(args: argparse.Namespace) -> dict:
    import cv2
    import torch

    from core.optimize.measure import RepeatConfig, benchmark_frame, repeat_timed
    from core.timing.percentiles import percentiles

    torch.set_num_threads(args.threads)
    create_ssd, create_predictor = _import_peer(args.peer_dir)
    class_names = [line.strip() for line in args.labels.read_text().splitlines() if line.strip()]
    net = create_ssd(len(class_names), is_test=True)
    net.load(str(args.weights))
    predictor = create_predictor(net, candidate_size=200, device=torch.device("cpu"))
    frame = benchmark_frame(args.image)
    if args.image is not None:
        frame = cv2.resize(frame, (640, 480), interpolation=cv2.INTER_LINEAR)

    def predict() -> object:
        with contextlib.redirect_stdout(io.StringIO()):
            return predictor.predict(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), PREDICT_TOP_K, PREDICT_THRESHOLD)

    config = RepeatConfig(warmup=args.warmup, min_seconds=args.min_seconds, min_repeats=args.min_repeats)
    samples = repeat_timed(predict, config, clock=time.perf_counter)
    boxes, _, _ = predict()
    median, p95 = percentiles(samples, [50, 95])
    return {"peer": "pytorch-ssd", "commit": PEER_COMMIT, "median_ms": median, "p95_ms": p95,
            "images_per_sec": 1000.0 / median, "repeats": len(samples), "threads": args.threads,
            "detections": int(len(boxes)), "frame": [int(frame.shape[1]), int(frame.shape[0])]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    install = commands.add_parser("install", help="unpack and check the pinned pytorch-ssd")
    install.add_argument("--into", type=Path, help="folder to install into (default: under the data root)")
    measure = commands.add_parser("measure", help="time the peer's predictor in this process (prints JSON)")
    measure.add_argument("--peer-dir", type=Path, help="an installed pytorch-ssd (default: install it)")
    measure.add_argument("--weights", type=Path, required=True)
    measure.add_argument("--labels", type=Path, required=True)
    measure.add_argument("--image", type=Path, help="frame (resized to 640x480); default: 640x480 noise")
    measure.add_argument("--threads", type=int, default=2)
    measure.add_argument("--min-seconds", type=float, default=5.0)
    measure.add_argument("--warmup", type=int, default=5)
    measure.add_argument("--min-repeats", type=int, default=20)
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            print(install_peer(args.into))
            return 0
        args.peer_dir = args.peer_dir or install_peer()
        print(json.dumps(_measure_here(args)))
    except PeerUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
