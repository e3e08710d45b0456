"""Download Open Images boxes for chosen classes in pytorch-ssd's downloader layout, resumably.

Like `open_images_downloader.py`: class names are resolved case-insensitively through
`class-descriptions-boxable.csv`; each split's full box file is downloaded once and filtered to those classes (inner
join on LabelName, depictions dropped unless asked for, optional limits) and written as
`sub-<split>-annotations-bbox.csv`; then the images are fetched concurrently into `<split>/<ImageID>.jpg`.
Images already on disk are skipped, each is written through a temporary file, so a killed run leaves no partial
image and a rerun continues where it stopped. Failed images (404, truncated after retries) are reported, not fatal.

An ImageID names a file and a URL, so rows whose ImageID is not an Open Images id are refused (counted, never
written), and every file written is resolved and checked to lie under the dataset folder.
"""
from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from core.config import Settings
from core.data.fetch import PARTIAL_SUFFIX, FetchError, RetryPolicy, download_file, fetch_bytes
from core.data.open_images import (
    CLASS_DESCRIPTIONS_FILE,
    IMAGE_ID_FORMAT,
    IMAGE_ID_PATTERN,
    SPLITS,
    annotation_file,
    image_file,
)
from core.errors import UserError
from core.files.atomic import atomic_path
from core.files.paths import confine

logger = logging.getLogger(__name__)

_CSV_CHUNK_ROWS = 1_000_000
_REFUSED_EXAMPLES = 3
_EXAMPLE_CHARS = 60


@dataclass(frozen=True)
class DownloadSettings:
    """Where files come from (by default the Open Images v4 files pytorch-ssd's downloader uses) and how fetching
    them is retried."""

    annotations_url: str
    images_url: str
    policy: RetryPolicy

    @classmethod
    def from_settings(cls, settings: Settings) -> DownloadSettings:
        policy = RetryPolicy(timeout_s=settings.download_timeout_s, retries=settings.download_retries,
                             backoff_s=settings.download_backoff_s)
        return cls(settings.open_images_annotations_url, settings.open_images_images_url, policy)

    def class_descriptions_url(self) -> str:
        return f"{self.annotations_url}/{CLASS_DESCRIPTIONS_FILE}"

    def annotations_url_of(self, split: str) -> str:
        return f"{self.annotations_url}/{split}/{split}-annotations-bbox.csv"

    def image_url(self, split: str, image_id: str) -> str:
        return f"{self.images_url}/{split}/{image_id}.jpg"


@dataclass(frozen=True)
class DownloadRequest:
    root: Path
    class_names: Sequence[str]
    max_images: int | None = None  # in total over the splits, shared in proportion to what each split has
    max_annotations_per_class: int | None = None  # per split and class
    include_depiction: bool = False
    workers: int = 8


@dataclass(frozen=True)
class RefusedRows:
    """Rows of a split whose ImageID is not an Open Images id: left out of every file written."""

    rows: int
    examples: tuple[str, ...]  # the first few distinct ImageIDs, shortened

    def message(self, split: str) -> str:
        shown = ", ".join(repr(example) for example in self.examples)
        return (f"{self.rows} rows of {split}-annotations-bbox.csv have an ImageID that is not an Open Images id "
                f"({IMAGE_ID_FORMAT}), e.g. {shown}; nothing was written for them")


@dataclass
class PreparedAnnotations:
    """The kept box rows of each split, and the rows refused for a malformed ImageID (splits with some only)."""

    frames: dict[str, pd.DataFrame]
    refused: dict[str, RefusedRows] = field(default_factory=dict)


@dataclass
class SplitReport:
    images: int = 0
    downloaded: int = 0
    already_present: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # image id -> reason


@dataclass
class DownloadReport:
    splits: dict[str, SplitReport] = field(default_factory=dict)

    @property
    def failures(self) -> list[tuple[str, str, str]]:
        return [(split, image_id, reason) for split, report in self.splits.items()
                for image_id, reason in report.failed.items()]


