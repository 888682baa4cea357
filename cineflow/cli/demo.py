"""`cineflow demo --out DIR`: the main job of `make demo`.

With the bundled model installed it generates a few clips from prompts (and, when the oracle is there, scores
each against its prompt); without one it renders Flatland clips, the ground truth the model learns from.
Either way DIR gets the videos, `captions.csv` (path,text) and an `index.html` that plays them.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
from pathlib import Path

from cineflow.atomic import atomic_write_text

PROMPTS = (
    "a red ball moves to the right on a black background",
    "a blue square falls and bounces on a gray floor",
    "a small green star spins",
    "a yellow triangle moves up and a purple ball moves down",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="generate a few clips with the bundled model (or render Flatland clips without one)",
        description="Write a few clips, their captions and an index.html to --out.",
    )
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--n", type=int, default=4, help=f"number of clips, 1..{len(PROMPTS) * 4} (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first clip (default 0)")
    p.add_argument("--model", default=None, help="model folder (default: the bundled one, if installed)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.n <= len(PROMPTS) * 4:
        raise ValueError(f"--n: must be in 1..{len(PROMPTS) * 4}, got {args.n}")
    if args.seed < 0:
        raise ValueError(f"--seed: must be >= 0, got {args.seed}")
    if args.model is not None and not (Path(args.model) / "model_index.json").is_file():
        raise FileNotFoundError(f"--model: no model_index.json in {args.model}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from cineflow.pipeline import BUNDLED, MODEL_INDEX

    model = args.model or (str(BUNDLED) if (BUNDLED / MODEL_INDEX).is_file() else None)
    if model is None:
        print("no bundled model installed: rendering Flatland clips (the world the model learns) instead")
        rows = _render(out, args.n, args.seed)
    else:
        rows = _generate(out, args.n, args.seed, model)
    atomic_write_text(out / "captions.csv", _csv(rows))
    atomic_write_text(out / "index.html", _page(rows, "generated" if model else "rendered"))
    print(f"wrote {len(rows)} clips, captions.csv and index.html to {out}")
    return 0


def _generate(out: Path, n: int, seed: int, model: str) -> list[dict[str, str]]:
    from cineflow.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(model)
    rows = []
    for i in range(n):
        prompt = PROMPTS[i % len(PROMPTS)]
        result = pipe(prompt, seed=seed + i)
        name = f"clip_{i:02d}.mp4"
        result.save(out / name)
        row = {"path": name, "text": prompt, "verdict": _score(result.frames, prompt, result.fps)}
        print(f"{name}: {prompt}  [{row['verdict']}]")
        rows.append(row)
    return rows


def _render(out: Path, n: int, seed: int) -> list[dict[str, str]]:
    from cineflow.io import write_video
    from cineflow.world.stream import make_clip

    rows = []
    for i in range(n):
        clip = make_clip(seed, i)
        name = f"clip_{i:02d}.mp4"
        write_video(out / name, clip.frames, clip.spec.fps)
        print(f"{name}: {clip.caption}")
        rows.append({"path": name, "text": clip.caption, "verdict": "ground truth"})
    return rows


def _score(frames, prompt: str, fps: float) -> str:
    """The oracle's verdict on a generated clip: how many of the prompt's checks pass."""
    try:
        from cineflow.world.oracle import score
        from cineflow.world.parse import parse_prompt
    except ImportError:  # the oracle is optional for the demo
        return "not scored"
    try:
        report = score(frames, parse_prompt(prompt), fps)
    except ValueError as e:
        return f"not scored ({e})"
    passed = sum(check.passed for check in report.checks)
    return f"oracle {passed}/{len(report.checks)} checks pass"


def _csv(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "text"])
    writer.writerows([row["path"], row["text"]] for row in rows)
    return buf.getvalue()


def _page(rows: list[dict[str, str]], kind: str) -> str:
    cells = "\n".join(
        f'<figure><video src="{html.escape(r["path"])}" autoplay loop muted playsinline width="256"></video>'
        f"<figcaption>{html.escape(r['text'])}<br><small>{html.escape(r['verdict'])}</small></figcaption></figure>"
        for r in rows
    )
    style = (
        "body{font-family:sans-serif;background:#111;color:#eee}figure{display:inline-block;margin:8px}"
        "video{image-rendering:pixelated}"
    )
    title = f"cineflow demo: {len(rows)} {kind} clips"
    return (
        f"<!doctype html><meta charset=utf-8><title>{title}</title><style>{style}</style>"
        f"<h1>{title}</h1>\n{cells}\n"
    )
