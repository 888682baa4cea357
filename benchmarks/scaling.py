"""The compute-scaling figure: the same prompts and seeds through models trained for more and more steps.

    python benchmarks/scaling.py --models runs/tiny_m300 runs/tiny_m1200 runs/tiny_m4800 \
        --labels 1x 4x 16x --out docs/scaling.png [--prompts P ...] [--seeds 2] [--frames 5] \
        [--suites attributes,counting,motion] [--bench-seeds 1] [--limit N] [--threads 1]

Model folders of one run at several steps come from `cineflow export runs/tiny/checkpoints/step_NNNNNN
--out DIR`. The PNG has one row per (prompt, model): `--frames` evenly spaced frames of each seed's video,
seeds side by side, the model's label on the left and each prompt above its rows. Then each model runs the
Flatland benchmark on a few suites (cineflow.eval: held-out captions of ground-truth scenes, judged by the
oracle) and a Markdown table of cases passing, with Wilson 95% intervals, is printed; `--bench-seeds 0`
skips it.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

PROMPTS = (
    "a red ball moves to the right",
    "a blue square falls and bounces on a gray floor",
    "two green stars and a yellow triangle",
)
SCALE = 2  # pixels per video pixel in the figure
GAP = 6  # pixels between seeds and between prompt groups
LABEL_WIDTH = 70
HEADER = 16  # the prompt's line above its rows


def generate_rows(models: dict, prompts: list[str], seeds: int, frames: int) -> dict:
    """{(prompt, label): [strip per seed]}, strips uint8 [H, frames*W, 3]; `models`: label -> ModelSource."""
    from cineflow.eval.run import strip

    rows = {}
    for prompt in prompts:
        for label, source in models.items():
            knobs = {"num_inference_steps": source.steps, "guidance_scale": source.guidance}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                videos = [source.pipe(prompt, seed=s, progress=False, **knobs) for s in range(seeds)]
            rows[(prompt, label)] = [strip(v.frames, frames) for v in videos]
    return rows


def draw(rows: dict, prompts: list[str], labels: list[str], seeds: int) -> np.ndarray:
    """The figure: per prompt a header line, then one labelled row per model."""
    from PIL import Image, ImageDraw

    first = next(iter(rows.values()))[0]
    h, w = first.shape[0] * SCALE, first.shape[1] * SCALE
    width = LABEL_WIDTH + seeds * w + (seeds - 1) * GAP
    height = len(prompts) * (HEADER + len(labels) * (h + 2) + GAP)
    image = Image.new("RGB", (width, height), "white")
    pen = ImageDraw.Draw(image)
    y = 0
    for prompt in prompts:
        pen.text((4, y + 2), f'"{prompt}"  (seeds 0..{seeds - 1} left to right)', fill="black")
        y += HEADER
        for label in labels:
            pen.text((4, y + h // 2 - 6), label, fill="black")
            for s, piece in enumerate(rows[(prompt, label)]):
                big = Image.fromarray(piece).resize((w, h), Image.NEAREST)
                image.paste(big, (LABEL_WIDTH + s * (w + GAP), y))
            y += h + 2
        y += GAP
    return np.asarray(image)


def bench(models: dict, suites: list[str], seeds: int, limit) -> str:
    """Markdown: per model, cases passing per suite and the suites' focus checks (Wilson 95%)."""
    from cineflow.eval.run import accuracy, evaluate
    from cineflow.eval.suites import SUITES, build_cases

    cases = build_cases(suites, seeds, limit=limit)
    head = "| model | " + " | ".join(f"{s} (cases)" for s in suites) + " | focus checks |"
    lines = [head, "|" + "---|" * (len(suites) + 2)]
    for label, source in models.items():
        cells, focus = [], []
        for name in suites:
            results, _ = evaluate(cases[name], source)
            rates = accuracy(cases[name], results)
            cells.append(_rate(rates["case"]))
            focus += [f"{name}.{c} {rates[c].value:.2f}" for c in SUITES[name].focus if c in rates]
        lines.append(f"| {label} | " + " | ".join(cells) + " | " + "; ".join(focus) + " |")
    return "\n".join(lines)


def _rate(rate) -> str:
    lo, hi = rate.interval
    return f"{rate.value:.2f} [{lo:.2f}, {hi:.2f}] ({rate.hits}/{rate.trials})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", required=True, help="model folders, least compute first")
    p.add_argument("--labels", nargs="+", default=None, help="one label per model (default: folder names)")
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--prompts", nargs="+", default=list(PROMPTS), help="prompts (default: three)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per prompt (default 2)")
    p.add_argument("--frames", type=int, default=5, help="frames shown per video (default 5)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: each model's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default: each model's)")
    p.add_argument("--suites", default="attributes,counting,motion", help="bench suites, comma-separated")
    p.add_argument("--bench-seeds", type=int, default=1, help="bench seeds per suite; 0 skips (default 1)")
    p.add_argument("--limit", type=int, default=None, help="at most N bench cases per suite")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = p.parse_args()
    labels = args.labels or [Path(m).name for m in args.models]
    if len(labels) != len(args.models) or len(set(labels)) != len(labels):
        raise SystemExit("--labels: one distinct label per model folder")
    if args.seeds < 1 or args.frames < 1 or args.bench_seeds < 0:
        raise SystemExit("--seeds and --frames: >= 1; --bench-seeds: >= 0")
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]

    import torch

    from cineflow.eval.run import ModelSource
    from cineflow.eval.suites import SUITES

    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise SystemExit(f"--suites: unknown {unknown}; choose from {', '.join(SUITES)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    from PIL import Image

    start = time.perf_counter()
    knobs = {"steps": args.steps, "guidance": args.guidance}
    models = {label: ModelSource(m, **knobs) for label, m in zip(labels, args.models, strict=True)}
    rows = generate_rows(models, args.prompts, args.seeds, args.frames)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(draw(rows, args.prompts, labels, args.seeds)).save(out)
    print(f"wrote {out} ({len(rows)} rows, {time.perf_counter() - start:.0f} s)")
    if args.bench_seeds:
        print()
        print(bench(models, suites, args.bench_seeds, args.limit))
        print(
            f"\n(Flatland bench, {args.bench_seeds} seed(s) per suite; {time.perf_counter() - start:.0f} s)"
        )


if __name__ == "__main__":
    main()
