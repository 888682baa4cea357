"""Video and image read/write with PyAV (and Pillow for still images); local files only.

Formats by suffix when writing: `.mp4` H.264 yuv420p (plays in every browser), `.webm` VP9 yuv420p, `.mkv`
FFV1 (lossless, for intermediates), `.gif` (one global palette), `.png` for exactly one frame. yuv420p stores
colour at half resolution, so it needs an even height and width: odd sizes are padded by repeating the last
row/column (the file is then one pixel larger; `probe` reports the padded size). Reading accepts any container
FFmpeg demuxes from the whitelist below, plus png/jpg/webp/bmp images as 1-frame videos.

Paths are opened as local files only. FFmpeg treats strings such as `http://`, `concat:a|b`, `pipe:0` or
`subfile,,start,...` as protocols and some demuxers (hls, concat) open further URLs named *inside* a file, so
every open restricts FFmpeg to the `file` protocol and to a whitelist of plain media demuxers.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cineflow.atomic import temp_path

if TYPE_CHECKING:
    import torch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
WRITE_SUFFIXES = (".mp4", ".webm", ".mkv", ".gif", ".png")
IMAGE_FPS = 1.0  # the frame rate reported for a still image (a 1-frame "video"); never used to time anything

# Plain media demuxers only: no playlists (hls), no concat lists, no raw device or network formats.
# image2 is left out on purpose: it expands "%d" in file names into numbered sequences.
_DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,gif,avi,mpegts,ogg,flv,png_pipe,jpeg_pipe,webp_pipe"
_OPEN_OPTIONS = {"protocol_whitelist": "file", "format_whitelist": _DEMUXERS}
# "scheme:" at the start (http:, concat:, pipe:, file:, data:...), and "subfile,,start,0,:" style options.
_PROTOCOL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*(:|,.*:)")


class VideoError(ValueError):
    """An input that is not a usable local video; `reason` is a short code the data layer counts by."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Video:
    """Decoded frames: `frames` uint8 [T, H, W, 3] RGB; `timestamps` float64 [T], seconds from frame 0."""

    frames: np.ndarray
    fps: float
    timestamps: np.ndarray | None = None


@dataclass(frozen=True)
class VideoInfo:
    """What a container says about its first video stream, without decoding pixels."""

    frames: int
    height: int
    width: int
    fps: float
    duration: float  # seconds
    codec: str
    is_image: bool = False


# ------------------------------------------------------------------------------------------------------------
# 1. Opening local files safely


def check_local(path: str | os.PathLike[str]) -> str:
    """The path as a string, or VideoError("not_local") for URLs, protocols and pipes FFmpeg would follow."""
    text = os.fspath(path)
    if "://" in text or _PROTOCOL.match(text) or text.startswith("|") or "\x00" in text:
        message = f"{text!r}: only local file paths are accepted (no URLs, protocols or pipes)"
        raise VideoError(message, "not_local")
    return text


def _local_path(path: str | os.PathLike[str]) -> Path:
    """The path as a checked local regular file, or a clear error naming it."""
    text = check_local(path)
    p = Path(text)
    if not p.exists():
        raise FileNotFoundError(f"{text}: no such file")
    if p.is_dir():
        raise IsADirectoryError(f"{text}: is a directory, expected a video or image file")
    if not p.is_file():
        raise VideoError(f"{text}: not a regular file (devices, fifos and sockets are refused)", "not_a_file")
    if p.stat().st_size == 0:
        raise VideoError(f"{text}: empty file (0 bytes)", "empty_file")
    return p


def _open(p: Path):  # -> av.container.InputContainer
    import av

    # A bare relative name such as "a:b.mp4" would read as a protocol; "./" keeps FFmpeg on the file protocol.
    name = str(p) if p.is_absolute() else f"./{p}"
    try:
        container = av.open(name, options=_OPEN_OPTIONS)
    except av.error.FFmpegError as e:
        raise VideoError(f"{p}: not a readable video ({_reason(e)})", "unreadable") from e
    if not container.streams.video:
        container.close()
        raise VideoError(f"{p}: no video stream (audio-only or data file)", "no_video_stream")
    return container


def _reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e)


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_SUFFIXES


