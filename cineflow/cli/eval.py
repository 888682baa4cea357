"""`cineflow eval`: the Flatland benchmark (docs/eval.md).

Each suite's prompts are held-out captions of ground-truth scenes; a model folder generates a video per
prompt and the oracle scores it against the claims parsed from the prompt. `--ceiling` scores the
scenes' own renders (what a perfect model would get); `--vae-ceiling` scores those renders after a round
trip through the model's VAE (what a perfect DiT on that VAE would get); `--floor-model` scores a
text-blind model (the same recipe trained with its text always dropped). Without `--model`, the bundled
model is evaluated, unless only ceilings are asked for (then no DiT is run).

Writes REPORT.json, REPORT.md and REPORT.html beside it, and REPORT_strips/ (a frame strip per case);
prints one line per suite and source.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from cineflow.world import vocab  # names and numbers only: no heavy imports

MAX_SEEDS = 1000
ORACLE_SIZE = 64  # below this the oracle's own accuracy drops (docs/eval.md, section 4)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="run the Flatland benchmark on a model (JSON + Markdown report with frame strips)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--suite",
        default="all",
        metavar="NAME",
        help="a suite, several separated by commas, or all (default); an unknown name lists them all",
    )
    p.add_argument("--model", default=None, metavar="DIR", help="model folder (default: the bundled model)")
    p.add_argument("--out", default="eval/report.json", help="report path (default eval/report.json)")
    p.add_argument("--seeds", type=int, default=4, help=f"seeds 0..N-1 per suite, 1..{MAX_SEEDS} (default 4)")
    p.add_argument("--limit", type=int, default=None, help="at most N cases per suite (>= 1)")
    p.add_argument("--ceiling", action="store_true", help="also score ground-truth renders of each case")
    p.add_argument(
        "--vae-ceiling",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="also score ground-truth renders after a VAE round trip; DIR: a model or VAE folder "
        "(default: --model's VAE, else the bundled VAE)",
    )
    p.add_argument("--floor-model", default=None, metavar="DIR", help="a text-blind model folder (the floor)")
    p.add_argument("--size", type=int, default=64, help="frame side in pixels, 16..1024 (default 64)")
    p.add_argument("--frames", type=int, default=17, help="frames per clip, 1..481 (default 17)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for generation (default: torch's); 1 is faster on a busy shared CPU",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="do not keep generated videos in REPORT_cache/ (kept by default: a rerun resumes there)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cineflow.eval import report
    from cineflow.eval.run import accuracy, evaluate
    from cineflow.eval.suites import build_cases

    # 1. Check the arguments before any work, then load the sources
    names = _check(args)
    if args.threads is not None:
        import torch

        # on an oversubscribed CPU, threads of one op wait on each other at every barrier (docs/eval.md)
        torch.set_num_threads(args.threads)
    sources, infos, cache = _sources(args)

    # 2. Cases, then every source on every case
    geometry = {"width": args.size, "height": args.size, "num_frames": args.frames}
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cases = build_cases(names, args.seeds, limit=args.limit, **geometry)
    results: dict = {}
    seconds: dict = {}
    for name, suite_cases in cases.items():
        results[name], seconds[name] = {}, {}
        for src, source in sources.items():
            before = getattr(source, "hits", 0)  # videos a FrameCache had kept
            res, took = evaluate(suite_cases, source)
            results[name][src], seconds[name][src] = res, took
            kept = getattr(source, "hits", 0) - before
            note = f"  [{kept} videos from the cache]" if kept else ""
            rate = accuracy(suite_cases, res)["case"]
            print(
                f"{name:13s} {src:11s} {len(suite_cases):4d} cases  {rate}  ({took:.1f} s){note}",
                file=sys.stderr,
            )

    # 3. Report
    settings = {
        "suites": names,
        "seeds": args.seeds,
        "limit": args.limit,
        **geometry,
        "fps": vocab.DEFAULT_FPS,
        "command": _command(args),
        "started": started,
        "cache": cache,
    }
    data = report.build(settings, infos, cases, results, seconds, report.strips_name(args.out))
    written = report.write(args.out, data, results)
    print(f"wrote {written[0]}, {written[1]}, {written[2]} and {len(written) - 3} frame strips")
    return 0


def _check(args: argparse.Namespace) -> list[str]:
    """Range checks of every argument; returns the suite names."""
    from cineflow.eval.suites import SUITES

    names = list(SUITES) if args.suite == "all" else [s.strip() for s in args.suite.split(",")]
    unknown = [n for n in names if n not in SUITES]
    if unknown or not names:
        raise ValueError(f"--suite: unknown suite {unknown[0] if unknown else args.suite!r}; "
                         f"choose from {', '.join(SUITES)} or all")  # fmt: skip
    if not 1 <= args.seeds <= MAX_SEEDS:
        raise ValueError(f"--seeds: must be 1..{MAX_SEEDS}, got {args.seeds}")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit: must be >= 1, got {args.limit}")
    if not vocab.MIN_SIDE <= args.size <= vocab.MAX_SIDE:
        raise ValueError(f"--size: must be {vocab.MIN_SIDE}..{vocab.MAX_SIDE} pixels, got {args.size}")
    max_frames = int(vocab.MAX_SECONDS * vocab.DEFAULT_FPS) + 1
    if not 1 <= args.frames <= max_frames:
        raise ValueError(
            f"--frames: must be 1..{max_frames} (60 s at {vocab.DEFAULT_FPS} fps), got {args.frames}"
        )
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps: must be >= 1, got {args.steps}")
    if args.guidance is not None and not 0 <= args.guidance <= 100:
        raise ValueError(f"--guidance: must be in [0, 100], got {args.guidance}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads: must be >= 1, got {args.threads}")
    if args.size < ORACLE_SIZE:
        print(f"note: the oracle is built for {ORACLE_SIZE}x{ORACLE_SIZE} clips; at {args.size} px even the "
              "ground truth fails some checks (docs/eval.md: run with --ceiling to see how many)",
              file=sys.stderr)  # fmt: skip
    return names


def _sources(args: argparse.Namespace) -> tuple[dict, dict, str | None]:
    """The model (bundled unless given, or unless only ceilings are asked for), the floor and the
    ceilings, as sources; what the report says of each; the frame cache folder (None: no cache)."""
    from cineflow.eval.run import FrameCache, ModelSource, VAERoundTrip, ground_truth
    from cineflow.pipeline import BUNDLED

    models, infos = {}, {}
    knobs = {"steps": args.steps, "guidance": args.guidance}
    ceilings_asked = args.ceiling or args.vae_ceiling is not None
    if args.model is not None or not ceilings_asked:
        models["model"] = _model(args.model, knobs)
        infos["model"] = models["model"].info()
    if args.floor_model is not None:
        models["floor"] = ModelSource(args.floor_model, **knobs)
        infos["floor"] = {**models["floor"].info(), "what": "text-blind model (trained with text dropped)"}
    cache = None if args.no_cache or not models else Path(args.out).parent / f"{Path(args.out).stem}_cache"
    sources = {k: m if cache is None else FrameCache(m, cache) for k, m in models.items()}
    if args.vae_ceiling is not None:
        # the VAE of the model under test, unless named; the bundled VAE when no model is given either
        vae_ceiling = VAERoundTrip(args.vae_ceiling or args.model or BUNDLED / "vae")
        sources["vae_ceiling"], infos["vae_ceiling"] = vae_ceiling, vae_ceiling.info()
    if args.ceiling:
        sources["ceiling"] = ground_truth
        infos["ceiling"] = {"what": "ground-truth renders of each case's scene (the world's own frames)"}
    return sources, infos, None if cache is None else str(cache)


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run, from the parsed arguments."""
    words = ["cineflow", "eval"]
    for key, value in vars(args).items():
        if key in ("func", "command") or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        words += [flag] if value is True or value == "" else [flag, str(value)]  # "": a bare optional
    return shlex.join(words)


def _model(folder: str | None, knobs: dict):
    from cineflow.eval.run import ModelSource
    from cineflow.pipeline import BUNDLED, MODEL_INDEX

    if folder is None and not (BUNDLED / MODEL_INDEX).is_file():
        raise FileNotFoundError(
            f"no bundled model at {BUNDLED}; pass --model DIR (or --ceiling alone to measure the harness)"
        )
    return ModelSource(folder or BUNDLED, **knobs)
