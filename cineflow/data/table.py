"""The dataset file: CSV or JSONL rows of `path,text` (+ `num_frames,height,width,fps`), Open-Sora compatible.

Paths are relative to the dataset file's folder (absolute paths are kept as they are). Columns other than the
known ones (Open-Sora adds `aes`, `flow`, ...) are carried through untouched. A row that cannot be parsed is
not an error for the whole file: it becomes an `Issue` with reason `bad_row`, so one typo does not stop a run.
"""

from __future__ import annotations

import csv
import io as _stdio
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cineflow.atomic import atomic_write_text

KNOWN_COLUMNS = ("path", "text", "num_frames", "height", "width", "fps")
SUFFIXES = (".csv", ".jsonl")


@dataclass(frozen=True)
class Row:
    """One dataset row. `index` is the 0-based position among data rows (the header is not counted)."""

    index: int
    path: str  # as written in the file
    text: str
    num_frames: int | None = None
    height: int | None = None
    width: int | None = None
    fps: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def resolve(self, root: Path) -> Path:
        """The file this row names: relative paths are taken from the dataset file's folder."""
        p = Path(self.path)
        return p if p.is_absolute() else root / p

    def to_record(self) -> dict[str, Any]:
        known = {k: getattr(self, k) for k in KNOWN_COLUMNS}
        return {**known, **self.extra}


@dataclass(frozen=True)
class Issue:
    """Why a row was skipped (or, as a note, something accepted but worth knowing)."""

    index: int
    path: str
    reason: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.index, "path": self.path, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class Table:
    rows: list[Row]
    bad: list[Issue]  # rows that could not be parsed
    root: Path  # the folder relative paths are taken from


def read_table(file: str | os.PathLike[str]) -> Table:
    """Parse a .csv or .jsonl dataset file. Raises only when the file itself is unusable."""
    file = Path(file)
    if file.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{file}: a dataset file ends in .csv or .jsonl, got {file.suffix!r}")
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such dataset file")
    text = file.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often write a byte-order mark
    records = _csv_records(file, text) if file.suffix.lower() == ".csv" else _jsonl_records(text)
    rows: list[Row] = []
    bad: list[Issue] = []
    for index, record in enumerate(records):
        try:
            rows.append(_row(index, record))
        except ValueError as e:
            path = record.get("path") if isinstance(record, dict) else None
            bad.append(Issue(index, str(path or ""), "bad_row", str(e)))
    return Table(rows=rows, bad=bad, root=file.resolve().parent)


def _csv_records(file: Path, text: str) -> list[Any]:
    reader = csv.DictReader(_stdio.StringIO(text))
    missing = {"path", "text"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"{file}: the header must name the columns path and text; missing {sorted(missing)}")
    # A line with more fields than the header lands under the key None: report it as a bad row.
    return [r if None not in r else ValueError("more fields than the header names") for r in reader]


def _jsonl_records(text: str) -> list[Any]:
    records: list[Any] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            records.append(ValueError(f"not valid JSON ({e.msg} at column {e.colno})"))
    return records


def _row(index: int, record: Any) -> Row:
    if isinstance(record, ValueError):
        raise record
    if not isinstance(record, dict):
        raise ValueError(f"expected an object with path and text, got {type(record).__name__}")
    path = record.get("path")
    if not isinstance(path, str) or not path.strip():
        raise ValueError("the path column is empty")
    text = record.get("text")
    text = "" if text is None else str(text)
    extra = {k: v for k, v in record.items() if k not in KNOWN_COLUMNS}
    return Row(
        index=index,
        path=path.strip(),
        text=text,
        num_frames=_number(record, "num_frames", int),
        height=_number(record, "height", int),
        width=_number(record, "width", int),
        fps=_number(record, "fps", float),
        extra=extra,
    )


def _number(record: dict[str, Any], key: str, kind: type) -> Any:
    value = record.get(key)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key}: not a number: {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{key}: must be a finite number >= 0, got {value!r}")
    if kind is int:
        if number != int(number):
            raise ValueError(f"{key}: must be a whole number, got {value!r}")
        return int(number)
    return number


def write_table(file: str | os.PathLike[str], rows: list[Row]) -> None:
    """Write rows as .csv or .jsonl (from the suffix), atomically; extra columns follow the known ones."""
    file = Path(file)
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{file}: a dataset file ends in .csv or .jsonl, got {file.suffix!r}")
    records = [r.to_record() for r in rows]
    if suffix == ".csv":
        columns = list(KNOWN_COLUMNS) + sorted({k for r in rows for k in r.extra})
        buffer = _stdio.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in records)
        content = buffer.getvalue()
    else:
        content = "".join(json.dumps({k: v for k, v in r.items() if v is not None}) + "\n" for r in records)
    atomic_write_text(file, content)
