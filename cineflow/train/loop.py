"""The DiT training loop: rectified flow on VAE latents under text conditioning, one code path from one CPU
process to `torchrun` on many GPUs.

Determinism is by construction, not by RNG bookkeeping: sample number g of the run (counted over the global
batch: g = step * global_batch + micro * ranks * batch + rank * batch + i) is a pure function of
(data.seed, g) (`cineflow.train.batches`). So a resumed run sees exactly the samples it would have seen,
and N ranks with batch B/N see exactly what one rank with batch B sees.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cineflow.config import to_dict
from cineflow.train import checkpoint as ckpt
from cineflow.train.batches import Batches, batch_loss
from cineflow.train.config import OptimConfig, TrainConfig, dit_config
from cineflow.train.ema import EMA
from cineflow.train.heldout import HeldoutLoss
from cineflow.train.parallel import (
    World,
    barrier,
    full_state,
    full_tensor,
    load_full_state,
    mean_across,
    parallelize,
    unwrap,
)

METRICS_FILE = "metrics.jsonl"


# ---------------------------------------------------------------------- models


def build_models(cfg: TrainConfig, device: torch.device) -> tuple[nn.Module, nn.Module, Any]:
    """(vae, dit, text_encoder): the VAE and text encoder frozen, the DiT seeded by `cfg.seed`."""
    from cineflow.models.dit import VideoDiT
    from cineflow.models.text import load_text_encoder
    from cineflow.models.vae import VideoVAE, load_vae

    if cfg.vae == "random":
        torch.manual_seed(cfg.seed + 1)
        vae = VideoVAE(cfg.vae_config)
    else:
        vae = load_vae(None if cfg.vae == "default" else cfg.vae)
    dit_cfg = dit_config(cfg)
    if dit_cfg.in_channels != vae.cfg.latent_channels:
        raise ValueError(
            f"dit.in_channels ({dit_cfg.in_channels}) must equal the VAE's latent_channels "
            f"({vae.cfg.latent_channels})"
        )
    d, (pt, ph, pw) = cfg.data, dit_cfg.patch_size
    multiple = vae.cfg.spatial_down * max(ph, pw)
    if d.height % multiple or d.width % multiple:
        raise ValueError(
            f"data.width/height: must be multiples of {multiple} (VAE {vae.cfg.spatial_down}x x DiT patch), "
            f"got {d.width}x{d.height}"
        )
    if (d.num_frames - 1) % (vae.cfg.temporal_down * pt):
        raise ValueError(f"data.num_frames: must be 1 + {vae.cfg.temporal_down * pt}k, got {d.num_frames}")
    torch.manual_seed(cfg.seed)
    dit = VideoDiT(dit_cfg)
    if cfg.init_from is not None:
        from cineflow.pipeline import WEIGHTS, load_weights

        load_weights(dit, Path(cfg.init_from) / "transformer" / WEIGHTS)
    text_encoder = load_text_encoder(cfg.text).to(device)
    return vae.to(device).eval().requires_grad_(False), dit.to(device), text_encoder


# ---------------------------------------------------------------------- data
# ---------------------------------------------------------------------- one step


def train_step(
    model: nn.Module, text_encoder, opt, sched, batches: Batches, step: int, cfg: TrainConfig, autocast
) -> dict[str, float]:
    """One optimizer step over `grad_accum` micro-batches; returns the global-batch loss and grad norm."""
    total = torch.zeros((), device=batches.world.device)
    for micro in range(cfg.grad_accum):
        b = batches.get(step, micro)
        emb = text_encoder.encode(b.captions)
        text, mask, pooled = (x.to(b.latents.device) for x in (emb.tokens, emb.mask, emb.pooled))
        last = micro == cfg.grad_accum - 1
        sync = nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            loss = batch_loss(model, b, text, mask, pooled, autocast)
            (loss / cfg.grad_accum).backward()
        total += loss.detach() / cfg.grad_accum
    clip = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return {"loss": float(mean_across(total, batches.world)), "grad_norm": float(full_tensor(grad_norm))}


# ---------------------------------------------------------------------- the run


def lr_factor(step: int, o: OptimConfig) -> float:
    """The learning rate of optimizer step `step` (0-based) as a fraction of `o.lr`: warm-up, stable, decay.

    Linear warm-up over `warmup_steps`; then 1; from `decay_start` a linear fall to `min_lr_ratio` over
    `decay_steps` steps, which then holds.
    """
    factor = min(1.0, (step + 1) / max(1, o.warmup_steps))
    if o.decay_start is not None and step >= o.decay_start:
        done = min(1.0, (step - o.decay_start) / o.decay_steps)
        factor *= 1.0 - (1.0 - o.min_lr_ratio) * done
    return factor


def make_optimizer(model: nn.Module, cfg: TrainConfig):
    o = cfg.optim
    opt = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, o))
    return opt, sched


def train(cfg: TrainConfig, out: str | Path, world: World, resume: bool = False) -> Path:
    """Run `cfg` into `out`; returns the final model folder `out/model`."""
    out = Path(out)
    config_data = {**to_dict(cfg), "dit": to_dict(dit_config(cfg))}
    _check_out_dir(out, resume)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    if world.is_main:
        ckpt.remove_partial(out)
    autocast = autocast_for(cfg, world.device)

    # 1. Models, optimizer, EMA, data
    vae, dit, text_encoder = build_models(cfg, world.device)
    ema = EMA(dit, cfg.ema.decay, cfg.ema.warmup)  # before parallelize: the EMA copy stays a plain DiT
    model = parallelize(dit, world, cfg.activation_checkpointing, cfg.parallel)
    opt, sched = make_optimizer(model, cfg)
    batches = Batches(cfg, world, vae, text_encoder, autocast)
    evaluate = cfg.heldout.every and world.is_main
    heldout = HeldoutLoss(cfg, world, vae, text_encoder, autocast) if evaluate else None

    # 2. Resume from the latest complete checkpoint
    start = _resume(out, model, ema, opt, sched, world) if resume else 0

    # 3. Loop
    logger = _Logger(out, world.is_main)
    model.train()
    tick = time.perf_counter()
    for step in range(start, cfg.max_steps):
        stats = train_step(model, text_encoder, opt, sched, batches, step, cfg, autocast)
        done = step + 1
        if not math.isfinite(stats["loss"]):  # stop before a NaN reaches the EMA or a checkpoint
            raise FloatingPointError(f"step {done}: loss is {stats['loss']}; resume from the last checkpoint")
        if done % cfg.ema.every == 0:
            ema.update(unwrap(model))
        if heldout is not None and (done % cfg.heldout.every == 0 or done == cfg.max_steps):
            began = time.perf_counter()
            stats.update(heldout(ema.model))
            tick += time.perf_counter() - began  # s_per_step counts training alone
        if done % cfg.log_every == 0 or done == cfg.max_steps:
            elapsed, tick = time.perf_counter() - tick, time.perf_counter()
            n = done % cfg.log_every or cfg.log_every
            stats["lr"] = sched.get_last_lr()[0]
            stats["s_per_step"] = elapsed / n
        logger.log(done, stats)
        if cfg.sample_every and done % cfg.sample_every == 0 and done != cfg.max_steps:
            _write_samples(out, done, ema.model, vae, text_encoder, cfg, world, logger)
        if done % cfg.checkpoint_every == 0 or done == cfg.max_steps:
            model_state, opt_state = full_state(model, opt)  # under FSDP a gather on every rank
            if world.is_main:
                state = {
                    "step": done,
                    "model": model_state,
                    "ema": ema.state_dict(),
                    "optimizer": opt_state,
                    "scheduler": sched.state_dict(),
                    "rng": ckpt.rng_state(),
                    "data": {"seed": cfg.data.seed, "next_sample": done * batches.global_batch},
                }
                ckpt.save_checkpoint(out, done, state, config_data, cfg.keep_last)
            barrier(world)

    # 4. The final EMA model as a model folder, and its samples
    final = out / "model"
    if world.is_main:
        save_model(final, ema.model, vae, text_encoder, cfg)
        _write_samples(out, cfg.max_steps, ema.model, vae, text_encoder, cfg, world, logger)
    logger.close()
    barrier(world)
    return final


# ---------------------------------------------------------------------- helpers


def _resume(out: Path, model: nn.Module, ema: EMA, opt, sched, world: World) -> int:
    """Load the latest complete checkpoint into the run's objects; returns its step (0 when none)."""
    latest = ckpt.latest_checkpoint(out)
    if latest is None:
        return 0
    state = ckpt.load_checkpoint(latest)
    try:
        load_full_state(model, opt, state["model"], state["optimizer"])
        ema.load_state_dict(state["ema"])
    except (RuntimeError, KeyError) as e:  # a config changed between runs: say so, not a traceback
        raise ValueError(f"--resume: {latest} does not fit this config's model: {e}") from e
    sched.load_state_dict(state["scheduler"])
    ckpt.set_rng_state(state["rng"])
    start = int(state["step"])
    if world.is_main:
        _truncate_metrics(out / METRICS_FILE, start)
        print(f"resumed from {latest} at step {start}", flush=True)
    return start


