"""Exponential moving average of model weights, with a warmed-up decay.

With a fixed decay d the EMA after n updates still holds d**n of its initial weights: 0.999 over 600
steps leaves 55% of the random init, and its samples are noise (MEASURED.md). The warm-up decay
min(d, (1 + n) / (10 + n)) starts near 0.1 and reaches 0.999 only after ~9,000 updates, so the EMA tracks
the model early and averages late.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from cineflow.train.parallel import full_tensor


def ema_decay(num_updates: int, decay: float, warmup: bool) -> float:
    """The decay used for update number `num_updates` (0-based)."""
    if not warmup:
        return decay
    return min(decay, (1.0 + num_updates) / (10.0 + num_updates))


class EMA:
    """A detached fp32 copy of a model's parameters and buffers, updated in place."""

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.warmup = warmup
        self.num_updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = ema_decay(self.num_updates, self.decay, self.warmup)
        ema_params = list(self.model.parameters())
        # under FSDP the model's parameters are shards: gather each whole (the EMA copy is not sharded)
        params = [full_tensor(p.detach()) for p in model.parameters()]
        # one fused call over all tensors: ema = d * ema + (1 - d) * p
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        for ema_buf, buf in zip(self.model.buffers(), model.buffers(), strict=True):
            ema_buf.copy_(buf)
        self.num_updates += 1

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "num_updates": self.num_updates}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.num_updates = int(state["num_updates"])
