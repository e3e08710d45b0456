"""Pick the reader for a dataset root by its layout (Open Images downloader folder or VOC folder)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from core.data import open_images, voc
from core.data.dataset import DetectionDataset
from core.data.table import DatasetTables
from core.errors import UserError
from core.files.paths import resolved_under


def dataset_layout(root: str | Path) -> str | None:
    """"open_images", "voc" or None for a folder that is neither."""
    if open_images.is_open_images_root(root):
        return open_images.LAYOUT
    if voc.is_voc_root(root):
        return voc.LAYOUT
    return None


def read_dataset(root: str | Path) -> DatasetTables:
    """The annotation tables of every split of a dataset root, whatever its layout."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"dataset folder not found: {root}")
    layout = dataset_layout(root)
    if layout == open_images.LAYOUT:
        return open_images.read_open_images(root)
    if layout == voc.LAYOUT:
        return voc.read_voc(root)
    raise UserError(f"{root} is neither an Open Images downloader folder (sub-<split>-annotations-bbox.csv) "
                    "nor a VOC folder (Annotations/, ImageSets/Main/)")


def default_class_names(tables: DatasetTables) -> list[str]:
    """The label order a model trained on this dataset uses (BACKGROUND first)."""
    if tables.layout == voc.LAYOUT:
        return voc.voc_class_names(tables.root)
    return open_images.default_class_names(tables)


def open_split(tables: DatasetTables, split: str, class_names: Sequence[str] | None = None) -> DetectionDataset:
    """A `DetectionDataset` over one split of already read tables."""
    if split not in tables.splits:
        raise UserError(f"{tables.root} has no {split!r} split (found: {', '.join(tables.splits)})")
    names = list(class_names) if class_names is not None else default_class_names(tables)
    return DetectionDataset(tables.splits[split], lambda image_id: tables.image_path(split, image_id), names,
                            name=f"{tables.root.name}/{split}")


def find_datasets(roots: Iterable[Path], *, depth: int = 2) -> list[Path]:
    """Dataset folders at most `depth` levels below each root (the roots included), sorted, without duplicates.

    A symlink is followed only when it resolves inside one of the roots: the list never leads out of them.
    """
    roots = [Path(root) for root in roots]
    found: set[Path] = set()
    level = [root for root in roots if root.is_dir()]
    for _ in range(depth + 1):
        below = []
        for folder in level:
            if dataset_layout(folder):
                found.add(folder.resolve())
                continue
            try:
                below.extend(sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith(".")
                                    and resolved_under(path, roots)))
            except OSError:
                continue
        level = below
    return sorted(found)


def dataset_signature(root: str | Path) -> str:
    """Changes when the annotations of a dataset root change (file names, sizes and times), for cache keys."""
    root = Path(root)
    files = [*root.glob("sub-*-annotations-bbox.csv"), *root.glob("ImageSets/Main/*.txt"), root / "Annotations"]
    parts = []
    for path in sorted(files):
        try:
            stat = path.stat()
        except OSError:
            continue
        parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)