def read_class_descriptions(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, header=None, names=["id", "ClassName"], dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise UserError(f"cannot read class descriptions {path}: {type(error).__name__}") from None


def resolve_classes(descriptions: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The (id, ClassName) rows of the requested names, matched case-insensitively; unknown names are a UserError."""
    wanted = [name.strip() for name in names if name.strip()]
    if not wanted:
        raise UserError("no class names given (e.g. --classes \"Zebra,Sea turtle\")")
    lower = descriptions["ClassName"].str.lower()
    unknown = [name for name in wanted if not (lower == name.lower()).any()]
    if unknown:
        by_lower = dict(zip(lower, descriptions["ClassName"]))
        hints = []
        for name in unknown:
            close = [by_lower[m] for m in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)]
            hints.append(f"{name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise UserError(f"unknown class name(s) {'; '.join(hints)} - not in {CLASS_DESCRIPTIONS_FILE}")
    selected = descriptions[lower.isin([name.lower() for name in wanted])]
    logger.warning("Requested %d classes, found %d classes", len(wanted), len(selected))
    return selected


def filter_annotations(path: Path, classes: pd.DataFrame, *, include_depiction: bool) -> pd.DataFrame:
    """Rows of a full box file for `classes`, joined with their names (file order kept, values kept as text)."""
    pieces = []
    try:
        for chunk in pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=_CSV_CHUNK_ROWS):
            chunk = chunk[chunk["LabelName"].isin(classes["id"])]
            if not include_depiction and "IsDepiction" in chunk:
                chunk = chunk[chunk["IsDepiction"] != "1"]
            pieces.append(chunk)
    except (KeyError, ValueError, pd.errors.ParserError) as error:
        raise UserError(f"{path} is not an Open Images box file ({type(error).__name__}: {error})") from None
    rows = pd.concat(pieces, ignore_index=True)
    return rows.merge(classes, left_on="LabelName", right_on="id", how="inner", sort=False)


def refuse_malformed_ids(frame: pd.DataFrame) -> tuple[pd.DataFrame, RefusedRows | None]:
    """`frame` without the rows whose ImageID is not an Open Images id, and what was refused (None if nothing)."""
    valid = frame["ImageID"].str.fullmatch(IMAGE_ID_PATTERN.pattern).fillna(False).astype(bool)
    if valid.all():
        return frame, None
    bad = frame.loc[~valid, "ImageID"]
    examples = tuple(str(image_id)[:_EXAMPLE_CHARS] for image_id in pd.unique(bad)[:_REFUSED_EXAMPLES])
    return frame[valid].reset_index(drop=True), RefusedRows(rows=int(len(bad)), examples=examples)


def limit_annotations(frames: dict[str, pd.DataFrame], *, max_images: int | None,
                      max_annotations_per_class: int | None) -> dict[str, pd.DataFrame]:
    """Apply --max-images (shared between splits by their image counts) then --max-annotations-per-class."""
    limited = dict(frames)
    if max_images is not None:
        available = {split: frame["ImageID"].nunique() for split, frame in limited.items()}
        total = sum(available.values())
        for split, frame in limited.items():
            if not total:
                break
            quota = max(int(max_images * available[split] / total), min(available[split], 1))
            keep = pd.unique(frame["ImageID"])[:quota]
            limited[split] = frame[frame["ImageID"].isin(keep)]
    if max_annotations_per_class is not None:
        limited = {split: frame.groupby("ClassName", sort=False).head(max_annotations_per_class)
                   for split, frame in limited.items()}
    return {split: frame.reset_index(drop=True) for split, frame in limited.items()}


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path, suffix=PARTIAL_SUFFIX) as temporary:
        frame.to_csv(temporary, index=False)


def _fetch_once(url: str, destination: Path, root: Path, settings: DownloadSettings, *, progress: bool) -> None:
    """Download `url` to `destination` (which must stay under `root`) unless it is already there."""
    if not destination.is_file():
        download_file(url, confine(destination, root), settings.policy, progress=progress)


def prepare_annotations(request: DownloadRequest, settings: DownloadSettings, *, progress: bool = False
                        ) -> PreparedAnnotations:
    """Resolve classes, fetch (once) and filter each split's box file; nothing is written but the source files."""
    root = Path(request.root)
    descriptions_path = root / CLASS_DESCRIPTIONS_FILE
    _fetch_once(settings.class_descriptions_url(), descriptions_path, root, settings, progress=progress)
    classes = resolve_classes(read_class_descriptions(descriptions_path), request.class_names)
    frames, refused = {}, {}
    for split in SPLITS:
        source = root / f"{split}-annotations-bbox.csv"
        _fetch_once(settings.annotations_url_of(split), source, root, settings, progress=progress)
        logger.warning("Read annotation file %s", source)
        frame = filter_annotations(source, classes, include_depiction=request.include_depiction)
        frames[split], refused_rows = refuse_malformed_ids(frame)
        if refused_rows is not None:
            refused[split] = refused_rows
    frames = limit_annotations(frames, max_images=request.max_images,
                               max_annotations_per_class=request.max_annotations_per_class)
    return PreparedAnnotations(frames, refused)


def _fetch_image(split: str, image_id: str, destination: Path, settings: DownloadSettings) -> None:
    data = fetch_bytes(settings.image_url(split, image_id), settings.policy, check_image=True)
    with atomic_path(destination, suffix=PARTIAL_SUFFIX) as temporary:
        temporary.write_bytes(data)


def _remove_partials(folder: Path) -> None:
    for leftover in folder.glob(f".*{PARTIAL_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def download_images(root: Path, frames: Mapping[str, pd.DataFrame], settings: DownloadSettings, *, workers: int,
                    progress: bool = False) -> DownloadReport:
    """Fetch every split's images that are not on disk yet, `workers` at a time."""
    report = DownloadReport()
    jobs: list[tuple[str, str, Path]] = []
    for split, frame in frames.items():
        folder = confine(root / split, root)
        folder.mkdir(parents=True, exist_ok=True)
        _remove_partials(folder)
        split_report = report.splits.setdefault(split, SplitReport())
        for image_id in pd.unique(frame["ImageID"]):
            split_report.images += 1
            destination = confine(image_file(root, split, str(image_id)), root)
            if destination.is_file():
                split_report.already_present += 1
            else:
                jobs.append((split, str(image_id), destination))
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool, \
            tqdm(total=len(jobs), unit="img", desc="images", disable=not progress) as bar:
        futures = {pool.submit(_fetch_image, split, image_id, destination, settings): (split, image_id)
                   for split, image_id, destination in jobs}
        try:
            for future in as_completed(futures):
                split, image_id = futures[future]
                try:
                    future.result()
                    report.splits[split].downloaded += 1
                except (FetchError, OSError) as error:
                    report.splits[split].failed[image_id] = str(error)
                    logger.warning("%s/%s.jpg not downloaded: %s", split, image_id, error)
                bar.update(1)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return report


def download_dataset(request: DownloadRequest, settings: DownloadSettings, *, progress: bool = False
                     ) -> tuple[PreparedAnnotations, DownloadReport]:
    """The whole download: filtered sub-<split> CSVs written first, then the images. Returns both."""
    root = Path(request.root)
    root.mkdir(parents=True, exist_ok=True)
    prepared = prepare_annotations(request, settings, progress=progress)
    for split, frame in prepared.frames.items():
        _write_csv(frame, confine(annotation_file(root, split), root))
    return prepared, download_images(root, prepared.frames, settings, workers=request.workers, progress=progress)