# ------------------------------------------------------------------------------------------------------------
# 2. Probing and reading


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame count, size, frame rate, duration and codec of the first video stream (demux only, no decode)."""
    p = _local_path(path)
    if _is_image(p):
        frames = _read_image(p)
        return VideoInfo(1, frames.shape[1], frames.shape[2], IMAGE_FPS, 0.0, p.suffix.lower()[1:], True)
    import av

    with _open(p) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        fps = _fps(stream)
        frames = stream.frames
        try:
            if frames <= 0:  # webm, gif and mpegts do not store a count: count packets instead
                frames = sum(1 for packet in container.demux(stream) if packet.size)
        except av.error.FFmpegError as e:
            raise VideoError(f"{p}: not a readable video ({_reason(e)})", "unreadable") from e
        # Containers disagree on what stream.duration means (matroska stores the last frame's); count instead.
        if frames and fps:
            duration = frames / fps
        else:
            duration = container.duration / av.time_base if container.duration is not None else 0.0
        if ctx.width <= 0 or ctx.height <= 0:
            raise VideoError(f"{p}: video stream has no frame size", "unreadable")
        return VideoInfo(int(frames), ctx.height, ctx.width, fps, duration, ctx.name, False)


def _stream_fps(p: Path) -> float:
    """The container's frame rate, from the header alone (probe may read every packet to count frames)."""
    with _open(p) as container:
        return _fps(container.streams.video[0])


def _fps(stream: Any) -> float:  # av.video.stream.VideoStream
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 0.0


def iter_frames(
    path: str | os.PathLike[str], fps: float | None = None, start: float = 0.0
) -> Iterator[tuple[np.ndarray, float]]:
    """Decode frame by frame: (uint8 [H, W, 3] RGB, seconds from `start`). Memory stays one frame.

    fps: resample to this constant rate on the fly (see `resample`); None yields every decoded frame.
    start: seconds from the first frame. Decoding seeks to the keyframe before it, so a window late in a long
    video costs one group of pictures, not the whole beginning; the frame shown at `start` comes first.
    """
    if fps is not None and not fps > 0:
        raise ValueError(f"fps: must be > 0, got {fps}")
    if not start >= 0:
        raise ValueError(f"start: must be >= 0 seconds, got {start}")
    p = _local_path(path)
    if _is_image(p):
        yield _read_image(p)[0], 0.0
        return
    decoded = _decode(p, start)
    if start > 0:
        decoded = _starting_at(decoded, start)
    frames = ((frame.to_ndarray(format="rgb24"), t) for frame, t in decoded)
    if fps is None:
        yield from frames
    else:
        rate = _stream_fps(p)
        yield from resample(frames, fps, period=1.0 / rate if rate > 0 else 0.0)


def _starting_at(frames: Iterator[tuple[Any, float]], start: float) -> Iterator[tuple[Any, float]]:
    """Drop frames before `start` but the one still shown at `start`; times become seconds from `start`."""
    shown: Any = None
    started = False
    for frame, t in frames:
        if not started and t < start - 5e-7:  # slack: timestamps are rounded to the time base
            shown = frame
            continue
        if not started and shown is not None and t > start + 5e-7:
            yield shown, 0.0
        started = True
        yield frame, max(0.0, t - start)