def _check_out_dir(out: Path, resume: bool) -> None:
    if not resume and ckpt.list_checkpoints(out):
        raise ValueError(
            f"--out {out}: holds checkpoints already; pass --resume to continue, or a new folder"
        )


def autocast_for(cfg: TrainConfig, device: torch.device) -> Callable:
    """A factory of the run's autocast context: bf16 on `device`, or a no-op for fp32."""
    if cfg.precision == "fp32":
        return nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def save_model(folder: str | Path, dit: nn.Module, vae: nn.Module, text_encoder, cfg: TrainConfig) -> Path:
    """Write `dit` with the run's VAE and text encoder as a model folder (atomically: temp folder + rename).

    The one writer of a run's model folder: the end of `train` (EMA weights) and `cineflow export` (a
    checkpoint's EMA or raw weights) both come here, so the two folders cannot drift apart.
    """
    _pipeline(dit, vae, text_encoder, cfg).save_pretrained(folder)
    return Path(folder)


def _pipeline(dit: nn.Module, vae: nn.Module, text_encoder, cfg: TrainConfig):
    """The run's models as a Pipeline, with the data geometry and sample settings as its defaults."""
    from cineflow.pipeline import Pipeline, PipelineConfig

    d = cfg.data
    defaults = PipelineConfig(
        fps=d.fps,
        num_frames=d.num_frames,
        height=d.height,
        width=d.width,
        num_inference_steps=cfg.sample_steps,
        guidance_scale=cfg.sample_guidance,
    )
    return Pipeline(vae, dit, text_encoder, defaults)


