"""`cineflow data validate|prepare|buckets|cut|cache-latents`: the dataset tools (docs/data.md)."""

from __future__ import annotations

import argparse
import json
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
