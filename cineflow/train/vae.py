"""Training the causal video VAE (`cineflow train-vae CONFIG --out DIR`).

Loss = l1_weight·L1 + ssim_weight·(1 - SSIM per frame) + chroma_weight·L1(Cb, Cr) + kl_weight·KL (both L1
terms optionally weighted towards edges and small objects), AdamW, cosine learning rate after a linear
warm-up, bf16 autocast (CPU AMX or CUDA). `freeze_encoder` trains the decoder alone on a fixed latent space.
Clips come from the Flatland stream (clip k of the run is clip k of `stream(seed)`, so a resumed run sees
exactly the clips it would have seen) or from a CSV/JSONL dataset of videos. Checkpoints are atomic folders
(`cineflow.train.checkpoint`); each one also exports the model as `DIR/vae/` (config.json + safetensors,
with the latent scale and shift measured on held-out clips, or, with a frozen encoder, those of
`init_from`), which is what `load_vae` reads.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cineflow.config import VAEConfig, apply_overrides, from_dict, load_yaml, to_dict
from cineflow.models.vae import VideoVAE, check_video_size, decoder_size, load_vae, save_vae
from cineflow.train import checkpoint
from cineflow.train.losses import kl_divergence, ssim

SOURCES = ("flatland", "dataset")
STATS_SEED_OFFSET = 1_000_003  # latent statistics come from clips the run never trains on


@dataclass(frozen=True)
class VAEDataConfig:
    """Where clips come from. Flatland: an endless seeded stream; dataset: a CSV/JSONL of `path,text` rows."""

    source: str = "flatland"
    path: str | None = None  # the dataset file (source: dataset)
    seed: int = 0
    width: int = 64
    height: int = 64
    num_frames: int = 17
    fps: int = 8


@dataclass(frozen=True)
class VAETrainConfig:
    vae: VAEConfig = field(default_factory=VAEConfig)
    data: VAEDataConfig = field(default_factory=VAEDataConfig)
    init_from: str | None = None  # a VAE folder to fine-tune from (config.json + safetensors)
    # Train the decoder alone: the encoder and the latent scale/shift of `init_from` stay bit-identical, so
    # a DiT trained on its latents keeps working. The decoder learns to decode the posterior mean.
    freeze_encoder: bool = False
    batch_size: int = 8
    # Train on random crops (the model is convolutional and causal, so crops teach it the same thing at a
    # fraction of the cost); None = whole clips. crop_frames must be 1 + k·temporal_down.
    crop_frames: int | None = None
    crop_size: int | None = None  # square crop side in pixels, a multiple of spatial_down
    max_steps: int = 2000
    lr: float = 5e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1  # the cosine ends at lr * min_lr_ratio
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    l1_weight: float = 1.0
    ssim_weight: float = 0.2
    chroma_weight: float = 0.0  # L1 on the colour-difference channels (BT.601 Cb, Cr): hue errors count more
    # Both L1 terms weigh each pixel by 1 + detail_weight·(the target's local contrast), then renormalise:
    # flat background dominates a plain L1, while object edges, corners and small objects decide what an
    # observer (or the Flatland oracle) reads.
    detail_weight: float = 0.0
    kl_weight: float = 1e-6  # small: the KL only keeps the latent bounded and smooth
    precision: str = "bf16"  # bf16 | fp32
    # CPU threads (None: torch's default). On a shared machine 1 is faster: idle OpenMP threads spin-wait
    # on a core that a neighbour holds (measured: about 2.5 s of CPU per step with 2 threads, 0.22 s with 1).
    threads: int | None = None
    log_every: int = 10
    ckpt_every: int = 100
    keep_last: int = 2
    stats_clips: int = 32  # clips encoded to measure the latent scale and shift


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> VAETrainConfig:
    """Read a YAML config, apply `key=value` overrides, validate."""
    cfg = from_dict(VAETrainConfig, apply_overrides(load_yaml(path), overrides or []))
    if cfg.data.source not in SOURCES:
        raise ValueError(f"data.source: one of {', '.join(SOURCES)}, got {cfg.data.source!r}")
    if cfg.data.source == "dataset" and not cfg.data.path:
        raise ValueError("data.path: a dataset file (.csv or .jsonl) is needed when data.source is 'dataset'")
    if cfg.freeze_encoder and cfg.init_from is None:
        raise ValueError("freeze_encoder: needs init_from, the VAE whose encoder and latent space are kept")
    for name in ("chroma_weight", "detail_weight"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name}: must be >= 0, got {getattr(cfg, name)}")
    if cfg.precision not in ("bf16", "fp32"):
        raise ValueError(f"precision: bf16 or fp32, got {cfg.precision!r}")
    for name in ("batch_size", "max_steps", "log_every", "ckpt_every", "keep_last", "stats_clips"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name}: must be >= 1, got {getattr(cfg, name)}")
    check_video_size(cfg.vae, cfg.data.num_frames, cfg.data.height, cfg.data.width)
    frames = cfg.crop_frames or cfg.data.num_frames
    size = cfg.crop_size or min(cfg.data.height, cfg.data.width)
    check_video_size(cfg.vae, frames, size, size)
    if frames > cfg.data.num_frames or size > min(cfg.data.height, cfg.data.width):
        raise ValueError(f"crop_frames/crop_size: {frames}x{size}x{size} does not fit in the clips")
    return cfg


# 1. Data ----------------------------------------------------------------------------------------------------


def clip_source(data: VAEDataConfig, start: int) -> Iterator[np.ndarray]:
    """Clips uint8 [T, H, W, 3] number start, start + 1, ... of the run (endless)."""
    if data.source == "flatland":
        from cineflow.world.stream import stream

        geometry = {
            "width": data.width,
            "height": data.height,
            "num_frames": data.num_frames,
            "fps": data.fps,
        }
        return (clip.frames for clip in stream(data.seed, start=start, **geometry))
    return _dataset_clips(data, start)


def _dataset_clips(data: VAEDataConfig, start: int) -> Iterator[np.ndarray]:
    """Dataset rows decoded once (first `num_frames` frames at `fps`, resized and centre-cropped), then
    visited in a fresh seeded order each epoch. Unreadable or too-short videos are skipped and counted."""
    from cineflow import io
    from cineflow.data.table import read_table

    table = read_table(data.path)
    clips, skipped = [], []
    for row in table.rows:
        try:
            video = io.read_video(
                row.resolve(table.root),
                fps=data.fps,
                size=(data.height, data.width),
                max_frames=data.num_frames,
            )
        except (ValueError, OSError) as e:
            skipped.append(f"row {row.index} ({row.path}): {e}")
            continue
        if len(video.frames) < data.num_frames:
            skipped.append(f"row {row.index} ({row.path}): {len(video.frames)} frames < {data.num_frames}")
            continue
        clips.append(video.frames)
    for line in skipped:
        print(f"skipped {line}")
    if not clips:
        raise ValueError(
            f"data.path: no usable clip in {data.path} ({len(skipped) + len(table.bad)} skipped)"
        )
    print(f"dataset: {len(clips)} clips, {len(skipped) + len(table.bad)} rows skipped")
    index = start
    while True:
        epoch, pos = divmod(index, len(clips))
        order = np.random.default_rng([data.seed, epoch]).permutation(len(clips))
        yield clips[order[pos]]
        index += 1


def random_crops(clips: list[np.ndarray], cfg: VAETrainConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """Each uint8 [T, H, W, 3] clip cut to [crop_frames, crop_size, crop_size, 3] at a random place."""
    out = []
    for clip in clips:
        T, H, W, _ = clip.shape
        t, h, w = cfg.crop_frames or T, cfg.crop_size or H, cfg.crop_size or W
        t0, y0, x0 = (int(rng.integers(0, n - k + 1)) for n, k in ((T, t), (H, h), (W, w)))
        out.append(clip[t0 : t0 + t, y0 : y0 + h, x0 : x0 + w])
    return out


def to_batch(clips: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """list of uint8 [T, H, W, 3] -> float [B, 3, T, H, W] in [-1, 1]."""
    x = torch.from_numpy(np.stack(clips)).to(device).permute(0, 4, 1, 2, 3).float()
    return x / 127.5 - 1.0


# 2. One step ------------------------------------------------------------------------------------------------


def lr_at(cfg: VAETrainConfig, step: int) -> float:
    """Linear warm-up for `warmup_steps`, then cosine from lr down to lr·min_lr_ratio at max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min((step - cfg.warmup_steps) / max(cfg.max_steps - cfg.warmup_steps, 1), 1.0)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def chroma(x: torch.Tensor) -> torch.Tensor:
    """RGB [B, 3, ...] -> BT.601 colour differences (Cb, Cr) [B, 2, ...]: hue and saturation without luma."""
    r, g, b = x.unbind(1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return torch.stack([0.564 * (b - y), 0.713 * (r - y)], dim=1)


def detail_weights(x: torch.Tensor, strength: float) -> torch.Tensor:
    """x [B, 3, T, H, W] -> per-pixel loss weights [B, 1, T, H, W] with mean 1.

    The weight grows with the pixel's distance from the mean of its 7x7 neighbourhood: ~1 on flat
    background, ~1 + strength on edges, corners and whole small objects.
    """
    local_mean = F.avg_pool3d(x, (1, 7, 7), stride=1, padding=(0, 3, 3), count_include_pad=False)
    w = 1 + strength * (x - local_mean).abs().mean(dim=1, keepdim=True)  # (B, 1, T, H, W)
    return w / w.mean()


def reconstruct(
    vae: VideoVAE, x: torch.Tensor, cfg: VAETrainConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """x [B, 3, T, H, W] -> (reconstruction [B, 3, T, H, W], KL).

    With `freeze_encoder` the decoder sees the posterior mean, computed in fp32 without a graph, as the
    latent cache of a DiT is; the KL is then a constant and left out.
    """
    if cfg.freeze_encoder:
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            mean = vae.encoder(x).chunk(2, dim=1)[0]  # (B, c, t, h, w)
        return vae.decoder(mean), torch.zeros((), device=x.device)
    recon, mean, logvar = vae(x, generator)  # (B, 3, T, H, W), (B, c, t, h, w) x 2
    return recon, kl_divergence(mean, logvar)


def train_step(
    vae: VideoVAE,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    cfg: VAETrainConfig,
    generator: torch.Generator,
) -> dict[str, float]:
    """One optimisation step on x [B, 3, T, H, W] in [-1, 1]; returns the loss terms."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
        recon, kl = reconstruct(vae, x, cfg, generator)
    recon = recon.float()
    w = detail_weights(x, cfg.detail_weight) if cfg.detail_weight > 0 else 1.0
    l1 = (w * (recon - x).abs()).mean()
    l1_chroma = (w * (chroma(recon) - chroma(x)).abs()).mean()
    s = ssim((recon + 1) / 2, (x + 1) / 2)
    loss = cfg.l1_weight * l1 + cfg.ssim_weight * (1 - s) + cfg.chroma_weight * l1_chroma + cfg.kl_weight * kl
    opt.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for group in opt.param_groups for p in group["params"]]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
    opt.step()
    return {
        "loss": loss.item(),
        "l1": l1.item(),
        "chroma": l1_chroma.item(),
        "ssim": s.item(),
        "kl": kl.item(),
        "grad_norm": grad_norm.item(),
    }


# 3. Latent statistics and export ----------------------------------------------------------------------------


@torch.no_grad()
def latent_stats(
    vae: VideoVAE, data: VAEDataConfig, num_clips: int, device: torch.device
) -> tuple[float, float]:
    """(scale, shift) so that (mean - shift) * scale has zero mean and unit variance on held-out clips."""
    held_out = dataclasses.replace(data, seed=data.seed + STATS_SEED_OFFSET)
    clips = clip_source(held_out, start=0)
    means = []
    for _ in range(0, num_clips, 8):
        x = to_batch([next(clips) for _ in range(8)], device)
        means.append(vae.encoder(x).chunk(2, dim=1)[0].float())
    z = torch.cat(means)
    return 1.0 / z.std().item(), z.mean().item()


def export(vae: VideoVAE, cfg: VAETrainConfig, folder: Path, device: torch.device) -> VAEConfig:
    """Save the model as a `load_vae` folder, with the latent scale/shift measured now (or, with a frozen
    encoder, the ones it came with: the latent space must not move); returns its config."""
    if not cfg.freeze_encoder:
        was_training = vae.training
        vae.eval()
        scale, shift = latent_stats(vae, cfg.data, cfg.stats_clips, device)
        vae.train(was_training)
        vae.cfg = dataclasses.replace(vae.cfg, scale=scale, shift=shift)
    save_vae(vae, folder)
    return vae.cfg


# 4. The loop ------------------------------------------------------------------------------------------------


def train_vae(
    cfg: VAETrainConfig, out: str | Path, resume: bool = False, log: Callable[[str], None] = print
) -> Path:
    """Train until cfg.max_steps, checkpointing into `out`; returns the exported VAE folder `out/vae`."""
    out = Path(out)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    checkpoint.remove_partial(out)
    latest = checkpoint.latest_checkpoint(out)
    if latest is not None and not resume:
        raise ValueError(f"--out: {out} already holds checkpoints; pass --resume or choose another folder")
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.data.seed)
    vae = initial_model(cfg, log).to(device).train()
    if cfg.freeze_encoder:
        vae.encoder.requires_grad_(False)
    params = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    step = 0
    if resume and latest is not None:
        state = checkpoint.load_checkpoint(latest)
        vae.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
        log(f"resumed from {latest} at step {step}")
    config_dict = to_dict(cfg)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config_dict, indent=2))
    clips = clip_source(cfg.data, start=step * cfg.batch_size)
    metrics_file = open(out / "metrics.jsonl", "a")  # noqa: SIM115 (open for the whole run)
    t_last = time.perf_counter()
    try:
        while step < cfg.max_steps:
            # 1. Batch and learning rate (crops and noise are functions of (seed, step): resumable)
            rng = np.random.default_rng([cfg.data.seed, step])
            x = to_batch(random_crops([next(clips) for _ in range(cfg.batch_size)], cfg, rng), device)
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, step)
            generator = torch.Generator(device).manual_seed(cfg.data.seed * 1_000_003 + step)
            # 2. Optimisation step
            stats = train_step(vae, opt, x, cfg, generator)
            step += 1
            # 3. Logs and checkpoints
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                now = time.perf_counter()
                record = {"step": step, "lr": lr_at(cfg, step - 1), **stats}
                record["s_per_step"] = (now - t_last) / cfg.log_every
                t_last = now
                metrics_file.write(json.dumps(record) + "\n")
                metrics_file.flush()
                log(
                    " ".join(
                        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
                    )
                )
            if step % cfg.ckpt_every == 0 or step == cfg.max_steps:
                state: dict[str, Any] = {
                    "model": vae.state_dict(),
                    "optimizer": opt.state_dict(),
                    "step": step,
                }
                checkpoint.save_checkpoint(out, step, state, config_dict, cfg.keep_last)
                exported = export(vae, cfg, out / "vae", device)
                log(f"checkpoint step {step}: latent scale={exported.scale:.4f} shift={exported.shift:.4f}")
    finally:
        metrics_file.close()
    return out / "vae"


def initial_model(cfg: VAETrainConfig, log: Callable[[str], None] = print) -> VideoVAE:
    """A fresh model, or one started from `init_from`.

    The encoder must match `init_from`'s; so must the decoder, unless `vae` resizes it (decoder_base_channels,
    decoder_res_blocks): then every old decoder tensor whose name and shape still fit is copied and the rest
    keep their fresh initialisation (added residual blocks start as the identity, so a deeper decoder starts
    as the old one). With `freeze_encoder`, the latent scale and shift are `init_from`'s.
    """
    if cfg.init_from is None:
        return VideoVAE(cfg.vae)
    base = load_vae(cfg.init_from)
    decoder_free = {"scale": 1.0, "shift": 0.0, "decoder_base_channels": None, "decoder_res_blocks": None}
    if dataclasses.replace(base.cfg, **decoder_free) != dataclasses.replace(cfg.vae, **decoder_free):
        raise ValueError(
            f"init_from: {cfg.init_from} has config {base.cfg}, whose encoder differs from vae: {cfg.vae}"
        )
    arch = cfg.vae
    if cfg.freeze_encoder:
        arch = dataclasses.replace(arch, scale=base.cfg.scale, shift=base.cfg.shift)
    vae = VideoVAE(arch)
    if decoder_size(base.cfg) == decoder_size(arch):
        vae.load_state_dict(base.state_dict())
        return vae
    new = vae.state_dict()
    kept = {k: v for k, v in base.state_dict().items() if k in new and new[k].shape == v.shape}
    vae.load_state_dict(kept, strict=False)
    fresh = sum(k.startswith("decoder.") for k in new) - sum(k.startswith("decoder.") for k in kept)
    log(f"init_from: decoder resized; {fresh} decoder tensors start fresh, the rest from {cfg.init_from}")
    return vae
