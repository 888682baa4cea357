"""`cineflow plan`: will it fit, and what does a step cost? A capacity estimate for a DiT preset on N GPUs.

The model is built on the meta device (no memory, any size), so parameters are counted exactly; FLOPs come
from `models.dit.forward_flops` (every matmul and attention product); memory is estimated as

    weights + grads + AdamW state: 16 bytes per parameter (fp32 master weights, fp32 grads, two fp32 moments),
                                   sharded over the GPUs by FSDP
    activations (bf16):            ~ACT_VALUES_PER_TOKEN values of width D per token per block without
                                   checkpointing; with per-block checkpointing only each block's input is
                                   kept, plus one block's activations while it is recomputed.
"""

from __future__ import annotations

import argparse
import json

ACT_VALUES_PER_TOKEN = 24  # saved D-wide tensors per token per block: see _activation_bytes
BYTES_BF16 = 2
GiB = 1024**3


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan",
        help="estimate parameters, FLOPs and memory of a DiT preset for a video size on N GPUs",
        description="Capacity estimate for one training step of a DiT preset (built on the meta device).",
    )
    p.add_argument("--preset", default="tiny", help="DiT preset: debug, tiny, S, B, XL (default: tiny)")
    p.add_argument(
        "--frames", type=int, default=17, help="video frames (1 + 4k for the causal VAE; default 17)"
    )
    p.add_argument("--height", type=int, default=64, help="video height in pixels (default 64)")
    p.add_argument("--width", type=int, default=64, help="video width in pixels (default 64)")
    p.add_argument("--gpus", type=int, default=1, help="GPUs sharing the model with FSDP (default 1)")
    p.add_argument("--batch", type=int, default=1, help="global batch (videos per step), split over GPUs")
    p.add_argument("--text-len", type=int, default=None, help="text tokens (default: TextConfig.max_length)")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="GPU bf16 peak (default: H100 SXM, 989)")
    p.add_argument("--mfu", type=float, default=0.4, help="assumed model-FLOPs utilisation (default 0.4)")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    from cineflow.models.dit import PRESETS

    if args.preset not in PRESETS:
        raise ValueError(f"--preset: unknown {args.preset!r}; choose from {', '.join(PRESETS)}")
    for name in ("frames", "height", "width", "gpus", "batch"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.frames > 1 and (args.frames - 1) % 4:
        raise ValueError(f"--frames must be 1 or 1 + 4k (causal VAE), got {args.frames}")
    if not 0 < args.mfu <= 1:
        raise ValueError(f"--mfu must be in (0, 1], got {args.mfu}")


def _activation_bytes(hidden: int, depth: int, tokens: int, checkpointing: bool) -> int:
    """bf16 activations kept for backward, for `tokens` tokens (all samples on one GPU).

    Per block and token: self-attention (norm, modulated input, qkv, normed+rotated q/k, output: 8 D),
    cross-attention (norm, q, normed q, output: 4 D), MLP (norm, modulated input, two 4D hidden: 10 D),
    residual adds (2 D). Flash attention keeps no N x N matrix.
    """
    per_block = ACT_VALUES_PER_TOKEN * hidden * tokens * BYTES_BF16
    if not checkpointing:
        return depth * per_block
    return depth * hidden * tokens * BYTES_BF16 + per_block


def estimate(args: argparse.Namespace) -> dict:
    import torch

    from cineflow.config import TextConfig, VAEConfig
    from cineflow.models.dit import PRESETS, VideoDiT, forward_flops, num_params

    cfg, vae = PRESETS[args.preset], VAEConfig()
    latent = (1 + (args.frames - 1) // vae.temporal_down, args.height // vae.spatial_down,
              args.width // vae.spatial_down)  # fmt: skip
    for n, p, name in zip(latent, cfg.patch_size, ("frames", "height", "width"), strict=True):
        if n < p or n % p:
            raise ValueError(f"--{name}: latent size {n} must be a positive multiple of the patch size {p}")
    with torch.device("meta"):
        params = num_params(VideoDiT(cfg))
    text_len = args.text_len or TextConfig().max_length
    flops = forward_flops(cfg, latent, text_len)
    per_gpu = -(-args.batch // args.gpus)
    step_flops = 3 * flops["total"] * args.batch  # forward + backward (2x forward)
    state = 16 * params / args.gpus
    act = {
        ck: _activation_bytes(cfg.hidden_size, cfg.depth, per_gpu * flops["tokens"], ck)
        for ck in (False, True)
    }
    seconds = step_flops / args.gpus / (args.peak_tflops * 1e12 * args.mfu)
    return {
        "preset": args.preset, "config": {k: getattr(cfg, k) for k in ("hidden_size", "depth", "num_heads")},
        "video": [args.frames, args.height, args.width], "latent": [cfg.in_channels, *latent],
        "tokens_per_sample": flops["tokens"], "text_tokens": text_len, "params": params,
        "gflops_forward_per_sample": flops["total"] / 1e9,
        "attention_share": flops["attention"] / flops["total"],
        "tflops_per_step": step_flops / 1e12,
        "gpus": args.gpus, "batch": args.batch, "batch_per_gpu": per_gpu,
        "gib_weights_grads_adam_per_gpu": state / GiB,
        "gib_activations_per_gpu": act[False] / GiB, "gib_activations_checkpointed_per_gpu": act[True] / GiB,
        "gib_total_per_gpu": (state + act[False]) / GiB,
        "gib_total_checkpointed_per_gpu": (state + act[True]) / GiB,
        "seconds_per_step": seconds, "assumed": {"peak_tflops": args.peak_tflops, "mfu": args.mfu},
    }  # fmt: skip


def run(args: argparse.Namespace) -> int:
    _check(args)
    e = estimate(args)
    if args.json:
        print(json.dumps(e, indent=2))
        return 0
    c = e["config"]
    print(f"preset {e['preset']}: hidden {c['hidden_size']}, depth {c['depth']}, heads {c['num_heads']}")
    print(f"parameters          {e['params'] / 1e6:,.1f} M ({e['params']:,})")
    print(
        f"video -> latent     {'x'.join(map(str, e['video']))} (TxHxW) -> {'x'.join(map(str, e['latent']))}"
    )
    print(f"tokens              {e['tokens_per_sample']:,} video + {e['text_tokens']} text per sample")
    print(f"forward             {e['gflops_forward_per_sample']:,.1f} GFLOP per sample "
          f"({100 * e['attention_share']:.0f}% attention)")  # fmt: skip
    print(f"training step       {e['tflops_per_step']:,.2f} TFLOP (batch {e['batch']}, fwd + bwd = 3x fwd)")
    print(f"memory per GPU      ({e['gpus']} GPU(s), FSDP, batch {e['batch_per_gpu']} per GPU)")
    print(f"  weights+grads+AdamW  {e['gib_weights_grads_adam_per_gpu']:8.2f} GiB")
    print(f"  activations          {e['gib_activations_per_gpu']:8.2f} GiB "
          f"({e['gib_activations_checkpointed_per_gpu']:.2f} GiB with activation checkpointing)")  # fmt: skip
    print(f"  total                {e['gib_total_per_gpu']:8.2f} GiB "
          f"({e['gib_total_checkpointed_per_gpu']:.2f} GiB with checkpointing)")  # fmt: skip
    print(f"time per step       {e['seconds_per_step']:.3g} s at {100 * args.mfu:.0f}% MFU of "
          f"{args.peak_tflops:g} TFLOP/s per GPU")  # fmt: skip
    return 0
