"""How long `cineflow generate` takes, end to end, and where the time goes.

    python benchmarks/generate_speed.py [--model DIR] [--runs 5] [--threads N]

1. Wall time of `cineflow generate "a red ball moves to the right" -o OUT.mp4 [--model DIR]` as a fresh
   subprocess, `--runs` times: Python start-up, imports, model load, text, denoising, VAE decode, mp4 write
   and provenance, the default clip (2 s at 8 fps: 17 frames, 64x64, the model's steps and guidance).
   Median and min are printed; the target is <= 10 s on 2 cores.
2. The same generation staged in one fresh process (`--stages`, run as a subprocess of this script), each
   stage timed: Python + imports of the CLI path, model load, text encoding, denoising, VAE decode, and
   writing with provenance (watermark + C2PA signature).

`--threads N` sets OMP_NUM_THREADS for the subprocesses (torch's intra-op threads); on a shared 2-core host
1 is often faster than 2 (docs/generate.md).
"""

from __future__ import annotations

import time

START = time.perf_counter()  # before anything else is imported: the stage run's import time starts here

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

PROMPT = "a red ball moves to the right"


def end_to_end(model: str | None, runs: int, env: dict[str, str], folder: Path) -> list[float]:
    """Wall seconds of `runs` fresh `cineflow generate` processes."""
    cmd = [sys.executable, "-m", "cineflow", "generate", PROMPT, "-o", str(folder / "out.mp4")]
    cmd += ["--model", model] if model else []
    times = []
    for _ in range(runs):
        tick = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - tick)
        if done.returncode != 0:
            raise SystemExit(f"cineflow generate failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return times


def stages(model: str | None, out: Path) -> dict[str, float]:
    """The generation of `cineflow generate`, stage by stage, in this (fresh) process."""
    marks = {}

    def mark(name: str, since: float) -> float:
        now = time.perf_counter()
        marks[name] = now - since
        return now

    from cineflow.cli import build_parser  # what `cineflow generate` imports before its work
    from cineflow.pipeline import Pipeline

    build_parser()
    tick = mark("python + imports", START)
    pipe = Pipeline.from_pretrained(model)
    tick = mark("load model", tick)

    # Text and decode are timed by wrapping the components' calls; denoising is the rest of the call.
    inner = {"encode text": 0.0, "decode": 0.0}

    def timed(name, fn):
        def call(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                inner[name] += time.perf_counter() - t0

        return call

    pipe.text_encoder.encode = timed("encode text", pipe.text_encoder.encode)
    pipe.vae.decode = timed("decode", pipe.vae.decode)
    result = pipe(PROMPT, progress=False)
    call = time.perf_counter() - tick
    marks["encode text"] = inner["encode text"]
    marks["denoise"] = call - inner["encode text"] - inner["decode"]
    marks["decode"] = inner["decode"]
    tick = time.perf_counter()
    result.save(out)
    mark("write + provenance", tick)
    marks["total"] = time.perf_counter() - START
    marks["steps"] = pipe.config.num_inference_steps
    return marks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.add_argument("--runs", type=int, default=5, help="end-to-end runs (default 5)")
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the runs (default: unset)")
    p.add_argument("--stages", default=None, help=argparse.SUPPRESS)  # internal: the staged run, JSON here
    args = p.parse_args()
    if args.stages:
        marks = stages(args.model, Path(args.stages).with_suffix(".mp4"))
        Path(args.stages).write_text(json.dumps(marks))
        return
    if args.runs < 1:
        raise SystemExit("--runs: must be >= 1")
    env = dict(os.environ)
    if args.threads is not None:
        env["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        times = end_to_end(args.model, args.runs, env, folder)
        print(f"cineflow generate {PROMPT!r} -o OUT.mp4" + (f" --model {args.model}" if args.model else ""))
        print(f"  threads {env.get('OMP_NUM_THREADS', 'default')}, {args.runs} runs: median "
              f"{statistics.median(times):.2f} s, min {min(times):.2f} s  "
              f"(all: {', '.join(f'{t:.2f}' for t in times)})")  # fmt: skip
        staged = [sys.executable, __file__, "--stages", str(folder / "stages.json")]
        staged += ["--model", args.model] if args.model else []
        done = subprocess.run(staged, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"the staged run failed:\n{done.stderr[-2000:]}")
        marks = json.loads((folder / "stages.json").read_text())
    steps = marks.pop("steps")
    total = marks.pop("total")
    print(f"  stages of one fresh process ({total:.2f} s in all):")
    for name, seconds in marks.items():
        note = f"  ({seconds / steps * 1000:.0f} ms a step)" if name == "denoise" else ""
        print(f"    {name:20s} {seconds:6.2f} s{note}")


if __name__ == "__main__":
    main()
