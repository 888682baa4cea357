"""Check every row of a dataset file before training: one reason per bad row, counts per reason.

A long run must not die at step 40,000 on a corrupt file, and a dataset where nothing survives must fail
loudly instead of training on nothing. Rows are checked in file order and the verdict is a pure function of
the file and the media, so the same rows are skipped on every machine and every run.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cineflow import io
from cineflow.data.table import Issue, Row, read_table

# Why a row is skipped. The keys are what reports and --json print; docs/data.md lists them too.
REASONS = {
    "bad_row": "the row cannot be parsed (no path, a number column that is not a number, bad JSON)",
    "empty_caption": "the text column is empty",
    "not_local": "the path is a URL or protocol (http://, concat:, pipe:); only local files are read",
    "missing_file": "no file at the path",
    "not_a_file": "the path is a folder, a device or a fifo",
    "empty_file": "the file has 0 bytes",
    "unreadable": "neither FFmpeg nor Pillow can open it (not media, a text file renamed .mp4, no index)",
    "no_video_stream": "the file holds only audio or data",
    "no_frames": "the video stream decodes to no frame",
    "truncated": "decoding stops early: fewer frames than the container declares, or a decode error",
    "too_short": "fewer frames than the minimum asked for",
    "bad_size": "a side is smaller or larger than the accepted range",
    "no_bucket": "the video fits no bucket: smaller than the smallest one or shorter than every length",
    "stale_metadata": "num_frames/height/width in the file disagree with the video (run data prepare)",
}
# Accepted, but worth knowing.
NOTES = {
    "variable_fps": "frame intervals vary; reading with fps= resamples by timestamps to a constant rate",
    "odd_size": "odd height or width; frames are resized and cropped to a bucket, so this is fine",
    "single_frame": "a 1-frame video: it is used as an image",
}
VFR_TOLERANCE = 0.25  # frame intervals more than 25% off their median count as a variable rate


@dataclass(frozen=True)
class Entry:
    """A usable row with what the media really holds."""

    row: Row
    file: Path
    num_frames: int
    height: int
    width: int
    fps: float
    is_image: bool


@dataclass(frozen=True)
class Limits:
    """What a usable row must satisfy."""

    min_frames: int = 1
    min_size: int = 16  # pixels on the shorter side
    max_size: int = 8192  # pixels on the longer side
    decode: bool = True  # decode every frame (finds truncation and variable rates) or only read headers


@dataclass
class Report:
    file: Path
    total: int
    entries: list[Entry]
    issues: list[Issue]
    notes: list[Issue]

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(i.reason for i in self.issues).items()))

    def note_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(n.reason for n in self.notes).items()))

    def summary(self) -> str:
        counts = ", ".join(f"{n} {reason}" for reason, n in self.counts().items()) or "none"
        return f"{self.file}: {len(self.entries)} of {self.total} rows usable; skipped: {counts}"

    def require_usable(self) -> None:
        """Raise when nothing survives: an empty run is an error, not a silent success."""
        if not self.entries:
            raise ValueError(f"no usable rows; {self.summary()}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.file),
            "total": self.total,
            "usable": len(self.entries),
            "skipped": len(self.issues),
            "counts": self.counts(),
            "note_counts": self.note_counts(),
            "issues": [i.to_dict() for i in self.issues],
            "notes": [n.to_dict() for n in self.notes],
        }


def validate(file: str | os.PathLike[str], limits: Limits | None = None, *, workers: int = 1) -> Report:
    """Check every row of a .csv/.jsonl dataset file. Raises only when the file itself is unusable."""
    limits = limits or Limits()
    if limits.min_frames < 1:
        raise ValueError(f"min_frames: must be >= 1, got {limits.min_frames}")
    if not 1 <= limits.min_size <= limits.max_size:
        raise ValueError(f"min_size/max_size: need 1 <= min_size <= max_size, got {limits}")
    table = read_table(file)
    if workers < 1:
        raise ValueError(f"workers: must be >= 1, got {workers}")
    # Threads overlap FFmpeg's decoding (it releases the GIL); map keeps file order, so results are stable.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda row: check_row(row, table.root, limits), table.rows))
    entries, issues, notes = [], list(table.bad), []
    for entry, issue, row_notes in results:
        if issue is not None:
            issues.append(issue)
        elif entry is not None:
            entries.append(entry)
            notes.extend(row_notes)
    issues.sort(key=lambda i: i.index)
    total = len(table.rows) + len(table.bad)
    return Report(Path(file), total, entries, issues, notes)


def check_row(row: Row, root: Path, limits: Limits) -> tuple[Entry | None, Issue | None, list[Issue]]:
    """(the usable entry, or the reason it is not, and notes). Checks run cheapest first."""

    def issue(reason: str, detail: str) -> tuple[None, Issue, list[Issue]]:
        return None, Issue(row.index, row.path, reason, detail), notes

    notes: list[Issue] = []
    if not row.text.strip():
        return issue("empty_caption", "the text column is empty")
    file = row.resolve(root)
    try:
        io.check_local(row.path)  # before joining with the folder, which would hide "http://"
        info = io.probe(file)
        frames = info.frames
        if limits.decode and not info.is_image:
            times = io.frame_times(file)
            if len(times) == 0:
                return issue("no_frames", "the video stream decodes to no frame")
            if len(times) < info.frames:
                return issue("truncated", f"decoded {len(times)} of the {info.frames} frames declared")
            frames = len(times)
            if _variable_rate(times):
                notes.append(Issue(row.index, row.path, "variable_fps", _intervals(times)))
    except io.VideoError as e:
        return issue(e.reason, str(e))
    except FileNotFoundError as e:
        return issue("missing_file", str(e))
    except IsADirectoryError as e:
        return issue("not_a_file", str(e))
    except OSError as e:  # no permission to read, an I/O error of the disk
        return issue("unreadable", f"{file}: {e.strerror or e}")
    if frames < 1:
        return issue("no_frames", "the container declares no frame")
    if frames < limits.min_frames:
        return issue("too_short", f"{frames} frames, at least {limits.min_frames} needed")
    short, long = min(info.height, info.width), max(info.height, info.width)
    if short < limits.min_size or long > limits.max_size:
        size = f"{info.width}x{info.height}"
        return issue("bad_size", f"{size}: sides must be {limits.min_size} to {limits.max_size} pixels")
    stale = _stale(row, frames, info)
    if stale:
        return issue("stale_metadata", stale)
    if info.height % 2 or info.width % 2:
        notes.append(Issue(row.index, row.path, "odd_size", f"{info.width}x{info.height}"))
    if frames == 1 and not info.is_image:
        notes.append(Issue(row.index, row.path, "single_frame", "1 frame"))
    entry = Entry(row, file, frames, info.height, info.width, info.fps, info.is_image)
    return entry, None, notes


def _variable_rate(times: np.ndarray) -> bool:
    if len(times) < 3:
        return False
    intervals = np.diff(times)
    median = float(np.median(intervals))
    return median > 0 and bool(np.any(np.abs(intervals - median) > VFR_TOLERANCE * median))


def _intervals(times: np.ndarray) -> str:
    intervals = np.diff(times) * 1000
    return f"frame intervals from {intervals.min():.1f} to {intervals.max():.1f} ms"


def _stale(row: Row, frames: int, info: io.VideoInfo) -> str:
    recorded = {"num_frames": row.num_frames, "height": row.height, "width": row.width}
    actual = {"num_frames": frames, "height": info.height, "width": info.width}
    wrong = [
        f"{k} {recorded[k]} (the file has {actual[k]})"
        for k in recorded
        if recorded[k] not in (None, actual[k])
    ]
    return "; ".join(wrong)
