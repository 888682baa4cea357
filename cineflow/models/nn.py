"""Shared layers of the video DiT: timestep embedding, adaLN modulation, 3D RoPE and attention().

`attention()` is the only place that calls scaled_dot_product_attention, so the kernel choice (the fused
flash path on CPU and GPU) is made once. RoPE uses the "rotate half" layout: the rotary pairs of a head are
(x[j], x[j + d/2]), so rotation is two contiguous slices rather than strided even/odd gathers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of timesteps in [0, 1], scaled by 1000 (the range DiT's frequencies suit).

    t: any shape S, float.  Returns S + (dim,), float32.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * 1000.0)[..., None] * freqs
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class TimestepEmbedder(nn.Module):
    """Timesteps -> vectors: sinusoidal features then a 2-layer MLP (DiT's `t_embedder`)."""

    def __init__(self, hidden_size: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(
            nn.Linear(freq_dim, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
        )

    def forward(self, t: Tensor) -> Tensor:
        """t: [...] in [0, 1] -> [..., hidden_size]."""
        freq = timestep_embedding(t, self.freq_dim).to(self.mlp[0].weight.dtype)
        return self.mlp(freq)


class RMSNorm(nn.Module):
    """RMSNorm whose weight follows the input dtype, so bf16 activations keep the fused kernel."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight.to(x.dtype), self.eps)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """adaLN: x * (1 + scale) + shift, with shift/scale broadcast against x."""
    return torch.addcmul(shift, x, 1 + scale)


# --------------------------------------------------------------------------- 3D RoPE


def rope_axis_dims(head_dim: int) -> tuple[int, int, int]:
    """Split a head's dims across (t, h, w): h and w get equal even shares, t takes the rest (as in Wan)."""
    if head_dim % 2 or head_dim < 6:
        raise ValueError(f"head_dim must be even and >= 6 for 3D RoPE, got {head_dim}")
    hw = 2 * (head_dim // 6)
    return head_dim - 2 * hw, hw, hw


def rope_3d(
    grid: tuple[int, int, int], head_dim: int, device: torch.device, theta: float = 10000.0
) -> Tensor:
    """Rotary angles for a (t, h, w) token grid, positions taken from the grid itself (any size works).

    Returns angles [N, head_dim // 2] float32 with N = t*h*w in t-major order (the order of patchify).
    """
    angles = []
    for n, dim, axis in zip(grid, rope_axis_dims(head_dim), range(3), strict=True):
        freqs = 1.0 / theta ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim)  # (dim/2,)
        pos = torch.arange(n, device=device, dtype=torch.float32)
        shape = [1, 1, 1]
        shape[axis] = n
        a = (pos[:, None] * freqs).view(*shape, dim // 2).expand(*grid, dim // 2)  # (t, h, w, dim/2)
        angles.append(a)
    return torch.cat(angles, dim=-1).reshape(-1, head_dim // 2)


def rope_cos_sin(angles: Tensor) -> tuple[Tensor, Tensor]:
    """angles [N, d/2] -> (cos, signed sin) each [N, d] for the rotate-half layout.

    The sign of the sine is folded in, so a rotation is x * cos + roll(x, d/2) * sin (see apply_rope).
    """
    cos, sin = angles.cos(), angles.sin()
    return torch.cat([cos, cos], -1), torch.cat([-sin, sin], -1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate x [..., d]: pairs (x[j], x[j + d/2]) turn by angle j; cos/sin [.., d] broadcast against x."""
    half = x.shape[-1] // 2
    return torch.addcmul(x * cos, torch.roll(x, half, dims=-1), sin)


# --------------------------------------------------------------------------- attention


def attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """The one attention call of the package.

    q: [B, Nq, H, d], k and v: [B, Nk, H, d], mask: bool [B, Nk] (True = attend) or None.
    Returns [B, Nq, H*d].
    """
    B, Nq, H, d = q.shape
    attn_mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, Nk)
    # SDPA wants heads before tokens; no dropout, so the fused flash kernel is used on CPU.
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask)
    return out.transpose(1, 2).reshape(B, Nq, H * d)
