"""The video DiT: spacetime patches of a latent video, denoised under text conditioning.

Reads top to bottom like facebookresearch/DiT: attention layers, block, final layer, model, presets.

    x [B, c, t, h, w] --patchify (pt, ph, pw)--> tokens [B, t', h'*w', D] (+ 3D RoPE from the grid)
    timesteps [B, t] (one per latent frame) --t_embedder (+ pooled text)--> per-frame adaLN-Zero modulation
    blocks: modulated self-attention (QK-norm, RoPE) . cross-attention to text (masked) . modulated MLP
    final adaLN layer --unpatchify--> velocity [B, c, t, h, w]

Tokens are kept as [B, t', S, D] (S = h'*w' tokens per latent frame) inside the blocks, so that a frame's
modulation [B, t', 1, D] broadcasts over its tokens without any gather. The network is a pure function of
its inputs: no noise schedule, guidance or distributed code lives here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cineflow.config import DiTConfig
from cineflow.models.nn import (
    RMSNorm,
    TimestepEmbedder,
    apply_rope,
    attention,
    modulate,
    rope_3d,
    rope_axis_dims,
    rope_cos_sin,
)

# --------------------------------------------------------------------------- attention layers


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection, per-head RMSNorm on q and k, and 3D RoPE.

    q and k are normalised and rotated together as one [B, N, 2, H, d] tensor, with the RMSNorm weights
    folded into the rotation tables: rope(n * w) = n * (w cos) + roll(n) * (roll(w) sin). That is four
    kernels for q and k together (fused RMSNorm, mul, roll, addcmul) instead of about twelve.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.qk_norm_weight = nn.Parameter(torch.ones(2, 1, dim // num_heads))  # RMSNorm weights of q and k
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """x: [B, N, D], cos/sin: [N, 1, 1, d] -> [B, N, D]."""
        B, N, _ = x.shape
        # split/unbind rather than indexing: their backward is one cat/stack, not zero-filled buffers
        qk, v = self.qkv(x).view(B, N, 3, self.num_heads, -1).split([2, 1], dim=2)  # (B, N, 2|1, H, d)
        qk = F.rms_norm(qk, (qk.shape[-1],), eps=1e-6)  # (B, N, 2, H, d)
        w = self.qk_norm_weight.to(qk.dtype)
        half = w.shape[-1] // 2
        q, k = apply_rope(qk, cos * w, sin * torch.roll(w, half, dims=-1)).unbind(2)  # 2 x (B, N, H, d)
        return self.proj(attention(q, k, v.squeeze(2)))  # (B, N, D)


class CrossAttention(nn.Module):
    """Video tokens attend to text tokens; padded text positions are masked out."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.norm_q = RMSNorm(dim // num_heads)
        self.norm_k = RMSNorm(dim // num_heads)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, text: Tensor, text_mask: Tensor) -> Tensor:
        """x: [B, N, D], text: [B, L, D], text_mask: bool [B, L] -> [B, N, D]."""
        B, N, _ = x.shape
        q = self.norm_q(self.q(x).view(B, N, self.num_heads, -1))  # (B, N, H, d)
        k, v = self.kv(text).view(B, text.shape[1], 2, self.num_heads, -1).unbind(2)  # 2 x (B, L, H, d)
        return self.proj(attention(q, self.norm_k(k), v, text_mask))  # (B, N, D)


# --------------------------------------------------------------------------- block and final layer


class DiTBlock(nn.Module):
    """adaLN-Zero block: modulated self-attention, cross-attention to text, modulated MLP (GELU-tanh).

    The six modulation vectors come from the model's shared `adaLN_modulation` (one per latent frame) plus
    this block's own learned `scale_shift_table`, as in PixArt-alpha and Wan: per-block adaLN linears would
    cost 6*D^2 parameters each.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.cross_attn = CrossAttention(dim, num_heads)
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.scale_shift_table = nn.Parameter(torch.zeros(6, dim))

    def forward(
        self, x: Tensor, mod: Tensor, cos: Tensor, sin: Tensor, text: Tensor, text_mask: Tensor
    ) -> Tensor:
        """x: [B, t', S, D], mod: [B, t', 1, 6, D], text: [B, L, D] -> [B, t', S, D]."""
        B, T, S, D = x.shape
        # In the activations' dtype: an fp32 table would silently promote a bf16 residual stream to fp32.
        mod = (mod + self.scale_shift_table).to(x.dtype)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.unbind(-2)
        # 1. Self-attention over all spacetime tokens, modulated by each token's frame
        h = modulate(self.norm1(x), shift_msa, scale_msa).view(B, T * S, D)
        x = torch.addcmul(x, gate_msa, self.attn(h, cos, sin).view(B, T, S, D))  # (B, t', S, D)
        # 2. Cross-attention to the text tokens
        x = x + self.cross_attn(self.norm2(x).view(B, T * S, D), text, text_mask).view(B, T, S, D)
        # 3. MLP
        h = modulate(self.norm3(x), shift_mlp, scale_mlp)
        return torch.addcmul(x, gate_mlp, self.mlp(h))  # (B, t', S, D)


class FinalLayer(nn.Module):
    """adaLN (shift, scale) then a linear map from each token to its patch of velocities."""

    def __init__(self, dim: int, patch_dim: int):
        super().__init__()
        self.norm_final = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.linear = nn.Linear(dim, patch_dim)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """x: [B, t', S, D], c: [B, t', D] -> [B, t', S, c*pt*ph*pw]."""
        shift, scale = self.adaLN_modulation(c)[:, :, None].chunk(2, dim=-1)  # 2 x (B, t', 1, D)
        return self.linear(modulate(self.norm_final(x), shift, scale))


# --------------------------------------------------------------------------- the model


class VideoDiT(nn.Module):
    """Text-conditioned video DiT predicting the flow velocity of a latent video.

    forward(x [B, c, t, h, w], timesteps [B, t] in [0, 1] (1 = pure noise; a [B] tensor means one t for all
    frames), text [B, L, text_dim], text_mask bool [B, L], pooled [B, text_dim]) -> velocity [B, c, t, h, w].
    t, h, w must be multiples of the patch size; any count of them works (positions come from the grid).
    """

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        if cfg.hidden_size % cfg.num_heads:
            raise ValueError(f"hidden_size {cfg.hidden_size} must be a multiple of num_heads {cfg.num_heads}")
        if cfg.max_boxes:
            raise ValueError("max_boxes > 0: box tokens are not implemented yet; use max_boxes=0")
        rope_axis_dims(cfg.hidden_size // cfg.num_heads)  # validates the head size
        self.cfg = cfg
        D, pt, ph, pw = cfg.hidden_size, *cfg.patch_size
        patch_dim = cfg.in_channels * pt * ph * pw
        # 1. Patch, timestep and text embedders
        self.x_embedder = nn.Linear(patch_dim, D)
        self.t_embedder = TimestepEmbedder(D, cfg.freq_dim)
        self.pooled_embedder = nn.Linear(cfg.text_dim, D)
        self.text_embedder = nn.Sequential(
            nn.Linear(cfg.text_dim, D), nn.GELU(approximate="tanh"), nn.Linear(D, D)
        )
        # 2. Shared adaLN-Zero modulation (6 vectors per latent frame)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))
        # 3. Transformer blocks
        self.blocks = nn.ModuleList(DiTBlock(D, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        # 4. Final adaLN layer (unpatchify happens in forward)
        self.final_layer = FinalLayer(D, patch_dim)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """All initialisation in one place: xavier linears, small timestep MLP, adaLN-Zero, zero output."""

        def _basic_init(module: nn.Module) -> None:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

        self.apply(_basic_init)
        for layer in (self.t_embedder.mlp[0], self.t_embedder.mlp[2]):
            nn.init.normal_(layer.weight, std=0.02)
        # adaLN-Zero: every block starts as the identity (gates 0) and the model outputs zeros.
        nn.init.zeros_(self.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.adaLN_modulation[-1].bias)
        for block in self.blocks:
            nn.init.zeros_(block.scale_shift_table)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def patchify(self, x: Tensor) -> Tensor:
        """[B, c, t, h, w] -> [B, t', h'*w', c*pt*ph*pw]."""
        B, C, T, H, W = x.shape
        pt, ph, pw = self.cfg.patch_size
        x = x.view(B, C, T // pt, pt, H // ph, ph, W // pw, pw).permute(0, 2, 4, 6, 1, 3, 5, 7)
        return x.reshape(B, T // pt, (H // ph) * (W // pw), C * pt * ph * pw)

    def unpatchify(self, x: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """[B, t', h'*w', c*pt*ph*pw] -> [B, c, t, h, w]."""
        (tn, hn, wn), (pt, ph, pw) = grid, self.cfg.patch_size
        B, C = x.shape[0], self.cfg.in_channels
        x = x.view(B, tn, hn, wn, C, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return x.reshape(B, C, tn * pt, hn * ph, wn * pw)

    def _check_inputs(self, x: Tensor, timesteps: Tensor, text: Tensor, text_mask: Tensor) -> Tensor:
        """Validate shapes; return per-latent-frame timesteps [B, t]."""
        if x.ndim != 5 or x.shape[1] != self.cfg.in_channels:
            raise ValueError(f"x must be [B, {self.cfg.in_channels}, t, h, w], got {tuple(x.shape)}")
        for n, p, name in zip(x.shape[2:], self.cfg.patch_size, "thw", strict=True):
            if n % p:
                raise ValueError(f"latent {name}={n} must be a multiple of the patch size {p}")
        B, T = x.shape[0], x.shape[2]
        if timesteps.ndim == 1:
            timesteps = timesteps[:, None].expand(B, T)
        if tuple(timesteps.shape) != (B, T):
            raise ValueError(f"timesteps must be [B, t] = [{B}, {T}] (or [B]), got {tuple(timesteps.shape)}")
        if text.ndim != 3 or text.shape[0] != B or text.shape[2] != self.cfg.text_dim:
            raise ValueError(f"text must be [{B}, L, {self.cfg.text_dim}], got {tuple(text.shape)}")
        if tuple(text_mask.shape) != tuple(text.shape[:2]) or text_mask.dtype != torch.bool:
            raise ValueError(
                f"text_mask must be bool {tuple(text.shape[:2])}, got {text_mask.dtype} "
                f"{tuple(text_mask.shape)}"
            )
        if not bool(text_mask.any(-1).all()):
            raise ValueError("text_mask: every sample needs at least one valid text token")
        return timesteps

    def forward(
        self, x: Tensor, timesteps: Tensor, text: Tensor, text_mask: Tensor, pooled: Tensor
    ) -> Tensor:
        timesteps = self._check_inputs(x, timesteps, text, text_mask)
        B, _, T, H, W = x.shape
        pt, ph, pw = self.cfg.patch_size
        grid = (T // pt, H // ph, W // pw)
        D = self.cfg.hidden_size
        # 1. Patch & position embedding
        h = self.x_embedder(self.patchify(x).to(self.x_embedder.weight.dtype))  # (B, t', S, D)
        cos, sin = rope_cos_sin(rope_3d(grid, D // self.cfg.num_heads, x.device, self.cfg.rope_theta))
        cos, sin = cos[:, None, None].to(h.dtype), sin[:, None, None].to(h.dtype)  # (N, 1, 1, d)
        # 2. Conditioning: one vector per latent frame (timestep + pooled text), and the text tokens
        t_frames = timesteps.float().view(B, grid[0], pt).mean(-1)  # (B, t')
        c = self.t_embedder(t_frames) + self.pooled_embedder(pooled)[:, None]  # (B, t', D)
        mod = self.adaLN_modulation(c).view(B, grid[0], 1, 6, D)  # (B, t', 1, 6, D)
        text = self.text_embedder(text)  # (B, L, D)
        # 3. Transformer blocks
        for block in self.blocks:
            h = block(h, mod, cos, sin, text, text_mask)  # (B, t', S, D)
        # 4. Output norm & unpatchify
        h = self.final_layer(h, c)  # (B, t', S, c*pt*ph*pw)
        return self.unpatchify(h, grid).to(x.dtype)  # (B, c, t, h, w)


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_flops(cfg: DiTConfig, latent: tuple[int, int, int], text_len: int) -> dict[str, int]:
    """FLOPs of one forward of one sample, latent (t, h, w), `text_len` text tokens (2 per multiply-add).

    Counts every matmul (`linear`) and the two attention products QK^T and AV (`attention`); norms and
    elementwise work are left out, as in the usual 6*N*tokens accounting. Training is ~3x forward.
    """
    (pt, ph, pw), D, L = cfg.patch_size, cfg.hidden_size, text_len
    tn, N = latent[0] // pt, (latent[0] // pt) * (latent[1] // ph) * (latent[2] // pw)
    P, M = cfg.in_channels * pt * ph * pw, int(D * cfg.mlp_ratio)
    embed = N * P * D + tn * (cfg.freq_dim * D + D * D + 6 * D * D + 2 * D * D) + cfg.text_dim * D
    embed += L * (cfg.text_dim * D + D * D) + N * D * P  # text embedder; final linear
    block = (
        N * D * (3 * D + D + D + D + 2 * M) + L * D * 2 * D
    )  # qkv, proj, cross q, cross proj, MLP; cross kv
    attention = cfg.depth * 2 * (N * N * D + N * L * D)
    linear = 2 * (embed + cfg.depth * block)
    return {"linear": linear, "attention": attention, "total": linear + attention, "tokens": N}


# --------------------------------------------------------------------------- presets

PRESETS: dict[str, DiTConfig] = {
    # unit tests: a few thousand parameters in the blocks (the text projections dominate at text_dim 384)
    "debug": DiTConfig(in_channels=4, hidden_size=16, depth=2, num_heads=2, mlp_ratio=2.0, freq_dim=32),
    # the bundled CPU model: 64x64x17 video -> latent 16x5x8x8 -> 320 tokens with patch (1, 1, 1)
    "tiny": DiTConfig(in_channels=16, patch_size=(1, 1, 1), hidden_size=256, depth=8, num_heads=4),
    "S": DiTConfig(hidden_size=384, depth=12, num_heads=6),
    "B": DiTConfig(hidden_size=768, depth=12, num_heads=12),
    # about 3B parameters, the size estimated for Sora; head_dim 128
    "XL": DiTConfig(hidden_size=2304, depth=36, num_heads=18),
}


def build_dit(preset_or_cfg: str | DiTConfig) -> VideoDiT:
    """A VideoDiT from a preset name or a config."""
    if isinstance(preset_or_cfg, str):
        if preset_or_cfg not in PRESETS:
            raise ValueError(f"unknown DiT preset {preset_or_cfg!r}; choose from {sorted(PRESETS)}")
        preset_or_cfg = PRESETS[preset_or_cfg]
    return VideoDiT(preset_or_cfg)


__all__ = ["PRESETS", "DiTBlock", "VideoDiT", "build_dit", "forward_flops", "num_params"]
