"""Held-out flow-matching loss of a text model and its text-blind control, on the same fixed samples.

    python benchmarks/text_vs_blind.py --model runs/tiny/model --blind runs/tiny_blind/model \
        [--clips 256] [--seed 1] [--timesteps 8] [--per-clip 2] [--batch 16] [--bf16] [--threads 1]

Clip k of Flatland stream `--seed` (training reads stream 0: `configs/tiny.yaml`'s cache is its first 8000
clips) at the geometry of model A's folder, captioned with the training sentence frames and, for the same
scene, with the held-out ones; each clip is encoded by the model's own VAE (posterior mean in fp32, as the
training latent cache holds it). Each clip is scored at `--per-clip` timesteps of a fixed grid (the
midpoints of `--timesteps` equal bins of [0, 1], dealt round-robin so every grid point gets the same number
of clips) with noise fixed by (seed, clip, grid point): every configuration sees identical (x0, noise, t).
The objective is `cineflow.diffusion.flow` (interpolate, target, loss), as in training.

Configurations: A with the train captions, A with the held-out captions, A with "" (its unconditional
branch); B with "" (what it was trained on), B with the train and the held-out captions. Printed: each
configuration's mean loss with a 95% interval over clips, the paired differences against B with "" (per
clip: same sample, same noise, same t), and the same per grid point of t. A text model that reads its
prompt has A(captions) - B("") < 0, most of all at high t, where the noise hides what the text tells.

Cost: 6 configurations x clips x per-clip DiT forwards. For two `tiny` models at the defaults (512 items a
configuration), `--bf16 --threads 1` on the shared 2-core host took ~0.1 s an item: about 5 minutes, plus
~30 s to render and encode the clips.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from cineflow.diffusion import flow
from cineflow.io import to_tensor
from cineflow.pipeline import Pipeline
from cineflow.world.stream import make_clip

Z95 = 1.959964


def grid(points: int) -> torch.Tensor:
    """The midpoints of `points` equal bins of [0, 1]: the fixed timesteps."""
    return (torch.arange(points, dtype=torch.float64) + 0.5).div(points).float()


def fixed_samples(pipe: Pipeline, clips: int, seed: int) -> dict:
    """Clips 0..clips-1 of stream `seed` at the pipeline's geometry: frames and both captions."""
    cfg = pipe.config
    geometry = {"width": cfg.width, "height": cfg.height, "num_frames": cfg.num_frames, "fps": cfg.fps}
    frames, train, heldout = [], [], []
    for k in range(clips):
        clip = make_clip(seed, k, split="train", **geometry)
        frames.append(clip.frames)
        train.append(clip.caption)
        heldout.append(make_clip(seed, k, split="heldout", **geometry).caption)  # same scene, other frames
    return {"frames": frames, "train": train, "heldout": heldout}


def encode_clips(pipe: Pipeline, frames: list[np.ndarray], batch: int) -> torch.Tensor:
    """Latents [N, c, t, h, w] of every clip: the posterior mean in fp32, as the latent cache stores it."""
    out = []
    for i in range(0, len(frames), batch):
        video = torch.stack([to_tensor(f) for f in frames[i : i + batch]]).to(pipe.device)  # (B, 3, T, H, W)
        with torch.inference_mode():
            out.append(pipe.vae.encode(video).float().cpu())
    return torch.cat(out)


def schedule(clips: int, per_clip: int, points: int, seed: int, shape: tuple[int, ...]) -> dict:
    """Which grid points each clip is scored at (round-robin) and its fixed noise per item."""
    items = [(k, (k * per_clip + j) % points) for k in range(clips) for j in range(per_clip)]
    noise = []
    for k, j in items:
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, k, j]).generate_state(1)[0]))
        noise.append(torch.randn(shape, generator=gen))
    return {"clip": [k for k, _ in items], "point": [j for _, j in items], "noise": torch.stack(noise)}


def item_losses(pipe, latents, plan, t_grid, captions: list[str], batch: int, autocast) -> torch.Tensor:
    """flow.loss of every scheduled item [N] for one model and one caption per clip."""
    dit, losses = pipe.transformer, []
    frames = latents.shape[2]
    n = len(plan["clip"])
    for i in range(0, n, batch):
        clip = plan["clip"][i : i + batch]
        x0 = latents[clip].to(pipe.device)  # (B, c, t, h, w)
        noise = plan["noise"][i : i + batch].to(pipe.device)
        t = t_grid[plan["point"][i : i + batch]][:, None].expand(-1, frames).to(pipe.device)  # (B, t)
        emb = pipe.text_encoder.encode([captions[k] for k in clip]).to(pipe.device)
        with torch.inference_mode(), autocast():
            pred = dit(flow.interpolate(x0, noise, t), t, emb.tokens, emb.mask, emb.pooled)  # (B, c, t, h, w)
        v = flow.target(x0, noise)
        losses += [flow.loss(pred[b : b + 1].float(), v[b : b + 1]).item() for b in range(len(clip))]
    return torch.tensor(losses, dtype=torch.float64)


def per_clip(losses: torch.Tensor, clips: list[int], n: int) -> torch.Tensor:
    """Mean of each clip's items [n]."""
    index = torch.tensor(clips)
    return torch.zeros(n, dtype=torch.float64).index_add_(0, index, losses) / torch.bincount(
        index, minlength=n
    )


def mean_ci(x: torch.Tensor) -> tuple[float, float, float]:
    """Mean and a 95% normal interval over the entries (clips)."""
    m = x.mean().item()
    half = Z95 * x.std().item() / math.sqrt(len(x)) if len(x) > 1 else math.nan
    return m, m - half, m + half


