"""Rectified flow: the one home of the training equations.

    x_t = (1 - t) * x0 + t * noise        t in [0, 1], 1 = pure noise, one t per latent frame
    v   = noise - x0                      the velocity the model predicts
    loss = frame-weighted MSE(v_pred, v)  condition frames (fed clean, t = 0) get weight 0

Timesteps are logit-normal (SD3) and shifted toward noise as the token count grows (SD3 section 5.3.2,
Open-Sora 2.0): more tokens carry more redundant signal, so the same t destroys less information.
`shift_t` and `shift_for_tokens` are used by the samplers too, so training and inference see one schedule.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def shift_t(t: Tensor, shift: float) -> Tensor:
    """Warp t toward 1 (noise) by `shift` >= 1: t' = s t / (1 + (s - 1) t); shift 1 is the identity."""
    if shift <= 0:
        raise ValueError(f"shift must be > 0, got {shift}")
    return shift * t / (1 + (shift - 1) * t)


def shift_for_tokens(num_tokens: int, base_tokens: int = 256) -> float:
    """SD3's resolution shift sqrt(tokens / base), never below 1 (`base_tokens` tokens: no shift).

    num_tokens counts spacetime tokens of one sample (latent t*h*w / patch volume), so both size and
    duration push the schedule toward noise.
    """
    if num_tokens < 1 or base_tokens < 1:
        raise ValueError(f"num_tokens and base_tokens must be >= 1, got {num_tokens}, {base_tokens}")
    return max(1.0, math.sqrt(num_tokens / base_tokens))


def sample_t(
    batch: int,
    num_frames: int,
    *,
    shift: float = 1.0,
    mean: float = 0.0,
    std: float = 1.0,
    per_frame: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Training timesteps [batch, num_frames]: logit-normal(mean, std), then shifted.

    per_frame=False gives every latent frame of a sample the same t (standard text-to-video);
    per_frame=True draws one t per frame (diffusion-forcing style noise levels).
    """
    shape = (batch, num_frames if per_frame else 1)
    u = torch.randn(shape, generator=generator, device=device) * std + mean
    t = shift_t(torch.sigmoid(u), shift)
    return t.expand(batch, num_frames).contiguous()


def _per_frame(t: Tensor, x: Tensor) -> Tensor:
    """t [B] or [B, t] -> [B, 1, t or 1, 1, 1] broadcastable against x [B, c, t, h, w]."""
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2 or t.shape[0] != x.shape[0] or t.shape[1] not in (1, x.shape[2]):
        raise ValueError(f"t must be [B] or [B, t] for x {tuple(x.shape)}, got {tuple(t.shape)}")
    return t[:, None, :, None, None].to(x.dtype)


def interpolate(x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
    """x_t = (1 - t) x0 + t noise. x0, noise: [B, c, t, h, w]; t: [B] or [B, t] (per latent frame)."""
    tt = _per_frame(t, x0)
    return torch.lerp(x0, noise, tt)


def target(x0: Tensor, noise: Tensor) -> Tensor:
    """The velocity d x_t / dt = noise - x0."""
    return noise - x0


def loss(pred: Tensor, target: Tensor, frame_weights: Tensor | None = None) -> Tensor:
    """MSE over [B, c, t, h, w], averaged per latent frame, then a weighted mean over frames.

    frame_weights [B, t] (0 for condition frames) or None (all 1). If every weight is 0 the loss is 0.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    per_frame = (pred.float() - target.float()).square().mean(dim=(1, 3, 4))  # (B, t)
    if frame_weights is None:
        return per_frame.mean()
    if frame_weights.shape != per_frame.shape:
        raise ValueError(f"frame_weights must be {tuple(per_frame.shape)}, got {tuple(frame_weights.shape)}")
    w = frame_weights.to(per_frame.dtype)
    return (per_frame * w).sum() / w.sum().clamp_min(1e-8)


def condition_frames(t: Tensor, cond_mask: Tensor) -> tuple[Tensor, Tensor]:
    """Make the frames in `cond_mask` clean conditions: their t becomes 0 and their loss weight 0.

    t: [B, t] timesteps; cond_mask: bool [B, t] (True = given clean). Returns (t, frame_weights [B, t]).
    This one mechanism covers image-to-video, extension, loops and connecting clips: only the mask differs.
    """
    if cond_mask.shape != t.shape or cond_mask.dtype != torch.bool:
        raise ValueError(
            f"cond_mask must be bool {tuple(t.shape)}, got {cond_mask.dtype} {tuple(cond_mask.shape)}"
        )
    return t.masked_fill(cond_mask, 0.0), (~cond_mask).to(t.dtype)


__all__ = ["condition_frames", "interpolate", "loss", "sample_t", "shift_for_tokens", "shift_t", "target"]
