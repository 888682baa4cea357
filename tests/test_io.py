"""cineflow.io: round trips per format, fps resampling, resizing, tensor conversions, refusals."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cineflow import io


def smooth_clip(T: int = 9, H: int = 32, W: int = 48) -> np.ndarray:
    """Smooth moving gradients: what lossy codecs keep well. uint8 [T, H, W, 3]."""
    y, x = np.mgrid[:H, :W].astype(np.float32)
    frames = [
        np.stack([x / W * 200 + 4 * t, y / H * 200, np.full_like(x, 60 + 10 * t)], axis=-1) for t in range(T)
    ]
    return np.clip(np.stack(frames), 0, 255).astype(np.uint8)


def flat_clip(T: int = 5, H: int = 16, W: int = 16) -> np.ndarray:
    """A Flatland-like clip: a red square moving on gray; few exact colours."""
    frames = np.full((T, H, W, 3), 100, dtype=np.uint8)
    for t in range(T):
        frames[t, 4:10, 2 + t : 8 + t] = (230, 50, 50)
    return frames


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_lossy_round_trip_keeps_frames_size_and_fps(tmp_path: Path, suffix: str) -> None:
    frames = smooth_clip()
    path = tmp_path / f"clip{suffix}"
    io.write_video(path, frames, fps=8)
    video = io.read_video(path)
    assert video.frames.shape == frames.shape and video.frames.dtype == np.uint8
    assert video.fps == 8.0
    assert np.abs(video.frames.astype(int) - frames).mean() < 3.0
    np.testing.assert_allclose(video.timestamps, np.arange(9) / 8)


def test_mp4_is_h264_yuv420p(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    io.write_video(path, smooth_clip(T=3), fps=24)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
    info = io.probe(path)
    assert (info.frames, info.height, info.width, info.fps, info.codec) == (3, 32, 48, 24.0, "h264")


def test_ntsc_rate_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    io.write_video(path, smooth_clip(T=3), fps=30000 / 1001)
    assert io.probe(path).fps == pytest.approx(29.97, abs=1e-3)


@pytest.mark.parametrize("suffix", [".mkv", ".gif"])
def test_lossless_and_palette_formats_are_exact_on_flat_colours(tmp_path: Path, suffix: str) -> None:
    frames = flat_clip()
    path = tmp_path / f"clip{suffix}"
    io.write_video(path, frames, fps=8)
    video = io.read_video(path)
    np.testing.assert_array_equal(video.frames, frames)


def test_gif_keeps_repeated_frames(tmp_path: Path) -> None:
    frames = np.repeat(flat_clip(T=1), 4, axis=0)
    io.write_video(tmp_path / "still.gif", frames, fps=10)
    assert io.read_video(tmp_path / "still.gif").frames.shape[0] == 4
    assert io.probe(tmp_path / "still.gif").fps == 10.0


def test_png_holds_one_frame_and_images_read_as_one_frame_videos(tmp_path: Path) -> None:
    frames = flat_clip(T=1)
    io.write_video(tmp_path / "a.png", frames, fps=8)
    video = io.read_video(tmp_path / "a.png")
    np.testing.assert_array_equal(video.frames, frames)
    assert io.probe(tmp_path / "a.png").is_image
    with pytest.raises(ValueError, match="exactly one frame"):
        io.write_video(tmp_path / "b.png", flat_clip(T=2), fps=8)
    from PIL import Image

    Image.fromarray(frames[0]).save(tmp_path / "c.jpg", quality=95)
    assert io.read_video(tmp_path / "c.jpg").frames.shape == (1, 16, 16, 3)


def test_odd_sizes_are_padded_for_yuv420p_and_kept_elsewhere(tmp_path: Path) -> None:
    frames = smooth_clip(T=2, H=17, W=23)
    io.write_video(tmp_path / "odd.mp4", frames, fps=8)
    info = io.probe(tmp_path / "odd.mp4")
    assert (info.height, info.width) == (18, 24)
    video = io.read_video(tmp_path / "odd.mp4")
    # The padding repeats the last row/column.
    assert np.abs(video.frames[:, 17].astype(int) - video.frames[:, 16]).mean() < 4
    io.write_video(tmp_path / "odd.mkv", frames, fps=8)
    np.testing.assert_array_equal(io.read_video(tmp_path / "odd.mkv").frames, frames)


def test_fps_resampling_on_read(tmp_path: Path) -> None:
    frames = flat_clip(T=8)
    io.write_video(tmp_path / "c.mkv", frames, fps=8)  # lossless, so frames can be compared exactly
    half = io.read_video(tmp_path / "c.mkv", fps=4)
    assert half.fps == 4.0
    np.testing.assert_array_equal(half.frames, frames[::2])
    double = io.read_video(tmp_path / "c.mkv", fps=16)
    np.testing.assert_array_equal(double.frames, np.repeat(frames, 2, axis=0))
    first = io.read_video(tmp_path / "c.mkv", fps=16, max_frames=3)
    np.testing.assert_array_equal(first.frames, frames[[0, 0, 1]])


def write_short_gop_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    """H.264 with a keyframe every 4 frames, so seeking lands between keyframes and frames must be dropped."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"g": "4", "keyint_min": "4"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


