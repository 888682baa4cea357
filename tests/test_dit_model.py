"""VideoDiT (debug preset, CPU): shapes, zero-init, seeded output slice, RoPE, per-frame timesteps, masks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cineflow.models import nn as cnn
from cineflow.models.dit import PRESETS, DiTBlock, VideoDiT

CFG = PRESETS["debug"]
pytestmark = pytest.mark.usefixtures("one_thread")


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
EXPECTED_SLICE = [-11.62207, 3.75031, -12.50941, 4.56449]  # re-stored: the text-path init draws differ


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


# --------------------------------------------------------------------------- fast paths against references
# The fused autograd nodes and the attention kernel choice must leave the function unchanged (a `tiny` model
# is being trained): each is checked against the plain formula in fp32 to 1e-5, gradients included.


def _close(a, b, tol=1e-5):
    return (a - b).abs().max().item() <= tol * b.abs().max().item()


def _reference_self_attention(attn, h, grid, allowed=None):
    """The plain form: rms_norm, RoPE with full 3D tables, SDPA with an optional [N, N] mask, projection."""
    B, N, D = h.shape
    H = attn.num_heads
    qk, v = attn.qkv(h).view(B, N, 3, H, -1).split([2, 1], dim=2)
    qk = torch.nn.functional.rms_norm(qk, (qk.shape[-1],), eps=1e-6) * attn.qk_norm_weight
    cos, sin = cnn.rope_cos_sin(cnn.rope_3d(grid, D // H, h.device))
    q, k = cnn.apply_rope(qk, cos[:, None, None], sin[:, None, None]).unbind(2)
    out = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.squeeze(2).transpose(1, 2), allowed
    )
    return attn.proj(out.transpose(1, 2).reshape(B, N, D))


@pytest.mark.parametrize("attend", ["full", "spatial", "temporal"])
def test_self_attention_matches_plain_reference(attend):
    torch.manual_seed(0)
    block = DiTBlock(24, 2, 2.0, attend)
    with torch.no_grad():
        block.attn.qk_norm_weight.uniform_(0.5, 1.5)
    B, grid = 2, (3, 2, 4)
    T, S = grid[0], grid[1] * grid[2]
    h = torch.randn(B, T, S, 24, requires_grad=True)
    angles = cnn.rope_3d(grid, 12, h.device)[:, None, None]
    frame, pos = torch.arange(T * S) // S, torch.arange(T * S) % S
    allowed = {
        "full": None,
        "spatial": frame[:, None] == frame[None, :],
        "temporal": pos[:, None] == pos[None, :],
    }[attend]
    ours = block._self_attention(h, angles.cos(), angles.sin())
    ref = _reference_self_attention(block.attn, h.view(B, T * S, 24), grid, allowed).view(B, T, S, 24)
    assert _close(ours, ref)
    params = [h, block.attn.qkv.weight, block.attn.qk_norm_weight]
    g_ours = torch.autograd.grad(ours.square().sum(), params)
    g_ref = torch.autograd.grad(ref.square().sum(), params)
    assert all(_close(a, b) for a, b in zip(g_ours, g_ref, strict=True))


def test_cross_attention_matches_plain_reference():
    torch.manual_seed(0)
    block = DiTBlock(24, 2, 2.0)
    ca = block.cross_attn
    with torch.no_grad():
        ca.norm_q.weight.uniform_(0.5, 1.5)
        ca.norm_k.weight.uniform_(0.5, 1.5)
    x, text = torch.randn(2, 10, 24, requires_grad=True), torch.randn(2, 5, 24)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    q = ca.norm_q(ca.q(x).view(2, 10, 2, 12)).transpose(1, 2)
    k, v = ca.kv(text).view(2, 5, 2, 2, 12).unbind(2)
    ref = torch.nn.functional.scaled_dot_product_attention(
        q, ca.norm_k(k).transpose(1, 2), v.transpose(1, 2), mask[:, None, None]
    )
    ref = ca.proj(ref.transpose(1, 2).reshape(2, 10, 24))
    for m in (mask, None):  # None: the model's form of an all-valid mask
        ours = ca(x, text, m)
        expected = ref if m is not None else ca(x, text, torch.ones_like(mask))
        assert _close(ours, expected)
    ours = ca(x, text, mask)
    params = [x, ca.q.weight, ca.norm_q.weight, ca.norm_k.weight]
    g_ours = torch.autograd.grad(ours.square().sum(), params)
    g_ref = torch.autograd.grad(ref.square().sum(), params)
    assert all(_close(a, b) for a, b in zip(g_ours, g_ref, strict=True))


def test_fused_qk_norm_rope_matches_its_plain_form():
    # the plain form is what torch.compile traces
    g = torch.Generator().manual_seed(0)
    qkv = torch.randn(2, 6, 3, 2, 12, generator=g, requires_grad=True)
    w = torch.rand(2, 1, 12, generator=g).add_(0.5).requires_grad_()
    angles = cnn.rope_3d((6, 1, 1), 12, qkv.device)[:, None, None]
    args = (angles.cos(), angles.sin(), 0.3)
    fused, plain = cnn.QKNormRoPE.apply(qkv, w, *args), cnn.qk_norm_rope_reference(qkv, w, *args)
    assert all(_close(a, b) for a, b in zip(fused, plain, strict=True))
    loss = [sum((o * o.detach().roll(1, -1)).sum() for o in outs) for outs in (fused, plain)]
    grads = [torch.autograd.grad(x, (qkv, w)) for x in loss]
    assert all(_close(a, b) for a, b in zip(*grads, strict=True))


def test_fused_nodes_pass_gradcheck():
    g = torch.Generator().manual_seed(0)
    qkv = torch.randn(2, 5, 3, 2, 6, dtype=torch.float64, generator=g, requires_grad=True)
    w = torch.rand(2, 1, 6, dtype=torch.float64, generator=g).add_(0.5).requires_grad_()
    angles = cnn.rope_3d((5, 1, 1), 6, qkv.device)[:, None, None].double()
    assert torch.autograd.gradcheck(
        lambda a, b: cnn.QKNormRoPE.apply(a, b, angles.cos(), angles.sin(), 0.3), (qkv, w)
    )
    x = torch.randn(3, 4, 8, dtype=torch.float64, generator=g).transpose(0, 1).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: cnn.RMSNormalize.apply(a, 1e-6), (x,))


def test_math_attention_matches_sdpa():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g) for n in (7, 5, 5))
    mask = torch.tensor([[True] * 5, [False, True, True, False, True]])
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, mask[:, None, None])
    assert _close(cnn.math_attention(q, k, v, mask), ref)
    # bf16 on CPU takes the math path inside attention(): within bf16 rounding of the fp32 result
    out = cnn.attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask)
    assert _close(out.float(), ref.transpose(1, 2).reshape(2, 7, 24), tol=2e-2)


def test_factorized_attention_is_opt_in_with_the_same_weights():
    full, fact = VideoDiT(CFG), VideoDiT(dataclasses.replace(CFG, attention="factorized"))
    assert {k: v.shape for k, v in full.state_dict().items()} == {
        k: v.shape for k, v in fact.state_dict().items()
    }
    assert [b.attend for b in fact.blocks] == ["spatial", "temporal"] and CFG.attention == "full"
    fact.load_state_dict(_randomized().state_dict())
    x, t, text, mask, pooled = _inputs()
    assert fact(x, t, text, mask, pooled).shape == x.shape
    with pytest.raises(ValueError, match="attention"):
        VideoDiT(dataclasses.replace(CFG, attention="axial"))


@pytest.mark.parametrize("attention", ["full", "factorized"])
def test_forward_flops_count_attention_like_the_flop_counter(attention):
    from torch.utils.flop_counter import FlopCounterMode

    from cineflow.models.dit import forward_flops

    cfg = dataclasses.replace(CFG, attention=attention)
    x, t, text, mask, pooled = _inputs(T=4)
    # bf16 on CPU takes the math attention path, whose matmuls the stock counter sees
    with FlopCounterMode(display=False) as counter, torch.autocast("cpu", dtype=torch.bfloat16):
        VideoDiT(cfg)(x, t, text, mask, pooled)
    assert counter.get_total_flops() == 2 * forward_flops(cfg, (4, 8, 8), 5)["total"]


def test_bf16_autocast_stays_close_to_fp32():
    model = _randomized()
    x, t, text, mask, pooled = _inputs()
    ref = model(x, t, text, mask, pooled)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, t, text, mask, pooled)
    assert out.dtype == torch.float32 and _close(out, ref, tol=5e-2)
