"""A torch Dataset over a CSV/JSONL dataset file: (video [3, T, H, W] in [-1, 1], caption) per usable row.

Rows are validated when the dataset is built (headers only by default, so that a large dataset starts fast);
bad rows are skipped with their reasons and counted, and a dataset where nothing survives raises. A file that
breaks later, while decoding, is replaced by the next usable row of the same bucket, deterministically, and
recorded in `failures`: one corrupt clip must not end a long run.

Two sizing modes: a fixed (num_frames, height, width) for every item (what `cineflow train` asks for), or a
`BucketConfig`, where each row gets the largest bucket it fits (see buckets.py) and batches come from
`BucketBatchSampler`.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch

from cineflow import io
from cineflow.data.buckets import Bucket, BucketBatchSampler, BucketConfig, assign
from cineflow.data.table import Issue
from cineflow.data.validate import Entry, Limits, Report, validate

log = logging.getLogger(__name__)
HEADER_CHECK = Limits(decode=False)


class VideoDataset(torch.utils.data.Dataset):
    """Usable rows of a dataset file as (video float [3, T, H, W] in [-1, 1], caption).

    fps: resample every video to this rate (None: keep each file's own rate).
    buckets: None for the fixed size (num_frames, height, width), else a bucket table.
    seed: chooses where the T-frame window starts in longer videos, per (seed, epoch, index).
    """

    def __init__(
        self,
        file: str | os.PathLike[str],
        *,
        num_frames: int = 17,
        height: int = 64,
        width: int = 64,
        fps: float | None = None,
        buckets: BucketConfig | None = None,
        limits: Limits = HEADER_CHECK,
        seed: int = 0,
        workers: int = 2,
    ) -> None:
        if buckets is None and (num_frames < 1 or (num_frames - 1) % 4 or min(height, width) < 1):
            raise ValueError(f"num_frames must be 4k + 1 and sizes >= 1, got {num_frames}, {height}x{width}")
        if fps is not None and not fps > 0:
            raise ValueError(f"fps: must be > 0, got {fps}")
        self.fps, self.seed, self.epoch = fps, seed, 0
        report = validate(file, limits, workers=workers)
        fixed = None if buckets is not None else Bucket(height, width, num_frames, 1)
        self.entries: list[Entry] = []
        self.buckets: list[Bucket] = []
        for entry in report.entries:
            frames = self.available_frames(entry)
            bucket = fixed if fixed is not None else assign(entry.height, entry.width, frames, buckets)
            if bucket is not None and frames >= bucket.num_frames:
                self.entries.append(entry)
                self.buckets.append(bucket)
            elif fixed is not None:
                report.issues.append(_issue(entry, "too_short", f"{frames} frames, {num_frames} needed"))
            else:
                size = f"{entry.width}x{entry.height}, {frames} frames"
                report.issues.append(_issue(entry, "no_bucket", f"{size} fits no bucket"))
        self._members: dict[Bucket, list[int]] = {}  # the rows of each bucket, and each row's place there
        self._place: list[int] = []
        for i, bucket in enumerate(self.buckets):
            self._place.append(len(self._members.setdefault(bucket, [])))
            self._members[bucket].append(i)
        report.issues.sort(key=lambda i: i.index)
        report.entries = list(self.entries)
        self.report: Report = report
        self.failures: list[Issue] = []  # rows that broke while loading (per process: workers keep their own)
        if report.issues:
            log.warning("%s", report.summary())
        report.require_usable()

    def available_frames(self, entry: Entry) -> int:
        """Frames the video gives at the dataset rate (its own when fps is None)."""
        if self.fps is None or entry.is_image or entry.fps <= 0:
            return entry.num_frames
        return max(1, int(entry.num_frames * self.fps / entry.fps + 1e-6))

    def set_epoch(self, epoch: int) -> None:
        """Move every window to a new (still deterministic) start."""
        self.epoch = epoch

    def batch_sampler(self, **kwargs) -> BucketBatchSampler:
        """Batches from one bucket each; kwargs go to `BucketBatchSampler` (seed, rank, world_size, ...)."""
        return BucketBatchSampler(self.buckets, **kwargs)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        """(video float [3, T, H, W] in [-1, 1] at this row's bucket size, caption)."""
        bucket = self.buckets[index]
        same_bucket, start = self._members[bucket], self._place[index]
        # Try this row, then the following rows of its bucket: a deterministic stand-in for a broken file.
        for k in range(len(same_bucket)):
            i = same_bucket[(start + k) % len(same_bucket)]
            entry = self.entries[i]
            try:
                return self.load(entry, bucket, i), entry.row.text
            except (io.VideoError, OSError) as e:
                reason = failure_reason(e)
                self.failures.append(_issue(entry, reason, str(e)))
                log.warning("row %d %s skipped while loading: %s", entry.row.index, entry.row.path, e)
        raise ValueError(
            f"every row of bucket {bucket.name} failed to load; the last: {self.failures[-1].detail}"
        )

    def load(self, entry: Entry, bucket: Bucket, index: int) -> torch.Tensor:
        """A T-frame window of `entry`, resized to cover the bucket and centre-cropped: [3, T, H, W]."""
        T = bucket.num_frames
        rng = np.random.default_rng([self.seed, self.epoch, index])
        rate = self.fps or entry.fps  # frames per second of the frame count the window is drawn in
        first = int(rng.integers(0, self.available_frames(entry) - T + 1)) if rate > 0 else 0
        # Seeking to the window costs one group of pictures instead of decoding the video up to it.
        video = io.read_video(entry.file, fps=self.fps, start=first / rate if first else 0.0, max_frames=T)
        if len(video.frames) < T:
            message = f"{entry.file}: {len(video.frames)} frames decoded from frame {first}, {T} needed"
            raise io.VideoError(message, "truncated")
        return io.to_tensor(io.resize(video.frames, bucket.height, bucket.width))  # (3, T, H, W)


def failure_reason(e: Exception) -> str:
    """The reason code for an error raised while loading a row (see validate.REASONS)."""
    if isinstance(e, FileNotFoundError):
        return "missing_file"
    return getattr(e, "reason", "unreadable")


def _issue(entry: Entry, reason: str, detail: str) -> Issue:
    return Issue(entry.row.index, entry.row.path, reason, detail)
