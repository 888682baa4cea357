"""Flatland throughput: clips per second of the whole `make_clip`, and of its parts.

    python benchmarks/render_speed.py [--clips 300] [--rounds 5] [--size 64x64] [--frames 17] [--workers 2]

Prints, per part (scene sampling, simulate, render, caption, whole make_clip), clips/s by wall clock (median
and best of `--rounds` rounds) and by this process's CPU time (best), which neighbours' load on a shared
machine barely touches. The peer, measured in rotation with ours so that the host's noise hits both alike,
is a straightforward Pillow renderer drawing every object polygon frame by frame (no anti-aliasing, no
visibility) from the same annotations. Last, `--workers` processes run make_clip in parallel: the target is
200 clips/s of 17x64x64 on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from cineflow.world import physics, render, sample, stream, vocab


def pillow_peer(spec, annotations) -> np.ndarray:
    """The obvious way: one Pillow image per frame, each object a polygon (circles as ellipses)."""
    from PIL import Image, ImageDraw

    out = np.empty((len(annotations.frames), spec.height, spec.width, 3), dtype=np.uint8)
    order = sorted(range(len(spec.objects)), key=lambda i: (spec.objects[i].depth, i))
    for t, states in enumerate(annotations.frames):
        image = Image.new("RGB", (spec.width, spec.height), vocab.BACKGROUNDS[spec.background])
        pen = ImageDraw.Draw(image)
        for i in order:
            shape, s = spec.objects[i].shape, states[i]
            color = vocab.COLORS[s.color]
            if shape == "circle":
                pen.ellipse(s.box, fill=color)
                continue
            radius = render.radius_from_box(shape, np.array([s.box]), np.array([s.angle]))[0]
            rad = np.deg2rad(s.angle)
            rot = np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
            pts = render.UNIT_VERTICES[shape] @ rot.T * radius + s.center
            pen.polygon([tuple(p) for p in pts], fill=color)
        out[t] = np.asarray(image)
    return out


def _timed(fn, items) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to run fn over items."""
    wall, cpu = time.perf_counter(), time.process_time()
    for item in items:
        fn(*item)
    return time.perf_counter() - wall, time.process_time() - cpu


def _make(args: tuple[int, dict]) -> int:
    seed, geometry = args
    return stream.make_clip(0, seed, **geometry).frames.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    geometry = dict(width=width, height=height, num_frames=args.frames)

    # 1. The inputs of each part, computed once
    rngs = [stream.clip_rng(0, k) for k in range(args.clips)]
    specs = [sample.sample_scene(rng, **geometry) for rng in rngs]
    anns = [physics.simulate(s) for s in specs]
    try:
        from cineflow.world.captions import caption
    except ImportError:
        caption = None
    parts = {
        "sample_scene": (
            lambda k: sample.sample_scene(stream.clip_rng(0, k), **geometry),
            [(k,) for k in range(args.clips)],
        ),
        "simulate": (physics.simulate, [(s,) for s in specs]),
        "render": (render.render, list(zip(specs, anns, strict=True))),
        "pillow peer (render)": (pillow_peer, list(zip(specs, anns, strict=True))),
        "make_clip (all)": (lambda k: stream.make_clip(0, k, **geometry), [(k,) for k in range(args.clips)]),
    }
    if caption is not None:
        parts["caption"] = (
            lambda s, a: caption(s, a, np.random.default_rng(0)),
            list(zip(specs, anns, strict=True)),
        )

    # 2. Rounds in rotation, so that the host's noise hits every part alike
    seconds: dict[str, list[float]] = {name: [] for name in parts}
    cpu: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(args.rounds):
        for name, (fn, items) in parts.items():
            wall, used = _timed(fn, items)
            seconds[name].append(wall)
            cpu[name].append(used)
    n = args.clips
    print(f"{n} clips of {args.frames}x{height}x{width}, {args.rounds} rounds, one process")
    print(
        "clips/s by wall clock (median, best) and by this process's CPU time (best; neighbours' load aside)"
    )
    print(f"{'part':<22}{'wall median':>12}{'wall best':>11}{'CPU best':>10}{'CPU ms/clip':>13}")
    for name in parts:
        med, best, used = statistics.median(seconds[name]), min(seconds[name]), min(cpu[name])
        print(f"{name:<22}{n / med:>12.0f}{n / best:>11.0f}{n / used:>10.0f}{used / n * 1e3:>13.2f}")
    ratio = [p / r for p, r in zip(seconds["pillow peer (render)"], seconds["render"], strict=True)]
    print(f"render vs pillow peer: {statistics.median(ratio):.2f}x faster (median of per-round wall ratios)")

    # 3. Whole clips on several processes (wall clock only: this is what a data loader would see)
    with ProcessPoolExecutor(args.workers) as pool:
        list(pool.map(_make, [(k, geometry) for k in range(args.workers * 4)]))  # warm up the workers
        rates = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            list(pool.map(_make, [(k, geometry) for k in range(n * 2)], chunksize=16))
            rates.append(n * 2 / (time.perf_counter() - start))
    median, best = statistics.median(rates), max(rates)
    print(f"make_clip on {args.workers} processes: {median:.0f} clips/s median, {best:.0f} best (wall clock)")


if __name__ == "__main__":
    main()
