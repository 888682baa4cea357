"""`cineflow generate PROMPT -o OUT.mp4`: text to video with the bundled model or a model folder."""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

SUFFIXES = (".mp4", ".gif", ".webm", ".png")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate a video from a text prompt",
        description="Generate a video from a prompt. Sizes and frame counts snap to what the model takes.",
    )
    p.add_argument("prompt", help='what to show, e.g. "a red ball bounces on a gray floor"')
    p.add_argument("-o", "--output", required=True, help="output file: .mp4 (H.264), .gif, .webm or .png")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    duration = p.add_mutually_exclusive_group()
    duration.add_argument("--seconds", type=float, default=None, help="duration in seconds (0 = one image)")
    duration.add_argument("--frames", type=int, default=None, help="number of frames (1 = one image)")
    p.add_argument("--fps", type=float, default=None, help="frames per second (default: the model's)")
    p.add_argument("--height", type=int, default=None, help="height in pixels (default: the model's)")
    p.add_argument("--width", type=int, default=None, help="width in pixels (default: the model's)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument("--negative-prompt", default=None, help="what to steer away from")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same video)")
    p.set_defaults(func=run)


def frames_for(seconds: float, fps: float) -> int:
    """Frames covering `seconds` at `fps`: s seconds span s * fps frame intervals, so s * fps + 1 frames."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"--seconds: must be a number >= 0, got {seconds}")
    return round(seconds * fps) + 1


def run(args: argparse.Namespace) -> int:
    # 1. Checks that need no model: the output path and the numbers' signs
    out = Path(args.output)
    if out.suffix.lower() not in SUFFIXES:
        raise ValueError(f"--output: unsupported suffix {out.suffix!r}; use one of {', '.join(SUFFIXES)}")
    if out.is_dir():
        raise ValueError(f"--output: {out} is a folder; give a file name")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--output: folder {out.parent} does not exist")
    if args.model is not None and not Path(args.model).is_dir():
        raise FileNotFoundError(f"--model: folder not found: {args.model}")
    if not args.prompt.strip():
        raise ValueError("PROMPT: must not be empty or whitespace")
    if args.fps is not None and not (math.isfinite(args.fps) and 1 <= args.fps <= 240):
        raise ValueError(f"--fps: must be in [1, 240], got {args.fps}")
    for name in ("frames", "height", "width", "steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name}: must be >= 1, got {value}")
    if args.seconds is not None:
        frames_for(args.seconds, args.fps or 1)  # the range check only
    if args.seed < 0:
        raise ValueError(f"--seed: must be >= 0, got {args.seed}")

    # 2. The model, then the duration in its frame rate
    from cineflow.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(args.model)
    fps = args.fps if args.fps is not None else pipe.config.fps
    num_frames = args.frames
    if args.seconds is not None:
        num_frames = frames_for(args.seconds, fps)
    if out.suffix.lower() == ".png" and (num_frames or pipe.config.num_frames) != 1:
        raise ValueError("--output: a .png holds one frame; pass --frames 1 (or --seconds 0)")

    # 3. Generate; say what was snapped, on stderr, without a traceback-style warning line
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = pipe(
            args.prompt,
            negative_prompt=args.negative_prompt,
            num_frames=num_frames,
            height=args.height,
            width=args.width,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            seed=args.seed,
            fps=fps,
        )
    for note in result.adjustments:
        print(f"snapped {note}", file=sys.stderr)
    result.save(out)
    T, H, W, _ = result.frames.shape
    print(f"wrote {out} ({T} frames, {W}x{H}, {result.fps:g} fps, seed {args.seed})")
    return 0
