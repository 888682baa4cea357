"""VideoDataset: shapes, windows, buckets, fallbacks for files that break while loading, DataLoader use."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cineflow import io
from cineflow.cli import main
from cineflow.data.buckets import BucketConfig, BucketSpec
from cineflow.data.dataset import VideoDataset


def counter_clip(T: int, H: int, W: int) -> np.ndarray:
    """Frame t is filled with the value 10 * t, so a window's start can be read back. uint8 [T, H, W, 3]."""
    return np.repeat(np.arange(T, dtype=np.uint8)[:, None, None, None] * 10, H * W * 3).reshape(T, H, W, 3)


def write_csv(root: Path, rows: list[tuple[str, str]]) -> Path:
    file = root / "data.csv"
    with file.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "text"])
        writer.writerows(rows)
    return file


@pytest.fixture
def dataset_file(tmp_path: Path) -> Path:
    io.write_video(tmp_path / "long.mkv", counter_clip(20, 32, 48), fps=8)  # lossless: exact values
    io.write_video(tmp_path / "short.mkv", counter_clip(9, 32, 32), fps=8)
    io.write_video(tmp_path / "image.png", counter_clip(1, 40, 40), fps=8)
    (tmp_path / "broken.mp4").write_text("not a video")
    rows = [("long.mkv", "long"), ("broken.mp4", "broken"), ("short.mkv", "short"), ("image.png", "image")]
    return write_csv(tmp_path, rows)


def test_fixed_size_items_and_skipped_rows(dataset_file: Path) -> None:
    ds = VideoDataset(dataset_file, num_frames=9, height=16, width=16)
    assert len(ds) == 2  # long and short; broken is unreadable, the image is too short for 9 frames
    assert ds.report.counts() == {"too_short": 1, "unreadable": 1}
    video, text = ds[0]
    assert text == "long"
    assert video.shape == (3, 9, 16, 16) and video.dtype == torch.float32
    assert video.min() >= -1.0 and video.max() <= 1.0


def test_windows_are_deterministic_and_move_with_the_epoch(dataset_file: Path) -> None:
    ds = VideoDataset(dataset_file, num_frames=5, height=16, width=16, seed=7)

    def starts() -> list[int]:
        return [round((float(ds[0][0][0, 0, 0, 0]) + 1) * 127.5 / 10) for _ in range(2)]

    first = starts()
    assert first[0] == first[1]  # same (seed, epoch, index): same window
    values = ds[0][0][0, :, 0, 0]
    steps = ((values[1:] - values[:-1]) * 127.5).round()
    assert torch.all(steps == 10)  # consecutive frames
    seen = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        seen.add(starts()[0])
    assert len(seen) > 1 and max(seen) <= 20 - 5


def test_fps_resampling_halves_the_frames(dataset_file: Path) -> None:
    ds = VideoDataset(dataset_file, num_frames=9, height=16, width=16, fps=4)
    assert len(ds) == 1  # long (20 frames at 8 fps -> 10 at 4 fps); short gives only 4 at 4 fps
    video = ds[0][0]
    steps = ((video[0, 1:, 0, 0] - video[0, :-1, 0, 0]) * 127.5).round()
    assert torch.all(steps == 20)  # every other source frame


def test_buckets_give_each_row_its_own_size(dataset_file: Path) -> None:
    config = BucketConfig(
        specs=(BucketSpec(32, 17, 2), BucketSpec(32, 9, 2), BucketSpec(32, 1, 4), BucketSpec(16, 5, 2)),
        aspect_ratios=(1.0, 3 / 2),
        multiple=8,
    )
    ds = VideoDataset(dataset_file, buckets=config)
    names = {ds.entries[i].row.text: ds.buckets[i].name for i in range(len(ds))}
    assert names == {"long": "40x24x17", "short": "32x32x9", "image": "32x32x1"}
    assert ds[0][0].shape == (3, 17, 24, 40)  # 32x48 scaled to cover 24x40, then cropped
    loader = torch.utils.data.DataLoader(ds, batch_sampler=ds.batch_sampler(drop_last=False, seed=0))
    shapes = sorted(tuple(video.shape) for video, _ in loader)
    assert shapes == [(1, 3, 1, 32, 32), (1, 3, 9, 32, 32), (1, 3, 17, 24, 40)]


def test_a_file_that_breaks_while_loading_is_replaced_deterministically(tmp_path: Path) -> None:
    io.write_video(tmp_path / "a.mp4", counter_clip(9, 16, 16), fps=8)
    io.write_video(tmp_path / "b.mp4", counter_clip(9, 16, 16), fps=8)
    data = (tmp_path / "b.mp4").read_bytes()
    (tmp_path / "b.mp4").write_bytes(data[: len(data) // 2])  # header intact: passes the header check
    ds = VideoDataset(
        write_csv(tmp_path, [("a.mp4", "a"), ("b.mp4", "b")]), num_frames=9, height=16, width=16
    )
    assert len(ds) == 2
    _, text = ds[1]
    assert text == "a"  # the next row of the same bucket stands in
    assert [(f.index, f.reason) for f in ds.failures] == [(1, "truncated")]
    (tmp_path / "a.mp4").unlink()  # removed while training runs
    with pytest.raises(ValueError, match="every row of bucket 16x16x9 failed"):
        ds[0]
    assert [f.reason for f in ds.failures[1:]] == ["missing_file", "truncated"]


def test_nothing_usable_raises_with_counts(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"")
    io.write_video(tmp_path / "img.png", counter_clip(1, 16, 16), fps=8)
    file = write_csv(tmp_path, [("x.mp4", "zero"), ("img.png", "image"), ("gone.mp4", "missing")])
    with pytest.raises(ValueError, match=r"no usable rows.*1 empty_file, 1 missing_file, 1 too_short"):
        VideoDataset(file, num_frames=9, height=16, width=16)


def test_argument_errors(dataset_file: Path) -> None:
    with pytest.raises(ValueError, match="4k \\+ 1"):
        VideoDataset(dataset_file, num_frames=8)
    with pytest.raises(ValueError, match="fps"):
        VideoDataset(dataset_file, fps=0)


def test_cli_buckets_counts_rows_per_bucket(dataset_file: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "buckets.yaml"
    config.write_text(
        "specs:\n"
        "  - {resolution: 32, num_frames: 9, batch_size: 2}\n"
        "  - {resolution: 32, num_frames: 1, batch_size: 4}\n"
        "aspect_ratios: [1.0]\n"
    )
    assert main(["data", "buckets", str(dataset_file), "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "32x32x9" in out and "32x32x1" in out and "3 of 4 rows usable" in out
    assert main(["data", "buckets", str(dataset_file), "--config", str(config), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["buckets"] == {"32x32x1": 1, "32x32x9": 2} and data["counts"] == {"unreadable": 1}
    config.write_text("specs: []\nsizes: [1]\n")
    assert main(["data", "buckets", str(dataset_file), "--config", str(config)]) == 2
    assert "unknown keys" in capsys.readouterr().err
