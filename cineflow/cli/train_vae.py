"""`cineflow train-vae CONFIG --out DIR [--max-steps N] [--resume] [--set k=v ...]`: train the video VAE."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train-vae",
        help="train the causal video VAE on Flatland or a dataset",
        description="Train the causal video VAE. Checkpoints go to DIR/checkpoints/, the model to DIR/vae/.",
    )
    p.add_argument("config", help="YAML training config (see configs/vae_*.yaml)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, metrics.jsonl, vae/)")
    p.add_argument("--max-steps", type=int, default=None, help="train until this step (overrides max_steps)")
    p.add_argument(
        "--resume", action="store_true", help="continue from the latest complete checkpoint in --out"
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cineflow.train.vae import load_train_config, train_vae

    overrides = list(args.set)
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise ValueError(f"--max-steps: must be >= 1, got {args.max_steps}")
        overrides.append(f"max_steps={args.max_steps}")
    cfg = load_train_config(args.config, overrides)
    folder = train_vae(cfg, args.out, resume=args.resume)
    print(f"VAE saved to {folder}")
    return 0