@pytest.mark.parametrize("kind", ["short_gop.mp4", "default.mp4", "lossless.mkv"])
def test_start_seeks_to_the_same_frames_as_a_full_read(tmp_path: Path, kind: str) -> None:
    frames = smooth_clip(T=24, H=16, W=16)
    path = tmp_path / kind
    if kind == "short_gop.mp4":
        write_short_gop_mp4(path, frames, fps=8)
    else:
        io.write_video(path, frames, fps=8)
    full = io.read_video(path).frames
    for first in (0, 1, 5, 6, 13, 19):
        window = io.read_video(path, start=first / 8, max_frames=5)
        np.testing.assert_array_equal(window.frames, full[first : first + 5])
        np.testing.assert_allclose(window.timestamps, np.arange(len(window.frames)) / 8)
    resampled = io.read_video(path, fps=4).frames
    np.testing.assert_array_equal(io.read_video(path, fps=4, start=1.5, max_frames=3).frames, resampled[6:9])
    between = io.read_video(path, start=0.7, max_frames=2).frames  # 0.7 s: frame 5 (0.625 s) is on screen
    np.testing.assert_array_equal(between, full[5:7])
    with pytest.raises(io.VideoError, match="no frames"):
        io.read_video(path, start=10.0)
    with pytest.raises(ValueError, match="start"):
        io.read_video(path, start=-1.0)


def test_resample_follows_timestamps_of_a_variable_rate() -> None:
    times = [0.0, 0.1, 0.5, 0.6]  # a gap of 0.4 s: the frame at 0.1 is shown until 0.5
    frames = [np.full((1, 1, 3), i, dtype=np.uint8) for i in range(4)]
    out = list(io.resample(zip(frames, times, strict=True), fps=10))
    assert [int(f[0, 0, 0]) for f, _ in out] == [0, 1, 1, 1, 1, 2, 3]  # the last lasts one median interval
    np.testing.assert_allclose([t for _, t in out], np.arange(7) / 10)
    single = list(io.resample([(frames[0], 0.0)], fps=10, period=0.25))
    assert len(single) == 3  # 0, 0.1, 0.2 < 0.25
    assert list(io.resample([], fps=10)) == []


def test_resize_keeps_aspect_by_centre_crop() -> None:
    frames = np.zeros((1, 20, 40, 3), dtype=np.uint8)
    frames[:, :, 8:32] = 255  # white covers the middle 20 columns and 2 more each side
    out = io.resize(frames, 10, 10)
    assert out.shape == (1, 10, 10, 3)
    assert out.min() >= 250  # the centre crop (columns 10-30, scaled by 1/2) sees only white
    wide = io.resize(frames, 10, 40)  # wider than the source: crop rows, not columns
    assert wide.shape == (1, 10, 40, 3) and wide[0, :, 0].max() == 0
    with pytest.raises(ValueError, match="size"):
        io.resize(frames, 0, 10)


def test_read_with_size(tmp_path: Path) -> None:
    io.write_video(tmp_path / "c.mp4", smooth_clip(T=3), fps=8)
    assert io.read_video(tmp_path / "c.mp4", size=(16, 16)).frames.shape == (3, 16, 16, 3)


def test_tensor_conversions_round_trip() -> None:
    frames = smooth_clip(T=2, H=8, W=8)
    x = io.to_tensor(frames)
    assert x.shape == (3, 2, 8, 8) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert x[0, 0, 0, 0] == pytest.approx(frames[0, 0, 0, 0] / 127.5 - 1)
    np.testing.assert_array_equal(io.from_tensor(x), frames)
    assert io.from_tensor(torch.full((3, 1, 2, 2), 5.0)).max() == 255  # out of range values are clipped
    with pytest.raises(ValueError, match=r"\[3, T, H, W\]"):
        io.from_tensor(torch.zeros(2, 3, 4, 4))


