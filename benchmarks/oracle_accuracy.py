"""Oracle accuracy on ground-truth Flatland clips round-tripped through H.264.

    python benchmarks/oracle_accuracy.py --n 2000 --crf 23 --out oracle_accuracy.json

Renders N clips (clip k uses scenario k mod len(SCENARIOS), so every motion, event and camera move is
covered), encodes each with libx264 yuv420p at --crf in memory (--crf -1: lossless, no codec), reads it back
with the oracle and scores every attribute against the annotations (cineflow/world/oracle/accuracy.py).
Prints a table with the targets and writes the figures, trial counts and the first misses to JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from cineflow.atomic import atomic_write_text

ROWS = (  # (metric, what it measures)
    ("color", "object colour (initial), per annotated object"),
    ("count", "number of objects, per clip"),
    ("motion", "motion class compatible with the truth, per object"),
    ("motion_strict", "primary motion class equals the truth, per object"),
    ("events", "annotated events found, per event"),
    ("false_vanished", "objects flagged vanished while visible (lower is better)"),
    ("false_appeared", "objects flagged appearing from nothing (lower is better)"),
    ("rejection", "another clip's caption rejected, per clip"),
    ("reject_motion", "own full claims with object 0's motion reversed rejected"),
    ("reject_shape", "own full claims with object 0's shape changed rejected"),
    ("own_caption_pass", "own caption accepted, per clip"),
    ("full_claims_pass", "full scene claims accepted, per clip"),
    ("shape", "shape, per object seen whole"),
    ("shape_small", "shape of small objects"),
    ("shape_medium", "shape of medium objects"),
    ("shape_large", "shape of large objects"),
    ("shape_verifiable", "objects seen whole at least once"),
    ("size", "size class, per object"),
    ("speed", "speed class, per moving object"),
    ("background", "background colour, per clip"),
    ("floor", "floor present or not, per clip"),
    ("camera", "camera motion, per clip"),
    ("event_collide", "collide events found"),
    ("event_touch_change", "touch_change events found"),
    ("event_occlude", "occlude events found"),
    ("event_bounce_wall", "bounce_wall events found"),
    ("event_bounce_floor", "bounce_floor events found"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="number of clips (default 2000)")
    parser.add_argument(
        "--crf", type=int, default=23, help="H.264 CRF 0..51, or -1 for no codec (default 23)"
    )
    parser.add_argument("--seed", type=int, default=0, help="world stream seed (default 0)")
    parser.add_argument("--size", type=int, default=64, help="frame side in pixels (default 64)")
    parser.add_argument("--out", default="oracle_accuracy.json", help="JSON output path")
    args = parser.parse_args(argv)
    if args.n < 1 or not -1 <= args.crf <= 51:
        parser.error("--n must be >= 1 and --crf in -1..51")

    from cineflow.world.oracle.accuracy import TARGETS, evaluate, meets

    start = time.perf_counter()
    result = evaluate(args.n, None if args.crf < 0 else args.crf, seed=args.seed, size=args.size)
    result["seconds"] = round(time.perf_counter() - start, 1)
    rates, trials = result["rates"], result["trials"]
    codec = "lossless" if args.crf < 0 else f"H.264 CRF {args.crf}"
    print(f"oracle accuracy: {args.n} clips, {args.size}x{args.size}, {codec}, {result['seconds']} s")
    print(f"{'metric':20s} {'rate':>8s} {'trials':>7s} {'target':>8s}  what")
    for name, what in ROWS:
        if name not in rates:
            continue
        target = TARGETS.get(name)
        mark = ""
        if target is not None:
            bound = "<=" if name.startswith("false_") else ">="
            mark = f"{bound}{target:.3f}" + ("" if meets(rates, name, target) else " MISS")
        rate = rates[name]
        shown = "n/a" if math.isnan(rate) else f"{rate:.4f}"
        print(f"{name:20s} {shown:>8s} {trials[name]:>7d} {mark:>8s}  {what}")
    atomic_write_text(Path(args.out), json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
