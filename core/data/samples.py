"""Gallery pages of a dataset: images with their ground-truth boxes drawn, filterable by split and class, paged."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.dataset import BACKGROUND, CorruptImageError
from core.data.readers import open_split
from core.data.table import DatasetTables
from core.errors import UserError
from core.pictures.drawing import draw_boxes


@dataclass(frozen=True)
class GalleryItem:
    image_id: str
    split: str
    image: np.ndarray | None  # BGR uint8 with boxes drawn; None for a corrupt image
    classes: tuple[str, ...]  # class of each box
    error: str = ""


@dataclass(frozen=True)
class GalleryPage:
    items: tuple[GalleryItem, ...]
    page: int  # 0-based
    pages: int
    total: int  # images matching the filter


def gallery_page(tables: DatasetTables, *, split: str, class_name: str | None = None, page: int = 0,
                 page_size: int = 12) -> GalleryPage:
    """Page `page` of the images of `split` (only those with a `class_name` box when given), boxes drawn."""
    if page_size < 1:
        raise UserError(f"page size must be at least 1, got {page_size}")
    all_classes = sorted({str(name) for table in tables.splits.values() for name in table["ClassName"].dropna()})
    names = [BACKGROUND, *all_classes]
    dataset = open_split(tables, split, names)
    if class_name is None:
        indices = np.arange(len(dataset))
    elif class_name in names[1:]:
        indices = dataset.indices_with_class(names.index(class_name))
    else:
        raise UserError(f"unknown class {class_name!r} (classes: {', '.join(all_classes)})")
    pages = max((len(indices) + page_size - 1) // page_size, 1)
    page = min(max(page, 0), pages - 1)
    items = []
    for index in indices[page * page_size:(page + 1) * page_size]:
        classes = tuple(names[label] for label in dataset.labels_of(int(index)))
        try:
            sample = dataset[int(index)]
        except CorruptImageError as error:
            items.append(GalleryItem(dataset.image_id(int(index)), split, None, classes, str(error)))
            continue
        drawn = draw_boxes(sample.image, sample.boxes, None, sample.labels, names)  # ground truth: the class alone
        items.append(GalleryItem(sample.image_id, split, drawn, classes))
    return GalleryPage(tuple(items), page, pages, len(indices))
