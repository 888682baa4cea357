"""Shared layers of the video DiT: timestep embedding, adaLN modulation, 3D RoPE, q/k norm and attention().

`attention()` is the only place that chooses the attention kernel (scaled_dot_product_attention's fused
flash path, or plain matmuls for short bf16 sequences on CPU). RoPE uses the "rotate half" layout: the
rotary pairs of a head are (x[j], x[j + d/2]), so rotation is two contiguous slices rather than strided
even/odd gathers. `QKNormRoPE` and `RMSNormalize` are hand-written autograd nodes for the q/k
normalisation, which autograd would otherwise run as many small kernels; tests pin them to the plain form.
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
    """Rotate x [..., d]: pairs (x[j], x[j + d/2]) turn by angle j; cos/sin [.., d] broadcast against x.

    The plain form (tests and `qk_norm_rope_reference` use it); the model calls `qk_norm_rope`.
    """
    half = x.shape[-1] // 2
    return torch.addcmul(x * cos, torch.roll(x, half, dims=-1), sin)


def qk_norm_rope(qkv: Tensor, w: Tensor, cos: Tensor, sin: Tensor, scale: float) -> tuple[Tensor, ...]:
    """qkv [B, N, 3, H, d] -> q, k, v [B, H, N, d]: q, k RMS-normalised, times w [2, 1, d], rotated (RoPE
    from the angle tables cos/sin [N, 1, 1, d/2]); q also times `scale`.

    Eager calls use the fused autograd node `QKNormRoPE`; under torch.compile the plain form
    `qk_norm_rope_reference` is traced instead (inductor fuses it, and cannot lower the node's out= kernels).
    """
    if torch.compiler.is_compiling():
        return qk_norm_rope_reference(qkv, w, cos, sin, scale)
    return QKNormRoPE.apply(qkv, w, cos, sin, scale)


def qk_norm_rope_reference(qkv: Tensor, w: Tensor, cos: Tensor, sin: Tensor, scale: float):
    """`qk_norm_rope` as plain operations: rms_norm, weights, apply_rope with full-width tables."""
    qk, v = qkv.split([2, 1], dim=2)  # (B, N, 2|1, H, d)
    qk = F.rms_norm(qk, (qk.shape[-1],), eps=1e-6) * w.to(qk.dtype)
    sc = torch.tensor([scale, 1.0], device=cos.device).view(2, 1, 1)
    c, s = torch.cat([cos, cos], -1) * sc, torch.cat([-sin, sin], -1) * sc  # (N, 2, 1, d)
    q, k = apply_rope(qk, c.to(qk.dtype), s.to(qk.dtype)).unbind(2)
    return q.transpose(1, 2), k.transpose(1, 2), v.squeeze(2).transpose(1, 2)


def rms_normalize(x: Tensor, eps: float = 1e-6) -> Tensor:
    """x / rms(x) over the last dim, contiguous: `RMSNormalize` in eager, plain rms_norm when compiling."""
    if torch.compiler.is_compiling():
        return F.rms_norm(x, (x.shape[-1],), eps=eps)
    return RMSNormalize.apply(x, eps)


def _rotate(x: Tensor, c1: Tensor, s1: Tensor, c2: Tensor, s2: Tensor, out: Tensor) -> Tensor:
    """out = (x1 c1 + x2 s1, x2 c2 + x1 s2) over the two halves of the last dim: a rotate-half RoPE (or its
    transpose) in four half-width kernels, with no rolled copy of x."""
    h = x.shape[-1] // 2
    (x1, x2), (o1, o2) = x.split(h, -1), out.split(h, -1)
    torch.mul(x1, c1, out=o1).addcmul_(x2, s1)
    torch.mul(x2, c2, out=o2).addcmul_(x1, s2)
    return out


class QKNormRoPE(torch.autograd.Function):
    """qkv [B, N, 3, H, d] -> q, k, v each [B, H, N, d] contiguous: RMSNorm (weights w [2, 1, d]) then RoPE
    on q and k, q also multiplied by the attention `scale`; v only moved into the heads-first layout.

    Equal to rope(rms_norm(q) * w_q) * scale and rope(rms_norm(k) * w_k) (`apply_rope`), as one autograd
    node: on CPU the composite rms_norm upcasts and runs about eight kernels forward and more backward, and
    autograd through roll and split adds copies. Here about 4 passes over q and k forward and 7 backward.
    cos, sin: float32 angle tables [N, 1, 1, d/2].
    """

    @staticmethod
    def forward(ctx, qkv: Tensor, w: Tensor, cos: Tensor, sin: Tensor, scale: float):
        B, N, _, H, d = qkv.shape
        x = qkv[:, :, :2]  # (B, N, 2, H, d)
        r = _rms_reciprocal(x, 1e-6)  # (B, N, 2, H, 1)
        xn = x * r  # (B, N, 2, H, d)
        sc = torch.tensor([scale, 1.0], device=cos.device).view(2, 1, 1)
        c, s = cos * sc, sin * sc  # (N, 2, 1, d/2): q's row scaled
        w1, w2 = w.to(torch.promote_types(w.dtype, cos.dtype)).split(d // 2, -1)  # (2, 1, d/2)
        qk = torch.empty(2, B, H, N, d, dtype=x.dtype, device=x.device)
        # rope(xn * w): the norm weights folded into the tables
        tables = (t.to(x.dtype) for t in (c * w1, -s * w2, c * w2, s * w1))
        _rotate(xn, *tables, out=qk.permute(1, 3, 0, 2, 4))
        v = qkv[:, :, 2].transpose(1, 2).contiguous()  # (B, H, N, d)
        ctx.save_for_backward(xn, r, w, c, s)
        ctx.shape = qkv.shape
        return qk[0], qk[1], v

    @staticmethod
    def backward(ctx, dq: Tensor, dk: Tensor, dv: Tensor):
        xn, r, w, c, s = ctx.saved_tensors
        d = xn.shape[-1]
        dqkv = torch.empty(ctx.shape, dtype=xn.dtype, device=xn.device)
        g = torch.stack([dq, dk]).permute(1, 3, 0, 2, 4)  # (B, N, 2, H, d)
        # the transposed rotation, without the norm weights: G = R^T g
        G = _rotate(g, *(t.to(g.dtype) for t in (c, s, c, -s)), out=torch.empty_like(xn))
        dw = (xn * G).sum((0, 1, 3), dtype=torch.float32).view(2, 1, d).to(w.dtype)
        dxn = G.mul_(w.to(G.dtype))
        _rms_norm_backward(xn, r, dxn, out=dqkv[:, :, :2])
        dqkv[:, :, 2] = dv.transpose(1, 2)
        return dqkv, dw, None, None, None


def _rms_reciprocal(x: Tensor, eps: float) -> Tensor:
    """1 / rms(x) over the last dim, [..., 1] in x's dtype, accumulated in at least float32 (one pass)."""
    r = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=torch.promote_types(x.dtype, torch.float32))
    return r.square_().div_(x.shape[-1]).add_(eps).rsqrt_().to(x.dtype)


