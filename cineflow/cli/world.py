"""`cineflow world sample`: write Flatland clips, their captions and their annotations (docs/flatland.md).

Clip k of the output is clip `start + k` of the stream `--seed`, so a second run with `--start` continues a
dataset instead of repeating it. Every file is written to a temporary name and renamed into place, so an
interrupted run leaves only whole files behind.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

from cineflow.atomic import atomic_write_text

DEFAULT_SIZE = "64x64"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "world", help="the Flatland world: sample rendered clips with ground truth"
    )
    sub = parser.add_subparsers(dest="world_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "sample",
        help="write N clips (.mp4, or .png for 1 frame) + captions.csv + one annotations .json per clip",
    )
    p.add_argument("--n", type=int, required=True, help="number of clips (>= 1)")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--seed", type=int, default=0, help="stream seed (>= 0, default 0)")
    p.add_argument("--start", type=int, default=0, help="index of the first clip in the stream (default 0)")
    p.add_argument(
        "--size", default=DEFAULT_SIZE, help=f"WxH in pixels, each 16..1024 (default {DEFAULT_SIZE})"
    )
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, help="duration in seconds (0..60; frames = seconds*fps + 1)")
    length.add_argument("--frames", type=int, help="number of frames (default 17; 1 writes a .png image)")
    p.add_argument("--fps", type=int, default=8, help="frames per second (default 8)")
    p.add_argument(
        "--scenario",
        default=None,
        help="one scenario for all clips, e.g. collide, fall, pan_left (docs/flatland.md; default: mixed)",
    )
    p.add_argument("--split", default="train", help="caption templates: train or heldout (default train)")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality 0..51, lower is better (default 18)")
    p.set_defaults(func=run_sample)


def parse_size(text: str) -> tuple[int, int]:
    """'WxH' -> (W, H), each within the world's 16..1024."""
    from cineflow.world import vocab

    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--size: expected WxH such as 64x64, got {text!r}")
    width, height = (int(p) for p in parts)
    for name, side in (("width", width), ("height", height)):
        if not vocab.MIN_SIDE <= side <= vocab.MAX_SIDE:
            raise ValueError(f"--size: {name} must be {vocab.MIN_SIDE}..{vocab.MAX_SIDE} pixels, got {side}")
    return width, height


def _num_frames(args: argparse.Namespace) -> int:
    from cineflow.world import vocab

    if args.fps < 1:
        raise ValueError(f"--fps: must be >= 1, got {args.fps}")
    if args.seconds is not None:
        if not 0 <= args.seconds <= vocab.MAX_SECONDS:
            raise ValueError(f"--seconds: must be 0..{vocab.MAX_SECONDS:g}, got {args.seconds}")
        return round(args.seconds * args.fps) + 1
    frames = vocab.DEFAULT_FRAMES if args.frames is None else args.frames
    most = int(vocab.MAX_SECONDS * args.fps) + 1
    if not 1 <= frames <= most:
        raise ValueError(
            f"--frames: must be 1..{most} at {args.fps} fps (at most {vocab.MAX_SECONDS:g} s), got {frames}"
        )
    return frames


def _read_rows(path: Path) -> dict[str, str]:
    """The rows of an existing captions.csv as {path: text} ({} when there is none)."""
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"path", "text"} <= set(reader.fieldnames):
            raise ValueError(f"--out: {path} exists but has no path,text header; choose another folder")
        return {row["path"]: row["text"] for row in reader}


def run_sample(args: argparse.Namespace) -> int:
    from cineflow.world import sample

    # 1. Check every argument before writing anything
    if args.n < 1:
        raise ValueError(f"--n: must be >= 1, got {args.n}")
    if args.seed < 0 or args.start < 0:
        raise ValueError(f"--seed and --start: must be >= 0, got {args.seed} and {args.start}")
    if args.scenario is not None and args.scenario not in sample.SCENARIOS:
        raise ValueError(
            f"--scenario: unknown value {args.scenario!r}; choose from {', '.join(sample.SCENARIOS)}"
        )
    if args.split not in ("train", "heldout"):
        raise ValueError(f"--split: must be train or heldout, got {args.split!r}")
    if not 0 <= args.crf <= 51:
        raise ValueError(f"--crf: must be 0..51, got {args.crf}")
    width, height = parse_size(args.size)
    num_frames = _num_frames(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out: {out} exists and is not a folder")

    # 2. Render and write each clip with its annotations
    from cineflow.io import write_video
    from cineflow.world import annotations, stream

    out.mkdir(parents=True, exist_ok=True)
    suffix = ".png" if num_frames == 1 else ".mp4"
    rows = _read_rows(out / "captions.csv")  # a run with --start adds to the dataset already there
    geometry = dict(width=width, height=height, fps=args.fps, num_frames=num_frames, scenario=args.scenario)
    for index in range(args.start, args.start + args.n):
        clip = stream.make_clip(args.seed, index, split=args.split, **geometry)
        name = f"clip_{index:05d}"
        write_video(out / f"{name}{suffix}", clip.frames, args.fps, crf=args.crf)
        record = annotations.to_json(clip.spec, clip.annotations)
        record["caption"] = clip.caption
        record["stream"] = {"seed": args.seed, "index": index}
        atomic_write_text(out / f"{name}.json", json.dumps(record, separators=(",", ":")) + "\n")
        rows[f"{name}{suffix}"] = clip.caption

    # 3. The dataset file: path,text, paths relative to the folder
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["path", "text"])
    writer.writerows(sorted(rows.items()))
    atomic_write_text(out / "captions.csv", text.getvalue())
    seconds = (num_frames - 1) / args.fps
    shape = f"{width}x{height}, {num_frames} frames = {seconds:g} s at {args.fps} fps"
    print(f"wrote {args.n} clips to {out} ({shape}); captions.csv has {len(rows)} rows")
    return 0
