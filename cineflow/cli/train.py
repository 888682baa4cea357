"""`cineflow train CONFIG --out DIR`: train the video DiT (one process, or DDP under torchrun)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the video DiT with rectified flow",
        description=(
            "Train the video DiT on the Flatland stream, a dataset or a latent cache. "
            "Multi-process: torchrun --nproc-per-node N -m cineflow train CONFIG --out DIR"
        ),
    )
    p.add_argument("config", help="YAML config (see configs/debug.yaml, configs/tiny.yaml)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, metrics, samples, final model/")
    p.add_argument("--max-steps", type=int, default=None, help="override max_steps (optimizer steps)")
    p.add_argument("--resume", action="store_true", help="continue from the latest complete checkpoint")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set optim.lr=1e-4 (repeatable)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cineflow.config import load_yaml
    from cineflow.train.config import load_train_config

    overrides = list(args.overrides)
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise ValueError(f"--max-steps: must be >= 1, got {args.max_steps}")
        overrides.append(f"max_steps={args.max_steps}")
    # Parse and check everything before torch is imported or a process group is joined.
    cfg = load_train_config(load_yaml(args.config), overrides)

    from cineflow.train.config import dit_config

    dit_config(cfg)  # an unknown preset or DiT key fails here, before a process group is joined

    from cineflow.train.loop import train
    from cineflow.train.parallel import init_distributed, shutdown

    world = init_distributed(cfg.device)
    try:
        final = train(cfg, args.out, world, resume=args.resume)
    finally:
        shutdown(world)
    if world.is_main:
        print(f"model written to {final}")
    return 0