def _write_samples(out, step, dit, vae, text_encoder, cfg, world, logger) -> None:
    """Videos from the EMA model for `cfg.sample_prompts` (rank 0), as mp4 and in tensorboard."""
    if not world.is_main or not cfg.sample_prompts:
        return
    pipe = _pipeline(dit, vae, text_encoder, cfg)
    folder = out / "samples" / f"step_{step:06d}"
    folder.mkdir(parents=True, exist_ok=True)
    for i, prompt in enumerate(cfg.sample_prompts):
        result = pipe(prompt, seed=i, progress=False)
        result.save(folder / f"{i:02d}.mp4")
        logger.video(f"samples/{i:02d}", result.frames, step)
    dit.eval()


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop metric lines past `step` (written by a run killed after its last checkpoint)."""
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    os.replace(tmp, path)


class _Logger:
    """Per-step metrics to `metrics.jsonl` and tensorboard, rank 0 only; a line to stdout every log step."""

    def __init__(self, out: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.file = None
        self.tb = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            out.mkdir(parents=True, exist_ok=True)
            self.file = open(out / METRICS_FILE, "a")  # noqa: SIM115 (kept open for the whole run)
            self.tb = SummaryWriter(str(out / "tb"))

    def log(self, step: int, stats: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.file.write(json.dumps({"step": step, **stats}) + "\n")
        self.file.flush()
        for key, value in stats.items():
            self.tb.add_scalar(f"train/{key}", value, step)
        if "s_per_step" in stats:
            print(
                f"step {step}  loss {stats['loss']:.4f}  grad {stats['grad_norm']:.3f}  "
                f"lr {stats['lr']:.2e}  {stats['s_per_step']:.3f} s/step",
                flush=True,
            )
        if "heldout_loss" in stats:
            held, seen = stats["heldout_loss"], stats["seen_loss"]
            print(f"step {step}  heldout_loss {held:.4f}  seen_loss {seen:.4f}", flush=True)

    def video(self, tag: str, frames: np.ndarray, step: int) -> None:
        if self.enabled:
            # frames as one horizontal strip image: tensorboard videos need moviepy, images do not
            self.tb.add_image(tag, np.concatenate(list(frames), axis=1), step, dataformats="HWC")

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.tb.close()
