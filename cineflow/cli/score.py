"""`cineflow score VIDEO --prompt TEXT`: judge a video against a Flatland prompt with the oracle.

Prints the report as JSON: top-level `"pass"` (every check passed), `"partial"` with `"unknown_words"`
(the prompt had words outside the vocabulary: what was understood is checked, the rest is listed), the
per-check list and what the oracle observed. Exit codes: 0 when the video was scored, whatever the verdict
(so that a batch of scores is not cut short by the first failure; `--check` exits 1 on a failed verdict
instead); 2 for a user error: an unreadable video, a bad argument, or a prompt in which no object is
recognised (the message lists the vocabulary).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from cineflow.atomic import atomic_write_text


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score",
        help="check a video against a prompt with the Flatland oracle (prints a JSON report)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("video", metavar="VIDEO", help="video file (.mp4, .webm, .mkv, .gif, or an image)")
    p.add_argument("--prompt", required=True, help="what the video should show, in Flatland's vocabulary")
    p.add_argument(
        "--fps", type=float, default=None, help="time base in frames per second (default: the file's)"
    )
    p.add_argument("--out", default=None, help="also write the JSON report to this file")
    p.add_argument(
        "--check", action="store_true", help="exit 1 when the video fails (default: exit 0 once scored)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cineflow.io import read_video
    from cineflow.world.oracle import score
    from cineflow.world.parse import parse_prompt

    if args.fps is not None and not (math.isfinite(args.fps) and 0 < args.fps <= 240):
        raise ValueError(f"--fps: must be in (0, 240], got {args.fps}")
    claims = parse_prompt(args.prompt)  # ValueError with the vocabulary when no object is recognised
    video = read_video(args.video)  # VideoError (a ValueError) or FileNotFoundError when unreadable
    fps = args.fps or video.fps
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"{args.video}: the file gives no usable frame rate ({fps}); pass --fps")
    report = score(video.frames, claims, fps)
    data = {"video": str(args.video), "prompt": args.prompt, "fps": fps, **report.to_dict()}
    text = json.dumps(data, indent=2)
    if args.out:
        atomic_write_text(Path(args.out), text + "\n")
    sys.stdout.write(text + "\n")
    return 1 if args.check and not report.passed else 0
