"""The held-out loss: whether a run learns Flatland or memorises its clips.

A training loss falls either way. The same flow loss on clips the run never trains on (`heldout_loss`)
falls only with what generalises; on the run's own first clips (`seen_loss`) it falls with both; the gap
between the two is what memorising is worth. Both sets are fixed when the run starts: their clips,
captions (never dropped), timesteps and noise come from `cineflow.train.batches` (sample g of stream s is a
pure function of (s, g)), so every evaluation measures the same thing and the curve compares steps, not
batches. The EMA weights, which become the model folder, are the ones measured.

Nothing here draws from the run's random streams, so a run with `heldout.every` set trains bit-identically
to one without.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import nn

from cineflow.train.batches import Batch, Batches, batch_loss
from cineflow.train.config import TrainConfig
from cineflow.train.parallel import World

Encoded = tuple[Batch, torch.Tensor, torch.Tensor, torch.Tensor]  # a batch and its text, mask, pooled


class HeldoutLoss:
    """`HeldoutLoss(cfg, world, vae, text_encoder, autocast)(model)` -> {"heldout_loss", "seen_loss"}."""

    def __init__(
        self, cfg: TrainConfig, world: World, vae: nn.Module, text_encoder, autocast: Callable
    ) -> None:
        h = cfg.heldout
        # One process reads the run's global batches in micro-batches of `batch_size`: the same clips for
        # any number of ranks and accumulation steps.
        seen = replace(cfg, text_dropout=0.0, cond_prob=0.0, grad_accum=cfg.grad_accum * world.size)
        held = replace(seen, data=replace(cfg.data, source=h.source, path=h.path, seed=h.seed))
        self.autocast = autocast
        self.sets = {
            "heldout_loss": _fixed(held, world.device, vae, text_encoder, autocast),
            "seen_loss": _fixed(seen, world.device, vae, text_encoder, autocast),
        }

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> dict[str, float]:
        out = {}
        for name, batches in self.sets.items():
            losses = [batch_loss(model, b, *text, self.autocast) for b, *text in batches]
            out[name] = float(torch.stack(losses).mean())
        return out


def _fixed(cfg: TrainConfig, device: torch.device, vae: nn.Module, text_encoder, autocast) -> list[Encoded]:
    """The micro-batches of the first `cfg.heldout.batches` global batches of `cfg.data` in one process,
    captions encoded once."""
    batches = Batches(cfg, World(rank=0, size=1, local_rank=0, device=device), vae, text_encoder, autocast)
    out = []
    for step in range(cfg.heldout.batches):
        for micro in range(cfg.grad_accum):
            b = batches.get(step, micro)
            emb = text_encoder.encode(b.captions)
            out.append((b, *(x.to(device) for x in (emb.tokens, emb.mask, emb.pooled))))
    return out