@pytest.mark.parametrize(
    "name", ["http://example.com/a.mp4", "concat:a.mp4|b.mp4", "pipe:0", "file:a.mp4", "subfile,,0,10,:a.mp4"]
)
def test_urls_and_protocols_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="only local file paths"):
        io.read_video(name)
    with pytest.raises(ValueError, match="only local file paths"):
        io.probe(name)


@pytest.mark.parametrize(
    "content",
    ["#EXTM3U\n#EXTINF:1.0,\nhttp://127.0.0.1:9/a.ts\n", "ffconcat version 1.0\nfile real.mp4\n"],
)
def test_playlists_and_concat_lists_inside_local_files_are_not_followed(tmp_path: Path, content: str) -> None:
    # Plain FFmpeg opens the concat list and reads real.mp4 through it; the demuxer whitelist stops that.
    io.write_video(tmp_path / "real.mp4", smooth_clip(T=2), fps=8)
    (tmp_path / "list.mp4").write_text(content)
    with pytest.raises(io.VideoError, match="not a readable video") as error:
        io.probe(tmp_path / "list.mp4")
    assert error.value.reason == "unreadable"


def test_relative_names_with_commas_open_as_files(tmp_path: Path, monkeypatch) -> None:
    io.write_video(tmp_path / "clip,v2.mp4", smooth_clip(T=2), fps=8)
    monkeypatch.chdir(tmp_path)
    assert io.read_video("clip,v2.mp4").frames.shape[0] == 2
    assert io.probe(Path("clip,v2.mp4")).frames == 2


def test_unreadable_inputs_fail_with_the_file_and_reason(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.mp4"):
        io.read_video(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.mp4: empty file"):
        io.read_video(tmp_path / "empty.mp4")
    (tmp_path / "text.mp4").write_text("not a video at all\n" * 20)
    with pytest.raises(ValueError, match=r"text\.mp4: not a readable video"):
        io.probe(tmp_path / "text.mp4")
    with pytest.raises(IsADirectoryError):
        io.read_video(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match=r"bad\.png: not a readable image"):
        io.read_video(tmp_path / "bad.png")


def test_audio_only_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        silence = np.zeros((1, 1024), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(io.VideoError, match="no video stream") as error:
        io.read_video(path)
    assert error.value.reason == "no_video_stream"


def test_writes_are_atomic_and_leave_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match="uint8"):
        io.write_video(path, np.zeros((2, 8, 8, 3), dtype=np.float32), fps=8)
    assert path.read_bytes() == b"old"
    io.write_video(path, smooth_clip(T=2), fps=8)
    assert io.probe(path).frames == 2
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # shared like any new file, not private


def test_write_argument_errors(tmp_path: Path) -> None:
    frames = smooth_clip(T=2)
    with pytest.raises(ValueError, match="unsupported suffix"):
        io.write_video(tmp_path / "a.avi", frames, fps=8)
    with pytest.raises(ValueError, match="fps"):
        io.write_video(tmp_path / "a.mp4", frames, fps=0)
    with pytest.raises(ValueError, match="crf"):
        io.write_video(tmp_path / "a.mp4", frames, fps=8, crf=99)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        io.write_video(tmp_path / "no" / "a.mp4", frames, fps=8)
    with pytest.raises(ValueError, match="only local"):
        io.write_video("http://x/a.mp4", frames, fps=8)


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.floats(0.01, 0.5), min_size=0, max_size=30),
    fps=st.floats(1.0, 60.0),
)
def test_resample_shows_the_latest_frame_at_every_instant(gaps: list[float], fps: float) -> None:
    times = np.concatenate([[0.0], np.cumsum(gaps)])
    frames = [np.full((1, 1, 3), i % 256, dtype=np.uint8) for i in range(len(times))]
    out = list(io.resample(zip(frames, times, strict=True), fps=fps, period=0.1))
    tail = float(np.median(gaps)) if gaps else 0.1
    end = times[-1] + tail  # the last frame is shown for one median interval
    assert len(out) == max(1, sum(1 for k in range(10_000) if k / fps < end - 5e-7))
    for k, (frame, t) in enumerate(out):
        assert t == pytest.approx(k / fps)
        latest = int(np.searchsorted(times, t + 5e-7, side="right")) - 1
        assert int(frame[0, 0, 0]) == latest % 256
