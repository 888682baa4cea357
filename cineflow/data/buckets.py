"""Buckets of (resolution, frames) with a batch size each, Open-Sora style, and a batch sampler over them.

Videos of mixed sizes and lengths cannot share a batch, and one batch size cannot fit both 1-frame images at
high resolution and long clips. A bucket is a (height, width, num_frames) cell with its own batch size; every
batch is drawn from a single bucket. Each video goes to the largest bucket (by pixels x frames) that it fits
without upscaling, in the aspect ratio closest to its own; it is then resized to cover the bucket and
centre-cropped, so shapes are never stretched.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class BucketSpec:
    """One row of the bucket table: every aspect ratio at this resolution and length shares `batch_size`."""

    resolution: int  # pixels: a bucket holds about resolution**2 pixels per frame (64 -> 64x64 at 1:1)
    num_frames: int  # 4k + 1 for the causal VAE (1 = images)
    batch_size: int


@dataclass(frozen=True)
class BucketConfig:
    """The bucket table. Sides are multiples of `multiple` (VAE 8x times DiT patch 2 = 16)."""

    specs: tuple[BucketSpec, ...] = (
        BucketSpec(64, 17, 4),
        BucketSpec(64, 9, 8),
        BucketSpec(64, 1, 32),
        BucketSpec(32, 17, 16),
        BucketSpec(32, 9, 32),
        BucketSpec(32, 1, 64),
    )
    aspect_ratios: tuple[float, ...] = (1.0, 4 / 3, 3 / 4, 16 / 9, 9 / 16)  # width / height
    multiple: int = 16

    def __post_init__(self) -> None:
        if not self.specs:
            raise ValueError("BucketConfig.specs: at least one bucket is needed")
        if self.multiple < 1:
            raise ValueError(f"BucketConfig.multiple: must be >= 1, got {self.multiple}")
        if not self.aspect_ratios or min(self.aspect_ratios) <= 0:
            raise ValueError("BucketConfig.aspect_ratios: positive width/height ratios are needed")
        for s in self.specs:
            if s.resolution < self.multiple or s.batch_size < 1 or s.num_frames < 1 or (s.num_frames - 1) % 4:
                raise ValueError(
                    f"BucketConfig.specs: {s}: resolution >= multiple ({self.multiple}), "
                    "batch_size >= 1 and num_frames = 4k + 1 are required"
                )


@dataclass(frozen=True, order=True)
class Bucket:
    height: int
    width: int
    num_frames: int
    batch_size: int = field(compare=False)

    @property
    def name(self) -> str:
        return f"{self.width}x{self.height}x{self.num_frames}"


def bucket_size(resolution: int, aspect_ratio: float, multiple: int) -> tuple[int, int]:
    """(height, width) of about resolution**2 pixels at width/height = aspect_ratio, snapped to `multiple`."""
    height = resolution / math.sqrt(aspect_ratio)
    width = resolution * math.sqrt(aspect_ratio)
    return (
        max(multiple, round(height / multiple) * multiple),
        max(multiple, round(width / multiple) * multiple),
    )


def assign(height: int, width: int, num_frames: int, config: BucketConfig) -> Bucket | None:
    """The largest bucket (pixels x frames) a video fits without upscaling, in its closest aspect ratio.

    None when it fits none (smaller than the smallest bucket, or shorter than every frame count).
    """
    aspect = min(config.aspect_ratios, key=lambda a: abs(math.log(a * height / width)))
    candidates = []
    for spec in config.specs:
        h, w = bucket_size(spec.resolution, aspect, config.multiple)
        if h <= height and w <= width and spec.num_frames <= num_frames:
            candidates.append(Bucket(h, w, spec.num_frames, spec.batch_size))
    if not candidates:
        return None
    return max(candidates, key=lambda b: (b.height * b.width * b.num_frames, b.num_frames))


class BucketBatchSampler:
    """Batches of dataset indices, each from one bucket, with that bucket's batch size.

    A pure function of (buckets, seed, epoch, rank, world_size): every rank computes the same batch list and
    takes every world_size-th batch, truncated so that all ranks run the same number of steps. Pass it to
    `torch.utils.data.DataLoader(dataset, batch_sampler=...)`; call `set_epoch` before each epoch.
    """

    def __init__(
        self,
        buckets: list[Bucket],
        *,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank: must be in 0..{world_size - 1}, got {rank}")
        self.buckets, self.seed, self.shuffle, self.drop_last = buckets, seed, shuffle, drop_last
        self.rank, self.world_size, self.epoch = rank, world_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """All batches of this epoch, across every rank."""
        rng = np.random.default_rng([self.seed, self.epoch])
        groups: dict[Bucket, list[int]] = {}
        for index, bucket in enumerate(self.buckets):
            groups.setdefault(bucket, []).append(index)
        batches = []
        for bucket in sorted(groups):  # a fixed order, so the rng draws are the same on every rank
            indices = groups[bucket]
            if self.shuffle:
                indices = [indices[i] for i in rng.permutation(len(indices))]
            for start in range(0, len(indices), bucket.batch_size):
                batch = indices[start : start + bucket.batch_size]
                if len(batch) == bucket.batch_size or not self.drop_last:
                    batches.append(batch)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        usable = len(batches) // self.world_size * self.world_size
        return batches[:usable]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches()[self.rank :: self.world_size]

    def __len__(self) -> int:
        return len(self.batches()) // self.world_size
