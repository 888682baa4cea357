"""The DiT training loop: rectified flow on VAE latents under text conditioning, one code path from one CPU
process to `torchrun` on many GPUs.

Determinism is by construction, not by RNG bookkeeping: sample number g of the run (counted over the global
batch: g = step * global_batch + micro * ranks * batch + rank * batch + i) is a pure function of
(data.seed, g) -- its clip, its caption dropout, its timestep and its noise. So a resumed run sees exactly
the samples it would have seen, and N ranks with batch B/N see exactly what one rank with batch B sees.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cineflow.config import to_dict
from cineflow.diffusion import flow
from cineflow.train import checkpoint as ckpt
from cineflow.train.config import OptimConfig, TrainConfig, dit_config
from cineflow.train.ema import EMA
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


@dataclass
class Batch:
    """One micro-batch on one rank: latents [B, c, t, h, w], captions (already dropped to ""), the
    per-sample timesteps [B, t] (0 on condition frames) and noise [B, c, t, h, w], and loss weights [B, t]
    (0 on condition frames; None when no frame is a condition)."""

    latents: torch.Tensor
    captions: list[str]
    t: torch.Tensor
    noise: torch.Tensor
    frame_weights: torch.Tensor | None = None


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


def sample_seed(seed: int, index: int) -> int:
    """A well-mixed 63-bit seed for sample `index` of a run seeded `seed`."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)