def _rms_norm_backward(y: Tensor, r: Tensor, dy: Tensor, out: Tensor | None = None) -> Tensor:
    """Gradient through y = x r with r = 1 / rms(x): dx = r (dy - y mean(y dy)), in three passes."""
    t = torch.linalg.vecdot(y, dy, dim=-1).unsqueeze(-1).div_(-y.shape[-1])
    return torch.mul(torch.addcmul(dy, y, t), r, out=out)


class RMSNormalize(torch.autograd.Function):
    """x / rms(x) over the last dim (no weight), written to a contiguous tensor whatever x's strides.

    One autograd node with a 2-pass forward and 3-pass backward, against the upcasting composite rms_norm.
    """

    @staticmethod
    def forward(ctx, x: Tensor, eps: float):
        r = _rms_reciprocal(x, eps)
        y = torch.mul(x, r, out=torch.empty(x.shape, dtype=x.dtype, device=x.device))
        ctx.save_for_backward(y, r)
        return y

    @staticmethod
    def backward(ctx, dy: Tensor):
        y, r = ctx.saved_tensors
        return _rms_norm_backward(y, r, dy), None


# --------------------------------------------------------------------------- attention

# Score tensors up to this many elements take the math path on CPU in bf16/fp16 (kept for the backward:
# 2 bytes each); longer sequences use the flash kernel, which never materialises them.
MATH_ATTENTION_MAX_SCORES = 1 << 25


def attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, scale: float | None = None
) -> Tensor:
    """The one attention call of the package.

    q: [B, H, Nq, d], k and v: [B, H, Nk, d] (heads first, as scaled_dot_product_attention), mask: bool
    [B, Nk] (True = attend) or None; `scale` as in SDPA (None: 1/sqrt(d); 1.0 when folded into q or k).
    Returns [B, Nq, H*d].

    The kernel is chosen here. On CPU in bf16 the flash kernel's backward is about twice as slow as the math
    path (two batched matmuls and a softmax), so short sequences take the math path; fp32, GPUs and long
    sequences take scaled_dot_product_attention (the fused flash kernel: no dropout, no LxL matrix).
    """
    B, H, Nq, d = q.shape
    small = B * H * Nq * k.shape[2] <= MATH_ATTENTION_MAX_SCORES
    if q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16) and small:
        out = math_attention(q, k, v, mask, scale)
    else:
        attn_mask = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, Nk)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask, scale=scale)  # (B, H, Nq, d)
    return out.transpose(1, 2).reshape(B, Nq, H * d)


def math_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, scale: float | None = None):
    """softmax(q k^T scale + mask) v with plain matmuls; arguments as `attention`, returns [B, H, Nq, d]."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    s = (q if scale == 1.0 else q * scale) @ k.transpose(-1, -2)  # (B, H, Nq, Nk)
    if mask is not None:
        s = s.masked_fill(~mask[:, None, None, :], float("-inf"))
    return s.softmax(-1) @ v
