"""How the history reads wherever it is shown (CLI listings, the Runs page, the training table): values with their
units (bytes as MB or kB, durations in seconds or minutes, 4 significant digits), and the few key figures a run
listing shows as columns."""
from __future__ import annotations

from collections.abc import Mapping

from db.queries import KeyMetric

BYTE_UNITS = ((1e6, "MB"), (1e3, "kB"))  # bytes read in the largest unit that leaves at least 1
SIGNIFICANT_DIGITS = 4
THROUGHPUT_PREFIX = "throughput_b"  # images/sec at a batch size (core optimize)
# Column -> the summary metrics that give it, in preference: what kind of run recorded which.
KEY_FIGURES = {
    "latency ms": ("latency_p50_ms", "end_to_end_640x480_ms", "median_ms"),  # optimize, benchmark detect
    "mAP@0.5": ("map50",),  # optimize, evaluation
    "img/s": ("images_per_sec",),  # evaluation, train, benchmark detect (an optimize run's best throughput_bN first)
}


def readable(value: float, unit: str | None) -> tuple[float, str | None]:
    """The value in the unit a person reads it in (bytes become MB or kB); other units are kept."""
    if unit == "B":
        for size, name in BYTE_UNITS:
            if abs(value) >= size:
                return value / size, name
    return value, unit


def significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """`value` rounded to `digits` significant digits (494.2161 -> 494.2, 0.019876 -> 0.01988)."""
    return float(f"{value:.{digits}g}")


def metric_text(value: float, unit: str | None) -> str:
    """e.g. "7.872 MB", "12.41 ms", "0.8826", "55 B"."""
    value, unit = readable(value, unit)
    return f"{value:.{SIGNIFICANT_DIGITS}g}{' ' + unit if unit else ''}"


def duration_text(seconds: float) -> str:
    """e.g. "13.3 s", "2 min 5 s"."""
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:.0f} s" if minutes else f"{rest:.1f} s"


def key_figures(metrics: Mapping[str, KeyMetric]) -> dict[str, float | None]:
    """A run's latency, mAP@0.5 and images/sec from its summary metrics (None where it recorded none)."""
    figures: dict[str, float | None] = {}
    for column, names in KEY_FIGURES.items():
        figures[column] = next((metrics[name].value for name in names if name in metrics), None)
    throughputs = [metric.value for name, metric in metrics.items() if name.startswith(THROUGHPUT_PREFIX)]
    if throughputs:  # the model's own speed, not its evaluation's (which includes reading and scoring images)
        figures["img/s"] = max(throughputs)
    return figures
