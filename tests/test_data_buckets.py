"""Buckets: sizes, assignment to the largest fitting bucket with the closest aspect, the batch sampler."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cineflow.config import from_dict
from cineflow.data.buckets import Bucket, BucketBatchSampler, BucketConfig, BucketSpec, assign, bucket_size

CONFIG = BucketConfig(
    specs=(BucketSpec(64, 17, 2), BucketSpec(64, 1, 8), BucketSpec(32, 17, 4), BucketSpec(32, 9, 6)),
    aspect_ratios=(1.0, 16 / 9, 9 / 16),
    multiple=16,
)


def test_bucket_sizes_keep_area_and_snap_to_the_multiple() -> None:
    assert bucket_size(64, 1.0, 16) == (64, 64)
    assert bucket_size(64, 16 / 9, 16) == (48, 80)  # 48 x 85.3 -> 48 x 80
    assert bucket_size(64, 9 / 16, 16) == (80, 48)
    assert bucket_size(16, 16 / 9, 16) == (16, 16)  # never below one multiple


def test_assign_picks_the_largest_bucket_that_fits() -> None:
    assert assign(64, 64, 17, CONFIG) == Bucket(64, 64, 17, 2)
    assert assign(720, 1280, 132, CONFIG) == Bucket(48, 80, 17, 2)  # landscape -> 16:9
    assert assign(1280, 720, 132, CONFIG) == Bucket(80, 48, 17, 2)  # portrait -> 9:16
    assert assign(64, 64, 12, CONFIG) == Bucket(32, 32, 9, 6)  # too short for 17 frames at 64
    assert assign(64, 64, 1, CONFIG) == Bucket(64, 64, 1, 8)  # an image
    assert assign(40, 40, 20, CONFIG) == Bucket(32, 32, 17, 4)  # no upscaling to 64
    assert assign(20, 20, 17, CONFIG) is None  # smaller than every bucket
    assert assign(32, 32, 5, CONFIG) is None  # shorter than every 32-pixel bucket, too small for 64


def test_bucket_config_loads_strictly_from_a_mapping() -> None:
    data = {"specs": [{"resolution": 32, "num_frames": 9, "batch_size": 3}], "aspect_ratios": [1.0]}
    config = from_dict(BucketConfig, data)
    assert config.specs == (BucketSpec(32, 9, 3),)
    with pytest.raises(ValueError, match="unknown keys"):
        from_dict(BucketConfig, {"spec": []})
    with pytest.raises(ValueError, match="4k \\+ 1"):
        BucketConfig(specs=(BucketSpec(32, 8, 1),))


def test_batches_come_from_one_bucket_with_its_batch_size() -> None:
    a, b = Bucket(32, 32, 9, 2), Bucket(64, 64, 1, 3)
    buckets = [a, b, a, b, a, b, a, b, b]
    sampler = BucketBatchSampler(buckets, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 2 + 1  # 4 of a -> 2 batches; 5 of b -> 1 full batch (drop_last)
    for batch in batches:
        assert len({buckets[i] for i in batch}) == 1
        assert len(batch) == buckets[batch[0]].batch_size
    assert list(BucketBatchSampler(buckets, seed=1)) == batches  # deterministic
    keep = BucketBatchSampler(buckets, drop_last=False, shuffle=False)
    assert sorted(i for batch in keep for i in batch) == list(range(9))


def test_epochs_reshuffle() -> None:
    buckets = [Bucket(32, 32, 9, 2)] * 40
    sampler = BucketBatchSampler(buckets, seed=0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_ranks_split_batches_evenly_without_overlap() -> None:
    buckets = [Bucket(32, 32, 9, 2)] * 10 + [Bucket(64, 64, 1, 4)] * 5  # 5 + 1 = 6 batches
    ranks = [list(BucketBatchSampler(buckets, seed=3, rank=r, world_size=4)) for r in range(4)]
    assert [len(r) for r in ranks] == [1, 1, 1, 1]  # 6 batches -> 4 usable, one per rank
    seen = [i for r in ranks for batch in r for i in batch]
    assert len(seen) == len(set(seen))
    with pytest.raises(ValueError, match="rank"):
        BucketBatchSampler(buckets, rank=4, world_size=4)


@settings(max_examples=200, deadline=None)
@given(height=st.integers(1, 2000), width=st.integers(1, 2000), frames=st.integers(1, 200))
def test_assigned_buckets_never_upscale_and_are_the_largest(height: int, width: int, frames: int) -> None:
    config = BucketConfig()
    aspect = min(config.aspect_ratios, key=lambda a: abs(math.log(a * height / width)))
    fitting = []
    for spec in config.specs:
        h, w = bucket_size(spec.resolution, aspect, config.multiple)
        if h <= height and w <= width and spec.num_frames <= frames:
            fitting.append(h * w * spec.num_frames)
    bucket = assign(height, width, frames, config)
    if bucket is None:
        assert not fitting
        return
    assert bucket.height <= height and bucket.width <= width and bucket.num_frames <= frames
    assert bucket.height * bucket.width * bucket.num_frames == max(fitting)
