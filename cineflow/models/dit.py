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
from torch import Tensor, nn

from cineflow.config import DiTConfig
from cineflow.models.nn import (
    RMSNorm,
    TimestepEmbedder,
    attention,
    modulate,
    qk_norm_rope,
    rms_normalize,
    rope_3d,
    rope_axis_dims,
)

# --------------------------------------------------------------------------- attention layers


class SelfAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection, per-head RMSNorm on q and k, and 3D RoPE.

    q and k are normalised and rotated in one autograd node (`qk_norm_rope`), with the RMSNorm weights and
    the 1/sqrt(d) attention scale folded into the rotation tables, and come out heads-first for attention.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.qk_norm_weight = nn.Parameter(torch.ones(2, 1, dim // num_heads))  # RMSNorm weights of q and k
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """x: [B, N, D], cos/sin: float32 [N, 1, 1, d/2] angle tables -> [B, N, D]."""
        B, N, _ = x.shape
        qkv = self.qkv(x).view(B, N, 3, self.num_heads, -1)  # (B, N, 3, H, d)
        scale = qkv.shape[-1] ** -0.5
        q, k, v = qk_norm_rope(qkv, self.qk_norm_weight, cos, sin, scale)  # 3 x (B, H, N, d)
        return self.proj(attention(q, k, v, scale=1.0))  # (B, N, D)


class CrossAttention(nn.Module):
    """Video tokens attend to text tokens; padded text positions are masked out.

    q's RMSNorm weight and the 1/sqrt(d) scale multiply k instead (the same scores): L text tokens rather
    than N video tokens, and q is only normalised, straight into the heads-first layout.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.norm_q = RMSNorm(dim // num_heads)
        self.norm_k = RMSNorm(dim // num_heads)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, text: Tensor, text_mask: Tensor | None) -> Tensor:
        """x: [B, N, D], text: [B, L, D], text_mask: bool [B, L] or None (all valid) -> [B, N, D]."""
        B, N, _ = x.shape
        q = rms_normalize(self.q(x).view(B, N, self.num_heads, -1).transpose(1, 2))  # (B, H, N, d)
        k, v = self.kv(text).view(B, text.shape[1], 2, self.num_heads, -1).unbind(2)  # 2 x (B, L, H, d)
        k = self.norm_k(k) * (self.norm_q.weight * q.shape[-1] ** -0.5).to(k.dtype)
        out = attention(q, k.transpose(1, 2), v.transpose(1, 2), text_mask, scale=1.0)
        return self.proj(out)  # (B, N, D)


# --------------------------------------------------------------------------- block and final layer


class DiTBlock(nn.Module):
    """adaLN-Zero block: modulated self-attention, cross-attention to text, modulated MLP (GELU-tanh).

    The six modulation vectors come from the model's shared `adaLN_modulation` (one per latent frame) plus
    this block's own learned `scale_shift_table`, as in PixArt-alpha and Wan: per-block adaLN linears would
    cost 6*D^2 parameters each. `attend` is what self-attention spans: "full" (all spacetime tokens),
    "spatial" (the tokens of one frame) or "temporal" (one position across frames).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, attend: str = "full"):
        super().__init__()
        self.attend = attend
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.cross_attn = CrossAttention(dim, num_heads)
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        self.scale_shift_table = nn.Parameter(torch.zeros(6, dim))

    def forward(
        self, x: Tensor, mod: Tensor, cos: Tensor, sin: Tensor, text: Tensor, text_mask: Tensor | None
    ) -> Tensor:
        """x: [B, t', S, D], mod: [B, t', 1, 6, D], text: [B, L, D] -> [B, t', S, D]."""
        B, T, S, D = x.shape
        # In the activations' dtype: an fp32 table would silently promote a bf16 residual stream to fp32.
        mod = (mod + self.scale_shift_table).to(x.dtype)
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod.unbind(-2)
        # 1. Self-attention, modulated by each token's frame
        h = modulate(self.norm1(x), shift_msa, scale_msa)  # (B, t', S, D)
        x = torch.addcmul(x, gate_msa, self._self_attention(h, cos, sin))  # (B, t', S, D)
        # 2. Cross-attention to the text tokens
        x = x + self.cross_attn(self.norm2(x).view(B, T * S, D), text, text_mask).view(B, T, S, D)
        # 3. MLP
        h = modulate(self.norm3(x), shift_mlp, scale_mlp)
        return torch.addcmul(x, gate_mlp, self.mlp(h))  # (B, t', S, D)

    def _self_attention(self, h: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        """h: [B, t', S, D], cos/sin: [t'*S, 1, 1, d/2] -> [B, t', S, D].

        Within a frame (or a position) the time (or space) part of the 3D RoPE turns q and k alike and
        cancels in the scores, so frame 0's table (or position 0's) serves every sequence.
        """
        B, T, S, D = h.shape
        if self.attend == "spatial":
            return self.attn(h.reshape(B * T, S, D), cos[:S], sin[:S]).view(B, T, S, D)
        if self.attend == "temporal":
            out = self.attn(h.transpose(1, 2).reshape(B * S, T, D), cos[::S], sin[::S])  # (B*S, t', D)
            return out.view(B, S, T, D).transpose(1, 2)
        return self.attn(h.reshape(B, T * S, D), cos, sin).view(B, T, S, D)


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
        if cfg.attention not in ("full", "factorized"):
            raise ValueError(f"attention must be 'full' or 'factorized', got {cfg.attention!r}")
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
        attend = ["full"] * cfg.depth if cfg.attention == "full" else ["spatial", "temporal"] * cfg.depth
        self.blocks = nn.ModuleList(DiTBlock(D, cfg.num_heads, cfg.mlp_ratio, a) for a in attend[: cfg.depth])
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
        # Text enters gently, as in PixArt-alpha: a small caption MLP and zero cross-attention outputs, so
        # at init every block ignores the prompt instead of adding prompt-dependent noise to the stream
        # (initialised with xavier, the tiny model had a higher loss than its text-blind twin for 450+ steps).
        for layer in (self.text_embedder[0], self.text_embedder[2]):
            nn.init.normal_(layer.weight, std=0.02)
        # adaLN-Zero: every block starts as the identity (gates 0) and the model outputs zeros.
        nn.init.zeros_(self.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.adaLN_modulation[-1].bias)
        for block in self.blocks:
            nn.init.zeros_(block.scale_shift_table)
            nn.init.zeros_(block.cross_attn.proj.weight)
            nn.init.zeros_(block.cross_attn.proj.bias)
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
        angles = rope_3d(grid, D // self.cfg.num_heads, x.device, self.cfg.rope_theta)[:, None, None]
        cos, sin = angles.cos(), angles.sin()  # (N, 1, 1, d/2), once for all blocks
        # 2. Conditioning: one vector per latent frame (timestep + pooled text), and the text tokens
        t_frames = timesteps.float().view(B, grid[0], pt).mean(-1)  # (B, t')
        c = self.t_embedder(t_frames) + self.pooled_embedder(pooled)[:, None]  # (B, t', D)
        mod = self.adaLN_modulation(c).view(B, grid[0], 1, 6, D)  # (B, t', 1, 6, D)
        text = self.text_embedder(text)  # (B, L, D)
        text_mask = None if bool(text_mask.all()) else text_mask  # all valid: attention needs no mask
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
    # each block: QK^T and AV over the tokens its self-attention spans, then over the L text tokens
    spans = [N] * cfg.depth if cfg.attention == "full" else [N // tn, tn] * cfg.depth
    attention = sum(2 * 2 * N * (n + L) * D for n in spans[: cfg.depth])
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