def frame_times(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode every frame (so damage shows) without converting pixels; float64 [T] seconds from frame 0."""
    p = _local_path(path)
    if _is_image(p):
        _read_image(p)
        return np.zeros(1)
    return np.asarray([t for _, t in _decode(p)], dtype=np.float64)


def _decode(p: Path, start: float = 0.0) -> Iterator[tuple[Any, float]]:
    """(av.VideoFrame, seconds from the stream's first frame), after seeking near `start` seconds."""
    import av

    with _open(p) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        tb = stream.time_base
        zero = float(stream.start_time * tb) if stream.start_time is not None and tb else None
        if start > 0 and zero is not None:
            # Lands on the keyframe at or before `start`; the frames up to it are dropped by the caller.
            container.seek(int((zero + start) / tb), stream=stream, backward=True)
        index = 0
        try:
            for index, frame in enumerate(container.decode(stream)):
                t = frame.time if frame.time is not None else (index / float(rate) if rate else float(index))
                zero = t if zero is None else zero
                yield frame, t - zero
        except av.error.FFmpegError as e:
            raise VideoError(f"{p}: decoding failed after {index} frames ({_reason(e)})", "truncated") from e


def read_video(
    path: str | os.PathLike[str],
    *,
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    max_frames: int | None = None,
    start: float = 0.0,
) -> Video:
    """Read a video (or an image as one frame) into uint8 [T, H, W, 3].

    fps: resample in time to this rate (see `resample`); None keeps every decoded frame.
    size: (height, width) to resize to, scaling to cover and centre-cropping so the aspect is kept.
    max_frames: stop after this many output frames (the rest is not decoded).
    start: begin this many seconds after the first frame (seeks; see `iter_frames`).
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames: must be >= 1, got {max_frames}")
    p = _local_path(path)
    rate = IMAGE_FPS if _is_image(p) else _stream_fps(p)
    frames_list: list[np.ndarray] = []
    times_list: list[float] = []
    for frame, t in iter_frames(p, fps=fps, start=start):
        if max_frames is not None and len(frames_list) >= max_frames:
            break
        frames_list.append(frame)
        times_list.append(t)
    if not frames_list:
        raise VideoError(f"{p}: the video stream decodes to no frames", "no_frames")
    frames = np.stack(frames_list)
    if size is not None:
        frames = resize(frames, *size)
    return Video(frames=frames, fps=float(fps or rate), timestamps=np.asarray(times_list, dtype=np.float64))


def resample(
    frames: Iterable[tuple[np.ndarray, float]], fps: float, period: float = 0.0
) -> Iterator[tuple[np.ndarray, float]]:
    """Resample a stream of (frame, seconds) to a constant `fps`, holding one frame at a time.

    Output frame k, at k / fps, is the latest source frame shown at or before that instant (variable rates are
    handled by their timestamps). The last frame is shown for one typical interval, the median of those seen
    (long gaps do not skew it), or `period` seconds when there is a single frame.
    """
    if not fps > 0:
        raise ValueError(f"fps: must be > 0, got {fps}")
    k, previous, intervals = 0, None, []
    for frame, t in frames:
        if previous is not None:
            intervals.append(t - previous[1])
            # Half a microsecond of slack: timestamps are rounded to the container's time base.
            while k / fps < t - 5e-7:
                yield previous[0], k / fps
                k += 1
        previous = (frame, t)
    if previous is None:
        return
    end = previous[1] + (float(np.median(intervals)) if intervals else period)
    while k == 0 or k / fps < end - 5e-7:
        yield previous[0], k / fps
        k += 1


def _read_image(p: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as image:
            rgb = np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise VideoError(f"{p}: not a readable image ({e})", "unreadable") from e
    return rgb[None].copy()


def resize(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize uint8 [T, H, W, 3] to [T, height, width, 3], keeping the aspect: scale to cover, centre-crop."""
    from PIL import Image

    if height < 1 or width < 1:
        raise ValueError(f"size: height and width must be >= 1, got {height}x{width}")
    _, H, W, _ = frames.shape
    if (height, width) == (H, W):
        return frames
    scale = max(height / H, width / W)
    h, w = max(height, round(H * scale)), max(width, round(W * scale))
    top, left = (h - height) // 2, (w - width) // 2
    box = (left, top, left + width, top + height)
    out = [np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BICUBIC).crop(box)) for f in frames]
    return np.stack(out)


# ------------------------------------------------------------------------------------------------------------
# 3. Writing (atomic: a temp file in the same folder, then os.replace)


def write_video(path: str | os.PathLike[str], frames: np.ndarray, fps: float, *, crf: int = 18) -> None:
    """Write uint8 [T, H, W, 3] RGB frames; the format comes from the suffix (see the module docstring).

    crf: quality for .mp4 (0-51) and .webm (0-63); lower is better. Ignored by lossless formats.
    """
    p = Path(check_local(path))
    suffix = p.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise ValueError(f"{p}: unsupported suffix {suffix!r}; use one of {', '.join(WRITE_SUFFIXES)}")
    frames = _check_frames(frames)
    if not fps > 0 or not np.isfinite(fps):
        raise ValueError(f"fps: must be a positive number, got {fps}")
    if suffix == ".png" and len(frames) != 1:
        raise ValueError(f"{p}: .png holds exactly one frame, got {len(frames)}; use .mp4, .webm or .gif")
    if suffix in (".mp4", ".webm") and not 0 <= crf <= (51 if suffix == ".mp4" else 63):
        raise ValueError(f"crf: must be in 0..{51 if suffix == '.mp4' else 63} for {suffix}, got {crf}")
    if not p.parent.is_dir():
        raise FileNotFoundError(f"{p}: the folder {p.parent} does not exist")

    tmp = str(temp_path(p))
    try:
        if suffix == ".png":
            from PIL import Image

            Image.fromarray(frames[0]).save(tmp, format="PNG")
        elif suffix == ".gif":
            _write_gif(tmp, frames, fps)
        else:
            _write_av(tmp, frames, fps, suffix, crf)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3 and frames.shape[-1] == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise ValueError(f"frames: expected uint8 [T, H, W, 3] with T >= 1, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames: expected dtype uint8, got {frames.dtype} (from_tensor converts tensors)")
    return np.ascontiguousarray(frames)