class Batches:
    """Micro-batches by position: `get(step, micro)` on this rank is a pure function of the position."""

    def __init__(
        self, cfg: TrainConfig, world: World, vae: nn.Module, text_encoder, autocast: Callable
    ) -> None:
        self.cfg, self.world, self.autocast = cfg, world, autocast
        self.global_batch = cfg.batch_size * cfg.grad_accum * world.size
        self.patch_size = dit_config(cfg).patch_size
        self.source = _open_source(cfg, vae, text_encoder)

    def indices(self, step: int, micro: int) -> list[int]:
        b, w = self.cfg.batch_size, self.world
        first = step * self.global_batch + micro * w.size * b + w.rank * b
        return list(range(first, first + b))

    def get(self, step: int, micro: int) -> Batch:
        indices = self.indices(step, micro)
        latents, captions = self.source(indices, self.autocast)  # (B, c, t, h, w)
        latents = latents.float().to(self.world.device)
        frames = latents.shape[2]
        shift = self.shift(latents)
        ts, noises, texts, conds = [], [], [], []
        for g, caption in zip(indices, captions, strict=True):
            gen = torch.Generator().manual_seed(sample_seed(self.cfg.data.seed, g))
            drop = torch.rand((), generator=gen).item() < self.cfg.text_dropout
            texts.append("" if drop else caption)
            ts.append(flow.sample_t(1, frames, shift=shift, generator=gen))
            noises.append(torch.randn(latents.shape[1:], generator=gen))
            conds.append(self.condition_prefix(frames, gen))
        t = torch.cat(ts).to(self.world.device)  # (B, t)
        noise = torch.stack(noises).to(self.world.device)  # (B, c, t, h, w)
        if not any(conds):
            return Batch(latents=latents, captions=texts, t=t, noise=noise)
        cond_mask = torch.arange(frames)[None] < torch.tensor(conds)[:, None]  # (B, t)
        t, weights = flow.condition_frames(t, cond_mask.to(self.world.device))
        return Batch(latents=latents, captions=texts, t=t, noise=noise, frame_weights=weights)

    def condition_prefix(self, frames: int, gen: torch.Generator) -> int:
        """How many leading latent frames of a sample are given clean: 0, or with probability cond_prob
        1..frames-1 (1 is image-to-video, more is extending a video)."""
        if self.cfg.cond_prob == 0 or frames < 2:
            return 0  # draws nothing, so runs without conditions keep their sample sequence
        if torch.rand((), generator=gen).item() >= self.cfg.cond_prob:
            return 0
        return int(torch.randint(1, frames, (), generator=gen))

    def shift(self, latents: torch.Tensor) -> float:
        """The timestep shift for this many tokens per sample (the same rule the sampler uses)."""
        pt, ph, pw = self.patch_size
        tokens = (latents.shape[2] // pt) * (latents.shape[3] // ph) * (latents.shape[4] // pw)
        return flow.shift_for_tokens(tokens)


def _open_source(cfg: TrainConfig, vae: nn.Module, text_encoder) -> Callable:
    """A function (indices, autocast) -> (latents [B, c, t, h, w], captions) for `cfg.data.source`.

    Sample g reads item g mod len of a dataset or latent cache, and clip g of the Flatland stream.
    """
    data = cfg.data
    if data.source == "latents":
        return _cached_latents(cfg, vae, text_encoder)
    if data.source == "dataset":
        from cineflow.data.dataset import VideoDataset

        dataset = VideoDataset(
            data.path,
            num_frames=data.num_frames,
            height=data.height,
            width=data.width,
            fps=data.fps,
            seed=data.seed,
        )

        def load(i: int) -> tuple[torch.Tensor, str]:
            return dataset[i % len(dataset)]

    else:
        from cineflow.io import to_tensor
        from cineflow.world.stream import make_clip

        size = {"width": data.width, "height": data.height, "fps": data.fps, "num_frames": data.num_frames}

        def load(i: int) -> tuple[torch.Tensor, str]:
            clip = make_clip(data.seed, i, **size)
            return to_tensor(clip.frames), clip.caption

    def encode(indices: list[int], autocast: Callable) -> tuple[torch.Tensor, list[str]]:
        videos, texts = zip(*(load(i) for i in indices), strict=True)
        video = torch.stack(videos).to(next(vae.parameters()).device)  # (B, 3, T, H, W)
        with torch.no_grad(), autocast():
            # The posterior mean: deterministic per clip, whatever the batch layout.
            return vae.encode(video), list(texts)

    return encode


def _cached_latents(cfg: TrainConfig, vae: nn.Module, text_encoder) -> Callable:
    """Read latents from a `cineflow data cache-latents` folder made with this very VAE."""
    from cineflow.data.cache import LatentCache, cache_key

    cache = LatentCache(cfg.data.path)
    g, d = cache.geometry, cfg.data
    if (g.num_frames, g.height, g.width) != (d.num_frames, d.height, d.width):
        raise ValueError(
            f"data: the cache holds {g.num_frames} frames of {g.width}x{g.height}; set data.num_frames, "
            f"data.width and data.height to match"
        )
    if cache_key(vae, text_encoder, g)["key"] != cache.key:
        raise ValueError(f"data.path: {cfg.data.path} was encoded with another VAE or text encoder (stale)")

    def read(indices: list[int], autocast: Callable) -> tuple[torch.Tensor, list[str]]:
        items = [cache[i % len(cache)] for i in indices]
        return torch.stack([it.latents for it in items]), [it.text for it in items]

    return read


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
        x_t = flow.interpolate(b.latents, b.noise, b.t)  # (B, c, t, h, w)
        last = micro == cfg.grad_accum - 1
        sync = nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with autocast():
                pred = model(x_t, b.t, text, mask, pooled)  # (B, c, t, h, w)
            loss = flow.loss(pred.float(), flow.target(b.latents, b.noise), b.frame_weights)
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
    if world.is_main:
        ckpt.remove_partial(out)
    autocast = _autocast(cfg, world.device)

    # 1. Models, optimizer, EMA, data
    vae, dit, text_encoder = build_models(cfg, world.device)
    ema = EMA(dit, cfg.ema.decay, cfg.ema.warmup)  # before parallelize: the EMA copy stays a plain DiT
    model = parallelize(dit, world, cfg.activation_checkpointing, cfg.parallel)
    opt, sched = make_optimizer(model, cfg)
    batches = Batches(cfg, world, vae, text_encoder, autocast)

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


def _autocast(cfg: TrainConfig, device: torch.device) -> Callable:
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

    def video(self, tag: str, frames: np.ndarray, step: int) -> None:
        if self.enabled:
            # frames as one horizontal strip image: tensorboard videos need moviepy, images do not
            self.tb.add_image(tag, np.concatenate(list(frames), axis=1), step, dataformats="HWC")

    def close(self) -> None:
        if self.enabled:
            self.file.close()
            self.tb.close()
