"""The files a run history moves in: JSONL between databases, CSV out to spreadsheets (`History.export_jsonl`,
`export_csv` and `import_jsonl` read and write the database; this module only writes and reads the files).

JSONL (one run per line, with its metrics and artifacts) is the lossless format that `import_jsonl` merges: runs
are identified by uuid, so importing the same file twice, or a history that came back from another device, never
duplicates a run. CSV is one row per run with its key metrics as columns, for spreadsheets; it is not imported.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from core.errors import UserError
from core.files.atomic import atomic_path
from db.records import MAX_JSON_DEPTH, validate_record

CSV_COLUMNS = ("uuid", "kind", "status", "started_at", "finished_at", "duration_s", "host", "device", "parent_uuid",
               "error", "params")
METRIC_PREFIX = "metric."
MAX_LINE_CHARS = 16 * 1024 * 1024  # one run with its metrics; a longer line is refused before it is parsed


@contextmanager
def _atomic_text(path: Path) -> Iterator[IO[str]]:
    """A text file that appears at `path` only when the block ends without an exception."""
    with atomic_path(path) as temporary, temporary.open("w", encoding="utf-8", newline="") as handle:
        yield handle


def write_jsonl(output: str | Path, records: list[dict[str, Any]]) -> int:
    """Write records as the JSON lines `import_jsonl` reads (the file appears whole or not at all); returns how many."""
    with _atomic_text(Path(output)) as handle:
        handle.write(jsonl_text(records))
    return len(records)


def jsonl_text(records: Iterable[dict[str, Any]]) -> str:
    """Records as the JSON lines `import_jsonl` reads."""
    return "".join(json.dumps(record, sort_keys=True) + "\n" for record in records)


def _key_metrics(record: dict[str, Any]) -> dict[str, float]:
    return {METRIC_PREFIX + metric["name"]: metric["value"] for metric in record["metrics"]
            if metric["epoch"] is None and metric["class_name"] is None}


def _csv_row(record: dict[str, Any]) -> dict[str, Any]:
    row = {column: record.get(column) for column in CSV_COLUMNS}
    row["params"] = json.dumps(record["params"], sort_keys=True)
    if record["finished_at"]:
        row["duration_s"] = round((datetime.fromisoformat(record["finished_at"])
                                   - datetime.fromisoformat(record["started_at"])).total_seconds(), 3)
    return {**row, **_key_metrics(record)}


def write_csv(output: str | Path, records: list[dict[str, Any]]) -> int:
    """Write one CSV row per record with its key metrics as `metric.NAME` columns; returns how many."""
    with _atomic_text(Path(output)) as handle:
        handle.write(csv_text(records))
    return len(records)


def csv_text(records: Iterable[dict[str, Any]]) -> str:
    """Records as CSV: one row per run with its key metrics as `metric.NAME` columns."""
    rows = [_csv_row(record) for record in records]
    metric_columns = sorted({column for row in rows for column in row if column.startswith(METRIC_PREFIX)})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*CSV_COLUMNS, *metric_columns])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The validated records of a JSONL export; any bad line is a UserError naming the file and the line."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="\n") as handle:
            return parse_jsonl(handle, str(path))
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read {path}: {error}") from None


def _bounded_lines(text: str | IO[str]) -> Iterator[str]:
    """The lines of a file or text, each read at most MAX_LINE_CHARS + 1 characters at a time."""
    handle = io.StringIO(text) if isinstance(text, str) else text
    while line := handle.readline(MAX_LINE_CHARS + 1):
        yield line


def _parse_line(line: str) -> dict[str, Any]:
    if len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
        raise UserError(f"the line is longer than {MAX_LINE_CHARS} characters")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise UserError(f"not a JSON run record ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise UserError(f"the record nests deeper than {MAX_JSON_DEPTH} levels") from None
    return validate_record(record)


def parse_jsonl(text: str | IO[str], source: str) -> list[dict[str, Any]]:
    """The validated records of JSONL text (or an open file); a bad line is a UserError naming `source` and the line.

    Every line is read and checked before the caller writes anything, so a file is imported whole or not at all.
    """
    records = []
    for number, line in enumerate(_bounded_lines(text), start=1):
        if not line.strip():
            continue
        try:
            records.append(_parse_line(line))
        except UserError as error:
            raise UserError(f"{source}:{number}: {error}; nothing was imported (a file is imported whole or not at all)"
                            ) from None
    return records