def pad_even(frames: np.ndarray) -> np.ndarray:
    """Pad uint8 [T, H, W, 3] to even H and W by repeating the last row/column (what yuv420p needs)."""
    _, H, W, _ = frames.shape
    if H % 2 == 0 and W % 2 == 0:
        return frames
    return np.pad(frames, ((0, 0), (0, H % 2), (0, W % 2), (0, 0)), mode="edge")


def _rate(fps: float) -> Fraction:
    # NTSC-style rates (29.97 = 30000/1001) stay exact; other rates keep 1/1000 precision.
    return Fraction(fps).limit_denominator(1001)


def _write_av(tmp: str, frames: np.ndarray, fps: float, suffix: str, crf: int) -> None:
    import av

    rate = _rate(fps)
    fmt, codec, pix_fmt, options = {
        ".mp4": ("mp4", "libx264", "yuv420p", {"crf": str(crf), "preset": "medium"}),
        ".webm": ("webm", "libvpx-vp9", "yuv420p", {"crf": str(crf), "b": "0", "row-mt": "1"}),
        ".mkv": ("matroska", "ffv1", "bgr0", {}),
    }[suffix]
    if pix_fmt == "yuv420p":
        frames = pad_even(frames)
    T, H, W, _ = frames.shape
    # +faststart puts the mp4 index first, so browsers start playing before the whole file arrives.
    container_options = {"movflags": "+faststart"} if fmt == "mp4" else {}
    with av.open(tmp, "w", format=fmt, options=container_options) as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        # A local copy: the muxer may replace stream.time_base (matroska: 1/1000) once the header is out.
        time_base = 1 / rate
        stream.time_base = time_base
        for i in range(T):
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame.pts, frame.time_base = i, time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _write_gif(tmp: str, frames: np.ndarray, fps: float) -> None:
    """One palette for the whole clip (median cut over all frames, no dithering) so colours do not flicker.

    GIF delays are whole centiseconds, so the stored rate is 100/round(100/fps) (8 fps is stored as 1/12 s).
    """
    import av
    from PIL import Image

    T, H, W, _ = frames.shape
    mosaic = Image.fromarray(frames.reshape(T * H, W, 3))
    quantized = mosaic.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette = np.asarray(quantized.getpalette()[: 256 * 3], dtype=np.uint8).reshape(-1, 3)
    argb = np.zeros((256, 4), dtype=np.uint8)
    argb[:, 0] = 255
    argb[: len(palette), 1:] = palette
    index = np.asarray(quantized, dtype=np.uint8).reshape(T, H, W)
    rate = _rate(fps)
    with av.open(tmp, "w", format="gif") as container:
        stream = container.add_stream("gif", rate=rate)
        stream.width, stream.height, stream.pix_fmt = W, H, "pal8"
        for i in range(T):
            frame = av.VideoFrame.from_ndarray((index[i], argb), format="pal8")
            frame.pts = i  # in the encoder's time base 1/rate; the muxer rescales to centiseconds
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


# ------------------------------------------------------------------------------------------------------------
# 4. Tensor conversions


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 [T, H, W, 3] -> float32 [3, T, H, W] in [-1, 1] (the layout the VAE and DiT take)."""
    import torch

    frames = _check_frames(frames)
    x = torch.from_numpy(frames).permute(3, 0, 1, 2).float()  # (3, T, H, W)
    return x.div_(127.5).sub_(1.0)


def from_tensor(x: torch.Tensor) -> np.ndarray:
    """float [3, T, H, W] in [-1, 1] (values outside are clipped) -> uint8 [T, H, W, 3]."""
    import torch

    if x.ndim != 4 or x.shape[0] != 3:
        raise ValueError(f"x: expected a tensor [3, T, H, W], got shape {tuple(x.shape)}")
    x = ((x.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5).round()  # (3, T, H, W) in [0, 255]
    return x.to(torch.uint8).permute(1, 2, 3, 0).contiguous().numpy()
