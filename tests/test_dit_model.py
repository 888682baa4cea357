"""VideoDiT (debug preset, CPU): shapes, zero-init, seeded output slice, RoPE, per-frame timesteps, masks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cineflow.models import nn as cnn
from cineflow.models.dit import PRESETS, VideoDiT

CFG = PRESETS["debug"]


def _inputs(B=2, T=3, H=8, W=8, L=5, cfg=CFG, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, cfg.in_channels, T, H, W, generator=g)
    t = torch.rand(B, T, generator=g)
    text = torch.randn(B, L, cfg.text_dim, generator=g)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[1, 3:] = False
    return x, t, text, mask, torch.randn(B, cfg.text_dim, generator=g)


def _randomized(cfg=CFG, seed=0) -> VideoDiT:
    """A model with every weight random (the zero-init ones too), so outputs depend on everything."""
    torch.manual_seed(seed)
    model = VideoDiT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    return model


@pytest.mark.parametrize(("T", "H", "W"), [(1, 8, 8), (3, 8, 8), (5, 16, 8), (2, 4, 12)])
def test_output_shape_any_duration_size_aspect(T, H, W):
    x, t, text, mask, pooled = _inputs(T=T, H=H, W=W)
    assert _randomized()(x, t, text, mask, pooled).shape == x.shape


def test_temporal_patch_and_scalar_timesteps():
    cfg = dataclasses.replace(CFG, patch_size=(2, 2, 2))
    x, t, text, mask, pooled = _inputs(T=4, cfg=cfg)
    model = _randomized(cfg)
    assert model(x, t, text, mask, pooled).shape == x.shape
    t0 = t[:, 0]
    assert torch.allclose(
        model(x, t0, text, mask, pooled), model(x, t0[:, None].expand(-1, 4), text, mask, pooled)
    )
    with pytest.raises(ValueError, match="multiple of the patch size"):
        model(*_inputs(T=3, cfg=cfg))


def test_untrained_model_outputs_zeros_but_has_gradients():
    model = VideoDiT(CFG)
    x, t, text, mask, pooled = _inputs()
    out = model(x, t, text, mask, pooled)
    assert torch.equal(out, torch.zeros_like(x))
    (out - x).square().mean().backward()
    assert model.final_layer.linear.weight.grad.abs().sum() > 0


def test_seeded_output_slice():
    x, t, text, mask, pooled = _inputs()
    out = _randomized()(x, t, text, mask, pooled)
    expected = torch.tensor(EXPECTED_SLICE)
    assert torch.allclose(out[0, 0, 1, 2, :4], expected, rtol=1e-4, atol=1e-3), out[0, 0, 1, 2, :4].tolist()


# Stored from one run of this test (like diffusers' slice tests): a change to the network changes them.
EXPECTED_SLICE = [2.35164, -1.45128, 2.18946, -1.70827]


def test_rope_depends_only_on_relative_position():
    d = 12
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 1, 1, d, generator=g), torch.randn(1, 1, 1, d, generator=g)
    angles = cnn.rope_3d((6, 5, 7), d, torch.device("cpu")).view(6, 5, 7, d // 2)

    def score(p, r):
        cq, sq = cnn.rope_cos_sin(angles[p].view(1, -1))
        ck, sk = cnn.rope_cos_sin(angles[r].view(1, -1))
        return (cnn.apply_rope(q, cq, sq) * cnn.apply_rope(k, ck, sk)).sum().item()

    assert score((1, 2, 3), (0, 0, 1)) == pytest.approx(score((5, 4, 6), (4, 2, 4)), abs=1e-5)
    assert score((1, 2, 3), (0, 0, 1)) != pytest.approx(score((1, 2, 3), (0, 1, 1)), abs=1e-3)


def test_each_frame_gets_its_own_timestep():
    # Without blocks, a token sees only its own frame's conditioning: changing frame 0's t moves frame 0 only.
    model = _randomized(dataclasses.replace(CFG, depth=0))
    x, t, text, mask, pooled = _inputs()
    t2 = t.clone()
    t2[:, 0] = 1.0 - t2[:, 0]
    diff = (model(x, t, text, mask, pooled) - model(x, t2, text, mask, pooled)).abs().amax(dim=(1, 3, 4))
    assert bool((diff[:, 0] > 1e-3).all()) and bool((diff[:, 1:] == 0).all())


def test_padded_text_tokens_are_ignored():
    model = _randomized()
    x, t, text, mask, pooled = _inputs()
    text2 = text.clone()
    text2[1, 3:] = 100.0  # masked positions of sample 1
    a, b = model(x, t, text, mask, pooled), model(x, t, text2, mask, pooled)
    assert torch.allclose(a, b, atol=1e-5)
    text2[1, 0] = 100.0
    assert not torch.allclose(a[1], model(x, t, text2, mask, pooled)[1], atol=1e-3)


def test_bad_inputs_raise_clear_errors():
    model = VideoDiT(CFG)
    x, t, text, mask, pooled = _inputs()
    with pytest.raises(ValueError, match="timesteps"):
        model(x, t[:, :2], text, mask, pooled)
    with pytest.raises(ValueError, match="x must be"):
        model(x[:, :2], t, text, mask, pooled)
    with pytest.raises(ValueError, match="at least one valid"):
        model(x, t, text, torch.zeros_like(mask), pooled)


def test_overfits_one_batch_with_the_flow_loss():
    from cineflow.diffusion import flow

    torch.manual_seed(0)
    model = VideoDiT(CFG)
    x0, _, text, mask, pooled = _inputs()
    g = torch.Generator().manual_seed(1)
    noise, t = torch.randn(x0.shape, generator=g), flow.sample_t(2, 3, generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)  # a 23k-parameter model: thread hand-offs cost more than they save
    try:
        for _ in range(40):
            pred = model(flow.interpolate(x0, noise, t), t, text, mask, pooled)
            loss = flow.loss(pred, flow.target(x0, noise))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    assert losses[-1] < 0.5 * losses[0], losses[::10]
