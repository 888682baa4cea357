"""Samplers on an analytic flow (Gaussian data, exact velocity known), schedules, guidance, held frames."""

from __future__ import annotations

import itertools

import pytest
import torch

from cineflow.diffusion import sampling

MU, S = 1.5, 0.5  # data x0 ~ N(MU, S^2) per element


def exact_velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """E[noise - x0 | x_t = x] for Gaussian data: the velocity a perfect model would predict."""
    tt = t[:, None, :, None, None].double()
    mean, var = (1 - tt) * MU, (1 - tt) ** 2 * S**2 + tt**2
    z = (x.double() - mean) / var
    return (tt * z - MU - (1 - tt) * S**2 * z).to(x.dtype)


def _noise(B=2, T=3):
    return torch.randn(B, 2, T, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _error(solver, steps: int) -> float:
    noise = _noise()
    x0 = solver(exact_velocity, noise, sampling.flow_sigmas(steps, shift=2.0, device="cpu").double())
    return (x0 - (MU + S * noise)).abs().max().item()  # the exact ODE maps noise z to MU + S z


def test_euler_converges_and_heun_converges_faster():
    euler = [_error(sampling.euler, n) for n in (8, 16, 32, 64)]
    heun = [_error(sampling.heun, n) for n in (4, 8, 16, 32)]  # same model calls: 2 per Heun step
    assert all(a > b for a, b in itertools.pairwise(euler))
    assert euler[-1] < 0.06
    assert euler[-1] / euler[-2] < 0.6  # first order: halving the step about halves the error
    assert heun[-1] / heun[-2] < 0.2  # second order: about a quarter
    assert all(h < e / 4 for h, e in zip(heun, euler, strict=True))


def test_dpmpp_2m_beats_euler_at_equal_model_calls():
    for steps in (16, 32):
        assert _error(sampling.dpmpp_2m, steps) < _error(sampling.euler, steps) / 4


def test_flow_sigmas_endpoints_and_shift():
    s = sampling.flow_sigmas(10)
    assert s.shape == (11,) and s[0] == 1 and s[-1] == 0 and bool((s[1:] < s[:-1]).all())
    assert bool((sampling.flow_sigmas(10, shift=3.0)[1:-1] > s[1:-1]).all())
    assert sampling.sigmas_for_tokens(10, 1024)[5] > sampling.sigmas_for_tokens(10, 256)[5]
    with pytest.raises(ValueError, match="num_steps"):
        sampling.flow_sigmas(0)


def test_guidance_scale_one_is_cond_only():
    def cond(x, t):
        return x + 1

    def uncond(x, t):
        raise AssertionError("uncond must not be called at scale 1")

    x, t = _noise(), torch.zeros(2, 3)
    assert torch.equal(sampling.classifier_free_guidance(cond, uncond, 1.0)(x, t), x + 1)
    guided = sampling.classifier_free_guidance(cond, lambda x, t: x, 3.0)(x, t)
    assert torch.allclose(guided, x + 3)


def test_condition_frames_held_fixed_and_fed_t_zero():
    seen = []

    def model(x, t):
        seen.append(t.clone())
        return torch.ones_like(x)

    noise, x_cond = _noise(), _noise() * 0 + 7.0
    mask = torch.tensor([[True, False, False], [False, False, True]])
    for solver in sampling.SOLVERS.values():
        seen.clear()
        out = solver(model, noise, sampling.flow_sigmas(3), x_cond=x_cond, cond_mask=mask)
        assert torch.equal(out[0, :, 0], x_cond[0, :, 0]) and torch.equal(out[1, :, 2], x_cond[1, :, 2])
        assert torch.allclose(
            out[0, :, 1], noise[0, :, 1] - 1.0
        )  # free frames integrate v = 1 over t: 1 -> 0
        assert bool((seen[0][~mask] == 1).all())  # free frames start from pure noise
        assert all(bool((t[mask] == 0).all()) and len(t[~mask].unique()) == 1 for t in seen)


def test_callback_sees_every_step():
    steps = []
    for solver in sampling.SOLVERS.values():
        steps.clear()
        solver(lambda x, t: x, _noise(), sampling.flow_sigmas(5), callback=lambda i, s, x: steps.append(i))
        assert steps == [0, 1, 2, 3, 4]
