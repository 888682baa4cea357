"""Training batches: sample number g of a run is a pure function of (data.seed, g).

Its clip (item g mod len of a dataset or latent cache, clip g of the Flatland stream), its caption dropout,
its timestep, its noise and its clean condition prefix all come from a generator seeded by
`sample_seed(data.seed, g)`, so a resumed run, a run on N ranks and a held-out evaluation all see exactly the
samples they are meant to. `batch_loss` is the flow loss of one batch, for training and evaluation alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cineflow.diffusion import flow
from cineflow.train.config import TrainConfig, dit_config
from cineflow.train.parallel import World


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


def batch_loss(
    model: nn.Module,
    b: Batch,
    text: torch.Tensor,
    mask: torch.Tensor,
    pooled: torch.Tensor,
    autocast: Callable,
) -> torch.Tensor:
    """The flow loss of one batch: text [B, L, D], mask [B, L], pooled [B, D] are its captions encoded."""
    x_t = flow.interpolate(b.latents, b.noise, b.t)  # (B, c, t, h, w)
    with autocast():
        pred = model(x_t, b.t, text, mask, pooled)  # (B, c, t, h, w)
    return flow.loss(pred.float(), flow.target(b.latents, b.noise), b.frame_weights)
