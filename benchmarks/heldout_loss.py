"""The held-out loss of saved DiTs: does more training on the same clips still generalise?

    python benchmarks/heldout_loss.py CONFIG --models DIR [DIR ...] [--batches 16] [--set key=value ...]

The measurement `cineflow train` logs with `heldout.every` (cineflow/train/heldout.py), made afterwards on
model folders (exported checkpoints of one run): the flow loss of each folder's transformer on the run's
first clips (`seen_loss`) and on clips it never trained on (`heldout_loss`, named by the config's
`heldout.*` keys or `--set`), with the same fixed timesteps and noise for every folder. A gap that grows from
folder to folder is memorising; a held-out loss that keeps falling is learning.

For a run on a latent cache of `cineflow world sample` files, hold out a cache of more such files
(`world sample --start 8000`, `data cache-latents` with the same VAE), so both sets went through the codec.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from cineflow.config import load_yaml
from cineflow.models.dit import VideoDiT
from cineflow.pipeline import WEIGHTS, load_weights
from cineflow.train.config import dit_config, load_train_config
from cineflow.train.heldout import HeldoutLoss
from cineflow.train.loop import autocast_for, build_models
from cineflow.train.parallel import World


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", help="the run's training config (its data, VAE, text encoder, batch size)")
    ap.add_argument("--models", nargs="+", required=True, help="model folders whose transformers to measure")
    ap.add_argument("--batches", type=int, default=16, help="global batches in each set (default 16)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    overrides = [*args.set, "heldout.every=1", f"heldout.batches={args.batches}", "init_from=null"]
    cfg = load_train_config(load_yaml(args.config), overrides)
    world = World(rank=0, size=1, local_rank=0, device=torch.device("cpu"))
    vae, _, text_encoder = build_models(cfg, world.device)
    began = time.perf_counter()
    measure = HeldoutLoss(cfg, world, vae, text_encoder, autocast_for(cfg, world.device))
    clips = args.batches * cfg.batch_size * cfg.grad_accum
    print(f"{clips} clips per set, prepared in {time.perf_counter() - began:.0f} s", flush=True)

    print("| model | seen_loss | heldout_loss | gap (held - seen) |")
    print("| --- | --- | --- | --- |")
    for folder in args.models:
        dit = VideoDiT(dit_config(cfg))
        load_weights(dit, Path(folder) / "transformer" / WEIGHTS)
        got = measure(dit.eval())
        seen, held = got["seen_loss"], got["heldout_loss"]
        print(f"| {folder} | {seen:.4f} | {held:.4f} | {held - seen:+.4f} ({(held - seen) / seen:+.1%}) |")


if __name__ == "__main__":
    main()
