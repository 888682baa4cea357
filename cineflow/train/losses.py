"""Reconstruction measures for the video VAE: SSIM (per frame, Gaussian window), PSNR, and the KL term.

SSIM follows Wang et al. 2004 (11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03) on images in [0, 1];
the same function is the training loss (1 - SSIM) and the evaluation figure, so the two cannot disagree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _gaussian_window(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    """[size] normalised 1D Gaussian."""
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM of a, b [B, C, T, H, W] (or [B, C, H, W]) with values in [0, 1], computed frame by frame.

    The window is separable and applied with 'valid' borders (no padding), as in the reference code; frames
    smaller than the window use a window of the frame's size.
    """
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ, {list(a.shape)} vs {list(b.shape)}")
    if a.ndim == 5:  # fold time into the batch: SSIM is a per-frame measure here
        a = a.transpose(1, 2).flatten(0, 1)  # (B·T, C, H, W)
        b = b.transpose(1, 2).flatten(0, 1)
    a, b = a.float(), b.float()
    C = a.shape[1]
    size = min(window, a.shape[-2], a.shape[-1])
    g = _gaussian_window(size, sigma, a.device)
    gh = g.view(1, 1, size, 1).expand(C, 1, size, 1)
    gw = g.view(1, 1, 1, size).expand(C, 1, 1, size)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, gh, groups=C), gw, groups=C)

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean()


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of a, b with values in [0, 1] (any equal shapes), over all elements together."""
    mse = (a.float() - b.float()).pow(2).mean()
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean over elements of KL(N(mean, exp(logvar)) || N(0, 1)); mean, logvar [B, c, t, h, w]."""
    return 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float()).mean()
