"""`python -m core dataset`: statistics (downloader text or JSON), Open Images download, synthetic demo dataset."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.commands.values import POSITIVE, output_folder, whole

MAX_DOWNLOAD_WORKERS = 64


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dataset", help="dataset statistics, Open Images download, demo dataset")
    commands = parser.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")

    stats = commands.add_parser("stats", help="print the statistics block of pytorch-ssd's downloader")
    stats.add_argument("root", type=Path, metavar="DIR", help="Open Images downloader folder or VOC folder")
    stats.add_argument("--json", action="store_true", help="print the same numbers as JSON")
    stats.set_defaults(func=run_stats)

    download = commands.add_parser("download", help="download Open Images boxes and images for some classes")
    download.add_argument("--classes", "--class-names", dest="classes", required=True,
                          help='comma-separated class names, e.g. "Rhinoceros,Sea turtle" (case-insensitive)')
    download.add_argument("--data", "--root", dest="data", type=output_folder, default=Path("data"),
                          help="dataset folder")
    download.add_argument("--max-images", type=POSITIVE, help="at most this many images over all splits")
    download.add_argument("--max-annotations-per-class", type=POSITIVE, help="at most this many boxes per class")
    download.add_argument("--workers", type=whole(1, MAX_DOWNLOAD_WORKERS), default=8,
                          help="concurrent image downloads")
    download.add_argument("--include-depiction", action="store_true", help="keep boxes marked IsDepiction")
    download.add_argument("--stats-only", action="store_true", help="print the statistics, download no images")
    download.add_argument("--no-progress", action="store_true", help="no progress bars")
    download.set_defaults(func=run_download)

    synth = commands.add_parser("synth", help="write the synthetic demo dataset (Open Images layout)")
    synth.add_argument("out", type=output_folder, metavar="OUT")
    synth.add_argument("--images", type=POSITIVE, default=300, help="images over all splits (80/10/10)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    synth.add_argument("--workers", type=POSITIVE, default=1, help="processes rendering images (same files)")
    synth.set_defaults(func=run_synth)


def run_stats(args: argparse.Namespace) -> int:
    from core.data.readers import read_dataset
    from core.data.stats import compute_statistics, format_downloader_text

    statistics = compute_statistics(read_dataset(args.root))
    if args.json:
        print(json.dumps(statistics.to_dict(), indent=2))
    else:
        sys.stdout.write(format_downloader_text(statistics))
    return 0


def run_download(args: argparse.Namespace) -> int:
    """Exit 0 when every kept row's image is on disk; 1 when rows were refused or images failed."""
    from core.config import load_settings
    from core.data.download import DownloadRequest, DownloadSettings, download_dataset, prepare_annotations
    from core.data.stats import format_downloader_text, statistics_from_tables
    from core.data.table import to_table

    request = DownloadRequest(root=args.data, class_names=args.classes.split(","), max_images=args.max_images,
                              max_annotations_per_class=args.max_annotations_per_class,
                              include_depiction=args.include_depiction, workers=args.workers)
    settings = DownloadSettings.from_settings(load_settings())
    progress = not args.no_progress
    if args.stats_only:
        prepared, report = prepare_annotations(request, settings, progress=progress), None
    else:
        prepared, report = download_dataset(request, settings, progress=progress)
    tables = {split: to_table(frame) for split, frame in prepared.frames.items()}
    sys.stdout.write(format_downloader_text(statistics_from_tables(tables, root=args.data)))
    for split, refused in prepared.refused.items():
        print(f"refused: {refused.message(split)}", file=sys.stderr)
    if report is not None:
        for split, split_report in report.splits.items():
            print(f"{split}: {split_report.images} images, {split_report.downloaded} downloaded, "
                  f"{split_report.already_present} already present, {len(split_report.failed)} failed")
        for split, image_id, reason in report.failures:
            print(f"failed: {split}/{image_id}.jpg: {reason}", file=sys.stderr)
    return 1 if prepared.refused or (report is not None and report.failures) else 0


def run_synth(args: argparse.Namespace) -> int:
    from core.data.synthetic import make_synthetic_dataset

    out = make_synthetic_dataset(args.out, images=args.images, seed=args.seed, overwrite=args.overwrite,
                                 workers=args.workers)
    print(f"synthetic dataset: {out} ({args.images} images)")
    return 0
