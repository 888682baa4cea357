"""Rectified-flow objective: interpolation, target, timestep sampling, frame-weighted loss, conditions."""

from __future__ import annotations

import pytest
import torch

from cineflow.diffusion import flow


def _pair(B=2, T=3):
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, 4, T, 5, 6, generator=g), torch.randn(B, 4, T, 5, 6, generator=g)


def test_interpolate_endpoints_and_per_frame_t():
    x0, noise = _pair()
    assert torch.allclose(flow.interpolate(x0, noise, torch.zeros(2)), x0)
    assert torch.allclose(flow.interpolate(x0, noise, torch.ones(2)), noise)
    t = torch.tensor([[0.0, 0.5, 1.0], [1.0, 0.25, 0.0]])
    xt = flow.interpolate(x0, noise, t)
    assert torch.allclose(xt[0, :, 0], x0[0, :, 0]) and torch.allclose(xt[0, :, 2], noise[0, :, 2])
    assert torch.allclose(xt[1, :, 1], 0.75 * x0[1, :, 1] + 0.25 * noise[1, :, 1])
    with pytest.raises(ValueError, match="t must be"):
        flow.interpolate(x0, noise, torch.zeros(2, 2))


def test_target_is_the_time_derivative_of_the_path():
    x0, noise = _pair()
    t, eps = torch.full((2,), 0.3), 1e-3
    finite_diff = (flow.interpolate(x0, noise, t + eps) - flow.interpolate(x0, noise, t - eps)) / (2 * eps)
    assert torch.allclose(finite_diff, flow.target(x0, noise), atol=1e-3)


def test_sample_t_shape_range_and_shift_toward_noise():
    g = torch.Generator().manual_seed(0)
    t = flow.sample_t(4096, 5, generator=g)
    assert t.shape == (4096, 5) and bool((t > 0).all() and (t < 1).all())
    assert torch.equal(t[:, 0:1].expand(-1, 5), t)  # one t per sample unless per_frame
    assert abs(t.mean().item() - 0.5) < 0.02  # logit-normal(0, 1) is symmetric around 0.5
    shifted = flow.sample_t(4096, 5, shift=3.0, generator=torch.Generator().manual_seed(0))
    assert shifted.mean() > t.mean() + 0.1
    per_frame = flow.sample_t(8, 5, per_frame=True, generator=g)
    assert not torch.equal(per_frame[:, 0], per_frame[:, 1])


def test_shift_for_tokens_grows_with_tokens():
    assert flow.shift_for_tokens(64) == 1.0
    assert flow.shift_for_tokens(1024) == pytest.approx(2.0)
    assert flow.shift_t(torch.tensor(0.5), 3.0).item() == pytest.approx(0.75)


def test_loss_ignores_zero_weight_frames():
    x0, noise = _pair()
    pred = flow.target(x0, noise).clone()
    pred[:, :, 0] += 10.0  # frame 0 is badly wrong
    w = torch.ones(2, 3)
    assert flow.loss(pred, flow.target(x0, noise), w) > 1.0
    w[:, 0] = 0.0
    assert flow.loss(pred, flow.target(x0, noise), w).item() == pytest.approx(0.0, abs=1e-10)
    assert flow.loss(pred, flow.target(x0, noise), torch.zeros(2, 3)).item() == 0.0


def test_condition_frames_are_clean_and_unweighted():
    x0, noise = _pair()
    t = torch.full((2, 3), 0.8)
    mask = torch.tensor([[True, False, False], [False, False, True]])
    t_c, w = flow.condition_frames(t, mask)
    assert torch.equal(w, (~mask).float()) and torch.equal(t_c[mask], torch.zeros(2))
    xt = flow.interpolate(x0, noise, t_c)
    assert torch.equal(xt[0, :, 0], x0[0, :, 0]) and torch.equal(xt[1, :, 2], x0[1, :, 2])
