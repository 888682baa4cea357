"""Sampling the flow ODE dx/dt = v(x, t) from t = 1 (noise) to t = 0 (data): schedules, solvers, guidance.

Every solver is a small stateless function of (model, x, sigmas, ...), as in k-diffusion; a schedule is a
separate function returning the decreasing noise levels `sigmas` [steps + 1] (sigma = flow time t).
`model(x, t)` is any callable taking x [B, c, t, h, w] and per-frame timesteps [B, t] and returning the
velocity; text conditioning and guidance are closed over by the caller (see `classifier_free_guidance`).

Condition frames (image-to-video, extension, loops) are held clean: their timestep is 0 at every step and
their latents are reset to the given values after every update, matching `flow.condition_frames` in training.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from cineflow.diffusion.flow import shift_for_tokens, shift_t

Model = Callable[[Tensor, Tensor], Tensor]  # (x [B, c, t, h, w], t [B, t]) -> velocity [B, c, t, h, w]
Callback = Callable[[int, float, Tensor], None]  # (step index, sigma reached, x after the step)


# --------------------------------------------------------------------------- schedules


def flow_sigmas(num_steps: int, *, shift: float = 1.0, device: torch.device | str = "cpu") -> Tensor:
    """Noise levels [num_steps + 1] from 1 to 0, uniform in t then shifted toward noise by `shift`."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    return shift_t(torch.linspace(1.0, 0.0, num_steps + 1, device=device), shift)


def sigmas_for_tokens(num_steps: int, num_tokens: int, *, base_tokens: int = 256, device="cpu") -> Tensor:
    """The schedule whose shift matches the token count of one sample (as used in training)."""
    return flow_sigmas(num_steps, shift=shift_for_tokens(num_tokens, base_tokens), device=device)


# --------------------------------------------------------------------------- condition frames


def _frame_t(x: Tensor, sigma: Tensor, cond_mask: Tensor | None) -> Tensor:
    """Per-frame timesteps [B, t]: sigma everywhere, 0 on condition frames."""
    t = sigma.to(x.dtype).expand(x.shape[0], x.shape[2])
    return t if cond_mask is None else t.masked_fill(cond_mask, 0.0)


def _hold(x: Tensor, x_cond: Tensor | None, cond_mask: Tensor | None) -> Tensor:
    """Reset condition frames to their clean latents."""
    if cond_mask is None:
        return x
    return torch.where(cond_mask[:, None, :, None, None], x_cond, x)


def _check_conditions(x: Tensor, x_cond: Tensor | None, cond_mask: Tensor | None) -> None:
    if (x_cond is None) != (cond_mask is None):
        raise ValueError("x_cond and cond_mask must be given together")
    if cond_mask is not None:
        if x_cond.shape != x.shape:
            raise ValueError(f"x_cond must have the shape of x {tuple(x.shape)}, got {tuple(x_cond.shape)}")
        if cond_mask.dtype != torch.bool or tuple(cond_mask.shape) != (x.shape[0], x.shape[2]):
            raise ValueError(
                f"cond_mask must be bool [{x.shape[0]}, {x.shape[2]}], got {tuple(cond_mask.shape)}"
            )


# --------------------------------------------------------------------------- solvers


@torch.no_grad()
def euler(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    x_cond: Tensor | None = None,
    cond_mask: Tensor | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """First-order steps x <- x + (sigma_next - sigma) v. One model call per step."""
    _check_conditions(x, x_cond, cond_mask)
    x = _hold(x, x_cond, cond_mask)
    for i in range(len(sigmas) - 1):
        v = model(x, _frame_t(x, sigmas[i], cond_mask))
        x = _hold(x + (sigmas[i + 1] - sigmas[i]) * v, x_cond, cond_mask)
        if callback is not None:
            callback(i, float(sigmas[i + 1]), x)
    return x


@torch.no_grad()
def heun(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    x_cond: Tensor | None = None,
    cond_mask: Tensor | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Second-order Heun (trapezoidal) steps, 2 model calls a step.

    Unlike EDM's Heun, the last step (to t = 0) is corrected too: a flow velocity is well defined at t = 0.
    """
    _check_conditions(x, x_cond, cond_mask)
    x = _hold(x, x_cond, cond_mask)
    for i in range(len(sigmas) - 1):
        dt = sigmas[i + 1] - sigmas[i]
        v = model(x, _frame_t(x, sigmas[i], cond_mask))
        x_euler = _hold(x + dt * v, x_cond, cond_mask)
        v_next = model(x_euler, _frame_t(x, sigmas[i + 1], cond_mask))
        x = _hold(x + dt * 0.5 * (v + v_next), x_cond, cond_mask)
        if callback is not None:
            callback(i, float(sigmas[i + 1]), x)
    return x


def _log_snr(sigma: float) -> float:
    """lambda = log(alpha / sigma) of the flow path (alpha = 1 - t, sigma = t); +-inf at the ends."""
    if sigma <= 0.0:
        return math.inf
    return -math.inf if sigma >= 1.0 else math.log((1.0 - sigma) / sigma)


@torch.no_grad()
def dpmpp_2m(
    model: Model,
    x: Tensor,
    sigmas: Tensor,
    *,
    x_cond: Tensor | None = None,
    cond_mask: Tensor | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DPM-Solver++(2M) on the flow path: second order from the previous step's clean estimate, 1 call a step.

    The clean estimate is x0 = x - t v. The first step (from pure noise) and the last (to t = 0) are first
    order, as in k-diffusion; the first one equals an Euler step.
    """
    _check_conditions(x, x_cond, cond_mask)
    x = _hold(x, x_cond, cond_mask)
    s = [float(v) for v in sigmas]
    old_x0 = None
    for i in range(len(s) - 1):
        x0 = x - sigmas[i] * model(x, _frame_t(x, sigmas[i], cond_mask))  # clean estimate
        if s[i + 1] == 0.0:
            x = x0
        else:
            h = _log_snr(s[i + 1]) - _log_snr(s[i])
            x0_step = x0
            if old_x0 is not None:  # extrapolate the clean estimate linearly in lambda (r = inf: first order)
                r = (_log_snr(s[i]) - _log_snr(s[i - 1])) / h
                x0_step = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * old_x0
            decay = -math.expm1(-h) if math.isfinite(h) else 1.0
            x = (s[i + 1] / s[i]) * x + (1 - s[i + 1]) * decay * x0_step
        old_x0 = x0
        x = _hold(x, x_cond, cond_mask)
        if callback is not None:
            callback(i, s[i + 1], x)
    return x


SOLVERS: dict[str, Callable[..., Tensor]] = {"euler": euler, "heun": heun, "dpmpp_2m": dpmpp_2m}


# --------------------------------------------------------------------------- guidance


def classifier_free_guidance(cond: Model, uncond: Model, scale: float) -> Model:
    """v = v_uncond + scale (v_cond - v_uncond). `uncond` is the model under the negative (or empty) prompt.

    Scale 1 is the conditional model alone, and the unconditional one is then never called.
    """
    if scale == 1.0:
        return cond

    def guided(x: Tensor, t: Tensor) -> Tensor:
        v_uncond = uncond(x, t)
        return torch.lerp(v_uncond, cond(x, t), scale)

    return guided


__all__ = [
    "SOLVERS",
    "Callback",
    "Model",
    "classifier_free_guidance",
    "dpmpp_2m",
    "euler",
    "flow_sigmas",
    "heun",
    "sigmas_for_tokens",
]
