"""Datasets: Open Images downloader layout and VOC readers, statistics, gallery samples, downloader, demo data."""