def weights_sha(folder: Path, component: str) -> str:
    digest = hashlib.sha256()
    for p in sorted((folder / component).glob("*.safetensors")):
        digest.update(p.read_bytes())
    return digest.hexdigest()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model folder A (trained with captions)")
    p.add_argument("--blind", required=True, help="model folder B (the text-blind control)")
    p.add_argument("--clips", type=int, default=256, help="held-out clips (default 256)")
    p.add_argument("--seed", type=int, default=1, help="Flatland stream seed; training uses 0 (default 1)")
    p.add_argument("--timesteps", type=int, default=8, help="grid points of t (default 8)")
    p.add_argument("--per-clip", type=int, default=2, help="grid points per clip (default 2)")
    p.add_argument("--batch", type=int, default=16, help="samples per forward (default 16)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast of the DiT (what tiny trains in)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args()
    for name in ("clips", "timesteps", "per_clip", "batch"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')}: must be >= 1")
    if args.per_clip > args.timesteps:
        raise SystemExit("--per-clip: at most --timesteps")
    if args.threads:
        torch.set_num_threads(args.threads)
    bf16 = args.bf16
    autocast = (lambda: torch.autocast(args.device, dtype=torch.bfloat16)) if bf16 else nullcontext
    start = time.perf_counter()

    # 1. Models, the fixed clips and their latents (one encoding per distinct VAE)
    folders = {"A": Path(args.model), "B": Path(args.blind)}
    pipes = {k: Pipeline.from_pretrained(f).to(args.device) for k, f in folders.items()}
    if pipes["A"].config.num_frames != pipes["B"].config.num_frames:
        raise SystemExit("--model and --blind: their folders take different clip geometries")
    data = fixed_samples(pipes["A"], args.clips, args.seed)
    vae_sha = {k: weights_sha(f, "vae") for k, f in folders.items()}
    latents = {"A": encode_clips(pipes["A"], data["frames"], args.batch)}
    same_vae = vae_sha["A"] == vae_sha["B"]
    latents["B"] = latents["A"] if same_vae else encode_clips(pipes["B"], data["frames"], args.batch)
    t_grid = grid(args.timesteps)
    plan = schedule(args.clips, args.per_clip, args.timesteps, args.seed, tuple(latents["A"].shape[1:]))
    print(f"{args.clips} clips of stream {args.seed}, latents {list(latents['A'].shape[1:])}, "
          f"{len(plan['clip'])} items, t grid {[round(t, 4) for t in t_grid.tolist()]}, "
          f"{'one VAE' if same_vae else 'two VAEs'}, {'bf16' if bf16 else 'fp32'}  "
          f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip

    # 2. Every configuration on the same items
    blank = [""] * args.clips
    configs = {
        "A train captions": ("A", data["train"]),
        "A held-out captions": ("A", data["heldout"]),
        "A empty prompt": ("A", blank),
        "B empty prompt": ("B", blank),
        "B train captions": ("B", data["train"]),
        "B held-out captions": ("B", data["heldout"]),
    }
    items = {}
    for name, (key, captions) in configs.items():
        tick = time.perf_counter()
        items[name] = item_losses(pipes[key], latents[key], plan, t_grid, captions, args.batch, autocast)
        print(f"  {name}: {time.perf_counter() - tick:.0f} s", flush=True)

    # 3. Means per clip with 95% intervals, and paired differences against the blind model as trained
    report(args, items, plan, t_grid, folders, vae_sha)


def report(args, items: dict, plan: dict, t_grid: torch.Tensor, folders: dict, vae_sha: dict) -> None:
    clips = {name: per_clip(x, plan["clip"], args.clips) for name, x in items.items()}
    base = "B empty prompt"
    print(f"\nmean flow-matching loss over {args.clips} clips (95% interval over clips)")
    figures: dict = {"settings": vars(args), "folders": {k: str(f.resolve()) for k, f in folders.items()}}
    figures["vae_sha256"], figures["mean"], figures["minus_blind"], figures["per_t"] = vae_sha, {}, {}, {}
    for name, x in clips.items():
        m, lo, hi = mean_ci(x)
        figures["mean"][name] = [m, lo, hi]
        print(f"  {name:22s} {m:.4f} [{lo:.4f}, {hi:.4f}]")
    print(f"\npaired differences, minus {base!r} (per clip: same clip, noise and t)")
    for name, x in clips.items():
        if name != base:
            m, lo, hi = mean_ci(x - clips[base])
            figures["minus_blind"][name] = [m, lo, hi]
            print(f"  {name:22s} {m:+.4f} [{lo:+.4f}, {hi:+.4f}]")
    names = ["A train captions", "A held-out captions", "A empty prompt", base]
    print(f"\nper t (items per point: {len(plan['clip']) // args.timesteps}); A - B: paired against {base!r}")
    print("  t     " + "".join(f"{n:>22s}" for n in names) + "  A train - B         A held-out - B")
    points = torch.tensor(plan["point"])
    for j, t in enumerate(t_grid.tolist()):
        sel = points == j
        row = {n: items[n][sel] for n in names}
        diffs = [mean_ci(row[n] - row[base]) for n in names[:2]]
        figures["per_t"][f"{t:.4f}"] = {n: row[n].mean().item() for n in names} | {
            f"{n} - blind": list(d) for n, d in zip(names[:2], diffs, strict=True)
        }
        cells = "".join(f"{row[n].mean().item():22.4f}" for n in names)
        print(f"  {t:.4f}{cells}  " + "  ".join(f"{m:+.4f} [{lo:+.4f}, {hi:+.4f}]" for m, lo, hi in diffs))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
