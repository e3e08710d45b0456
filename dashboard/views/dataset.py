"""Dataset page: pick a dataset root, see its per-split/per-class counts, charts, warnings and a gallery."""
from __future__ import annotations

from pathlib import Path

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


def _charts(statistics: DatasetStatistics) -> None:
    frames = statistics.chart_frames()
    per_class = frames["per_class"]
    left, right = st.columns(2)
    left.plotly_chart(px.bar(per_class, x="class", y="boxes", color="split", barmode="group",
                             title="Boxes per class"), key="boxes_per_class")
    right.plotly_chart(px.bar(per_class, x="class", y="images", color="split", barmode="group",
                              title="Images per class"), key="images_per_class")
    left, right = st.columns(2)
    left.plotly_chart(px.bar(per_class, x="split", y="share", color="class", title="Class balance across splits",
                             labels={"share": "share of the split's boxes"}), key="class_balance")
    right.plotly_chart(px.bar(frames["objects_per_image"], x="boxes in image", y="images", color="split",
                              barmode="group", title="Objects per image"), key="objects_per_image")
    left, right = st.columns(2)
    left.plotly_chart(px.bar(frames["box_size"], x="sqrt(relative area)", y="boxes", color="split",
                             barmode="group", title="Box size"), key="box_size")
    right.plotly_chart(px.bar(frames["box_aspect"], x="log2(width/height)", y="boxes", color="split",
                              barmode="group", title="Box aspect"), key="box_aspect")


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
