"""Dataset page: pick a dataset root, see its per-split/per-class counts, charts, warnings and a gallery."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from core.config import load_settings
from core.data.readers import dataset_signature, find_datasets, read_dataset
from core.data.samples import GalleryPage, gallery_page
from core.data.stats import DatasetStatistics, compute_statistics
from core.data.synthetic import make_synthetic_dataset
from core.data.table import DatasetTables
from core.errors import UserError
from dashboard.components import inline
from dashboard.components.text import plain

ALL_CLASSES = "(all classes)"
SPLIT_COLOURS = ("#c6dbef", "#6baed6", "#2171b5", "#08306b")  # shades of one blue: train, validation, test, ...
# Set2 without its blue, and Dark2's magenta: no class looks like a split
CLASS_COLOURS = [*px.colors.qualitative.Set2[:2], *px.colors.qualitative.Set2[3:], px.colors.qualitative.Dark2[3]]
GALLERY_COLUMNS = 4
GALLERY_PAGE_SIZE = 12


@st.cache_resource(max_entries=4, show_spinner=False)
def _tables(root: str, signature: str) -> DatasetTables:
    return read_dataset(root)


@st.cache_data(max_entries=8, show_spinner="Counting boxes...")
def _statistics(root: str, signature: str) -> DatasetStatistics:
    return compute_statistics(_tables(root, signature))


@st.cache_data(max_entries=32, show_spinner="Drawing boxes...")
def _gallery(root: str, signature: str, split: str, class_name: str | None, page: int) -> GalleryPage:
    return gallery_page(_tables(root, signature), split=split, class_name=class_name, page=page,
                        page_size=GALLERY_PAGE_SIZE)


def _pick_root() -> Path | None:
    settings = load_settings()
    candidates = find_datasets([settings.data_root, *settings.allowed_roots])
    if not candidates:
        st.info(f"No dataset found under {plain(settings.data_root)}. Download one with `python -m core dataset download` "
                "or create the synthetic demo dataset.")
        if st.button("Create the demo dataset"):
            with st.spinner("Drawing the demo dataset..."):
                make_synthetic_dataset(settings.confine(settings.data_root / "demo"), images=300)
            st.rerun()
        return None
    options = [str(path) for path in candidates]
    chosen = st.selectbox("Dataset root", options, help="Open Images downloader folders and VOC folders found "
                          "under the configured data roots")
    typed = st.text_input("...or another folder under the data roots", placeholder="path/to/dataset")
    return settings.confine(typed) if typed.strip() else Path(chosen)


def _share(frame: pd.DataFrame, column: str, totals: dict[str, int]) -> pd.DataFrame:
    """`frame` with "share": its `column` over its split's total, so a large train split does not dwarf the others."""
    return frame.assign(share=frame[column] / frame["split"].map(totals).replace(0, float("nan")))


def _charts(statistics: DatasetStatistics) -> None:
    """Every split's figures as shares of that split (splits side by side in shades of one colour), classes in a
    palette of their own."""
    frames = statistics.chart_frames()
    per_class = frames["per_class"]
    images = {split.name: split.image_count for split in statistics.splits}
    boxes = {split.name: split.box_count for split in statistics.splits}
    splits = {name: SPLIT_COLOURS[index % len(SPLIT_COLOURS)] for index, name in enumerate(images)}
    by_split = {"color": "split", "barmode": "group", "color_discrete_map": splits,
                "category_orders": {"split": list(splits)}}
    charts = [
        (px.bar(per_class, x="class", y="share", title="Boxes per class (share of each split's boxes)",
                hover_data=["boxes"], **by_split), "boxes_per_class"),
        (px.bar(_share(per_class, "images", images), x="class", y="share", hover_data=["images"],
                title="Images per class (share of each split's images)", **by_split), "images_per_class"),
        (px.bar(per_class, x="split", y="share", color="class", title="Class balance across splits",
                color_discrete_sequence=CLASS_COLOURS, labels={"share": "share of the split's boxes"}),
         "class_balance"),
        (px.bar(_share(frames["objects_per_image"], "images", images), x="boxes in image", y="share",
                hover_data=["images"], title="Objects per image (share of each split's images)", **by_split),
         "objects_per_image"),
        (px.bar(_share(frames["box_size"], "boxes", boxes), x="sqrt(relative area)", y="share",
                hover_data=["boxes"], title="Box size (share of each split's boxes)", **by_split), "box_size"),
        (px.bar(_share(frames["box_aspect"], "boxes", boxes), x="log2(width/height)", y="share",
                hover_data=["boxes"], title="Box aspect (share of each split's boxes)", **by_split), "box_aspect"),
    ]
    for start in range(0, len(charts), 2):
        for column, (figure, key) in zip(st.columns(2), charts[start:start + 2]):
            figure.update_yaxes(tickformat=".0%")
            column.plotly_chart(figure, key=key)


def _gallery_section(root: str, signature: str, statistics: DatasetStatistics) -> None:
    st.subheader("Gallery")
    split_column, class_column, page_column = st.columns(3)
    split = split_column.selectbox("Split", [split.name for split in statistics.splits], key="gallery_split")
    class_choice = class_column.selectbox("Class", [ALL_CLASSES, *statistics.classes], key="gallery_class")
    class_name = None if class_choice == ALL_CLASSES else class_choice
    page_number = page_column.number_input("Page", min_value=1, value=1, step=1, key="gallery_page")
    page = _gallery(root, signature, split, class_name, int(page_number) - 1)
    st.caption(f"{page.total} images in {plain(split)}" + (f" with {plain(class_name)}" if class_name else "")
               + f" - page {page.page + 1} of {page.pages}")
    columns = st.columns(GALLERY_COLUMNS)
    for index, item in enumerate(page.items):
        column = columns[index % GALLERY_COLUMNS]
        if item.image is None:
            column.error(f"{plain(item.image_id)}: {plain(item.error)}")
        else:
            with column:
                inline.image(item.image, caption=f"{item.image_id} - {', '.join(item.classes)}")


def render() -> None:
    st.title("Dataset")
    try:
        root = _pick_root()
        if root is None:
            return
        signature = dataset_signature(root)
        statistics = _statistics(str(root), signature)
    except UserError as error:
        st.error(plain(error))
        return
    totals = st.columns(4)
    totals[0].metric("Images", statistics.image_count)
    totals[1].metric("Boxes", statistics.box_count)
    totals[2].metric("Classes", len(statistics.classes))
    totals[3].metric("Splits", len(statistics.splits))
    for warning in statistics.warnings:
        st.warning(plain(warning))
    st.subheader("Splits")
    st.dataframe(statistics.split_table(), hide_index=True)
    st.subheader("Classes")
    st.dataframe(statistics.class_table(), hide_index=True)
    _charts(statistics)
    try:
        _gallery_section(str(root), signature, statistics)
    except UserError as error:
        st.error(plain(error))


render()
