"""DiT step benchmark: our VideoDiT against diffusers' Wan, CogVideoX, LTX-Video and Latte transformers.

    python benchmarks/dit_step.py                       # all peers, fp32 and bf16 autocast, fwd and fwd+bwd
    python benchmarks/dit_step.py --peers latte --modes fp32_fwd_bwd,bf16_fwd_bwd --json out.json
    python benchmarks/dit_step.py --threads 1 --clock cpu  # CPU seconds: steady on a shared host

Everything is random-init and measured in one run: same inputs (latent 2 x 16 x 8 x 16 x 16, patch (1, 2, 2):
2 x 512 tokens; 32 text tokens of width 512), same width (384 = 6 heads x 64) and depth (8), same precision.
Ours is timed as configured (attention "full") and as the opt-in "factorized" variant (`ours_fact`).
Models are timed round-robin within each mode, so a burst of outside load (frequent on this 2-core host)
hits all of them alike; median and min are kept. With `--clock cpu` each call is timed in process CPU
seconds instead of wall seconds: preemption by other jobs then costs nothing, which makes one thread on a
busy host give steady figures (with more threads, OpenMP spin-waits would count). FLOPs come from
torch.utils.flop_counter (with the CPU flash-attention kernel counted, which the stock counter misses);
MFU = FLOPs / median time / matmul peak of the same dtype and clock, the peak measured at the start and at
the end of the run (the larger is used).
The approach and the peer configurations follow the shared measuring stick (bench/video_dit_bench.py and
bench/peers.py); nothing here is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cineflow.config import DiTConfig
from cineflow.models.dit import VideoDiT

B, C, T, H, W = 2, 16, 8, 16, 16  # latent; patch (1, 2, 2) -> 8 * 8 * 8 = 512 tokens per sample
L, TEXT_DIM = 32, 512
HEADS, HEAD_DIM, DEPTH, MLP_RATIO = 6, 64, 8, 4.0
DIM = HEADS * HEAD_DIM
MODES = ("fp32_fwd", "fp32_fwd_bwd", "bf16_fwd", "bf16_fwd_bwd")


# --------------------------------------------------------------------------- models: forward(x, t, ctx) -> v


class Ours(nn.Module):
    """Our VideoDiT behind the peers' calling convention: t in [0, 1000], an all-valid text mask (the peers
    get none), pooled = mean of ctx. `attention="factorized"` is the opt-in Latte-style variant."""

    def __init__(self, attention: str = "full"):
        super().__init__()
        cfg = DiTConfig(in_channels=C, patch_size=(1, 2, 2), hidden_size=DIM, depth=DEPTH, num_heads=HEADS,
                        mlp_ratio=MLP_RATIO, text_dim=TEXT_DIM, attention=attention)  # fmt: skip
        self.inner = VideoDiT(cfg)
        with torch.no_grad():  # zero-init layers would make the backward pass artificially sparse
            for p in self.inner.parameters():
                if not p.any():
                    p.normal_(0.0, 0.02)

    def forward(self, x, t, ctx):
        mask = torch.ones(ctx.shape[:2], dtype=torch.bool)
        return self.inner(x, t / 1000.0, ctx, mask, ctx.mean(1))


class Wan(nn.Module):
    def __init__(self):
        super().__init__()
        from diffusers import WanTransformer3DModel

        self.inner = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=HEADS, attention_head_dim=HEAD_DIM, in_channels=C,
            out_channels=C, text_dim=TEXT_DIM, freq_dim=256, ffn_dim=int(DIM * MLP_RATIO), num_layers=DEPTH,
            cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
        )  # fmt: skip

    def forward(self, x, t, ctx):
        return self.inner(hidden_states=x, timestep=t, encoder_hidden_states=ctx, return_dict=False)[0]


class CogVideoX(nn.Module):
    def __init__(self):
        super().__init__()
        from diffusers import CogVideoXTransformer3DModel

        self.inner = CogVideoXTransformer3DModel(
            num_attention_heads=HEADS, attention_head_dim=HEAD_DIM, in_channels=C, out_channels=C,
            time_embed_dim=128, text_embed_dim=TEXT_DIM, num_layers=DEPTH, sample_width=W, sample_height=H,
            sample_frames=(T - 1) * 4 + 1, patch_size=2, temporal_compression_ratio=4, max_text_seq_length=L,
            use_rotary_positional_embeddings=False,
        )  # fmt: skip

    def forward(self, x, t, ctx):  # CogVideoX takes (B, T, C, H, W)
        out = self.inner(
            hidden_states=x.transpose(1, 2), encoder_hidden_states=ctx, timestep=t, return_dict=False
        )
        return out[0].transpose(1, 2)


class LTX(nn.Module):
    """Fed pre-patchified (1, 2, 2) tokens so that its token count matches the others."""

    def __init__(self):
        super().__init__()
        from diffusers import LTXVideoTransformer3DModel

        self.inner = LTXVideoTransformer3DModel(
            in_channels=C * 4, out_channels=C * 4, patch_size=1, patch_size_t=1, num_attention_heads=HEADS,
            attention_head_dim=HEAD_DIM, cross_attention_dim=DIM, num_layers=DEPTH, caption_channels=TEXT_DIM,
            qk_norm="rms_norm_across_heads",
        )  # fmt: skip

    def forward(self, x, t, ctx):
        tok = x.reshape(B, C, T, H // 2, 2, W // 2, 2).permute(0, 2, 3, 5, 1, 4, 6).reshape(B, -1, C * 4)
        mask = torch.ones(B, ctx.shape[1], dtype=x.dtype)
        out = self.inner(
            hidden_states=tok, encoder_hidden_states=ctx, timestep=t, encoder_attention_mask=mask,
            num_frames=T, height=H // 2, width=W // 2, return_dict=False,
        )[0]  # fmt: skip
        out = out.reshape(B, T, H // 2, W // 2, C, 2, 2).permute(0, 4, 1, 2, 5, 3, 6)
        return out.reshape(B, C, T, H, W)


class Latte(nn.Module):
    """depth/2 spatial + depth/2 temporal blocks (factorised attention): diffusers' `num_layers` builds that
    many spatial blocks AND as many temporal ones, so num_layers = depth/2 gives `depth` blocks in all, as
    ours has (its temporal blocks have no cross-attention, hence its fewer FLOPs)."""

    def __init__(self):
        super().__init__()
        from diffusers import LatteTransformer3DModel

        self.inner = LatteTransformer3DModel(
            num_attention_heads=HEADS, attention_head_dim=HEAD_DIM, in_channels=C, out_channels=C,
            num_layers=DEPTH // 2, cross_attention_dim=DIM, attention_bias=True, sample_size=H, patch_size=2,
            activation_fn="gelu-approximate", norm_type="ada_norm_single", norm_elementwise_affine=False,
            norm_eps=1e-6, caption_channels=TEXT_DIM, video_length=T,
        )  # fmt: skip

    def forward(self, x, t, ctx):
        return self.inner(hidden_states=x, timestep=t, encoder_hidden_states=ctx, return_dict=False)[0]


MODELS: dict[str, Callable[[], nn.Module]] = {
    "ours": Ours, "ours_fact": lambda: Ours("factorized"),
    "wan": Wan, "cogvideox": CogVideoX, "ltx": LTX, "latte": Latte,
}  # fmt: skip


# --------------------------------------------------------------------------- measuring


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def timed_round_robin(
    fns: dict[str, Callable[[], object]], min_reps: int, min_time: float, clock=time.perf_counter
) -> dict[str, list]:
    """Seconds per call of each fn, called A B C A B C ... until min_reps rounds and min_time s per fn."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in fns}
    start, rounds = time.perf_counter(), 0
    while rounds < min_reps or time.perf_counter() - start < min_time * len(fns):
        for k, fn in fns.items():
            t0 = clock()
            fn()
            times[k].append(clock() - t0)
        rounds += 1
    return times


def matmul_peak(dtype: torch.dtype, sizes=(1024, 2048), clock=time.perf_counter) -> float:
    """Best-of-sizes median GFLOP/s of a square torch.mm: the MFU denominator."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        torch.mm(a, b)
        runs = []
        for _ in range(7):
            t0 = clock()
            torch.mm(a, b)
            runs.append(clock() - t0)
        best = max(best, 2 * n**3 / statistics.median(runs) / 1e9)
    return best


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call; the CPU flash-attention kernels are counted like the GPU ones."""
    from torch.utils import flop_counter as fc

    def fwd(q, k, v, *args, out_shape=None, **kwargs):
        return fc.sdpa_flop_count(q, k, v)

    def bwd(grad_out, q, k, v, *args, out_shape=None, **kwargs):
        return fc.sdpa_backward_flop_count(grad_out, q, k, v)

    aten, mapping = torch.ops.aten, {}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = fwd
        mapping[aten._scaled_dot_product_flash_attention_for_cpu_backward] = bwd
    with fc.FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return counter.get_total_flops()


def step(mode: str, model: nn.Module, x, t, ctx, target) -> Callable[[], object]:
    """One forward (no grad) or forward+backward of `model`, in fp32 or under bf16 autocast."""
    prec, _, kind = mode.partition("_")

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16")

    if kind == "fwd":

        def fwd():
            with torch.no_grad(), autocast():
                return model(x, t, ctx)

        return fwd

    def fwd_bwd():
        model.zero_grad(set_to_none=True)
        with autocast():
            loss = F.mse_loss(model(x, t, ctx).float(), target)
        loss.backward()

    return fwd_bwd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", default="wan,cogvideox,ltx,latte", help="comma list of peers")
    ap.add_argument("--ours", default="ours,ours_fact", help="our variants: ours (default), ours_fact")
    ap.add_argument("--modes", default=",".join(MODES), help="comma list from " + ",".join(MODES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clock", choices=CLOCKS, default="wall",
                    help="cpu: process CPU time, immune to preemption (use with --threads 1)")  # fmt: skip
    ap.add_argument("--reps", type=int, default=5, help="min rounds per mode")
    ap.add_argument("--min-time", type=float, default=1.5, help="min seconds per model per mode")
    ap.add_argument("--compile", action="store_true", help="torch.compile every model (ours and peers alike)")
    ap.add_argument("--json", default=None, help="write every figure to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ours = [o for o in args.ours.split(",") if o]
    peers = [p for p in args.peers.split(",") if p]
    names, modes = [*ours, *peers], [m for m in args.modes.split(",") if m]
    for name in [*names, *modes]:
        if name not in MODELS and name not in MODES:
            raise SystemExit(f"unknown model or mode {name!r}")

    clock = CLOCKS[args.clock]
    peak = {"fp32": matmul_peak(torch.float32, clock=clock), "bf16": matmul_peak(torch.bfloat16, clock=clock)}
    g = torch.Generator().manual_seed(0)
    x, ctx = torch.randn(B, C, T, H, W, generator=g), torch.randn(B, L, TEXT_DIM, generator=g)
    t, target = torch.rand(B, generator=g) * 1000, torch.randn(B, C, T, H, W, generator=g)
    models = {}
    for name in names:
        torch.manual_seed(0)
        models[name] = MODELS[name]().eval()
    params = {n: sum(p.numel() for p in m.parameters()) for n, m in models.items()}
    flops = {n: {k: count_flops(step(f"fp32_{k}", m, x, t, ctx, target)) for k in ("fwd", "fwd_bwd")}
             for n, m in models.items()}  # fmt: skip
    if args.compile:  # compilation happens in each mode's warm-up call, outside the timing
        models = {n: torch.compile(m) for n, m in models.items()}
    print(f"torch {torch.__version__}, threads {args.threads}, {args.clock} clock, "
          f"{'compiled' if args.compile else 'eager'}, "
          f"latent {B}x{C}x{T}x{H}x{W} -> {B}x512 tokens, "
          f"width {DIM} ({HEADS}x{HEAD_DIM}), depth {DEPTH}; matmul peak fp32 {peak['fp32']:.0f}, "
          f"bf16 {peak['bf16']:.0f} GFLOP/s")  # fmt: skip
    times = {}
    for mode in modes:
        fns = {n: step(mode, m, x, t, ctx, target) for n, m in models.items()}
        times[mode] = timed_round_robin(fns, args.reps, args.min_time, clock)
    for prec in peak:  # the larger of start and end, as the host may have been busy at either
        dtype = torch.float32 if prec == "fp32" else torch.bfloat16
        peak[prec] = max(peak[prec], matmul_peak(dtype, clock=clock))
    report(ours, peers, modes, params, flops, times, peak)
    if args.json:
        out = {
            "peak_gflops": peak,
            "params": params,
            "flops": flops,
            "times_s": times,
            "threads": args.threads,
            "clock": args.clock,
            "compiled": args.compile,
        }
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1)
        os.replace(tmp, args.json)


def report(ours, peers, modes, params, flops, times, peak) -> None:
    names = [*ours, *peers]
    print(f"\nms per step: median (min) and MFU (median); {'model':>9} M params, GFLOP fwd")
    print(f"{'model':>10} {'Mparam':>6} {'GFLOP':>6} " + " ".join(f"{m:>22}" for m in modes))
    for n in names:
        cells = []
        for m in modes:
            med, mn = statistics.median(times[m][n]), min(times[m][n])
            mfu = flops[n][m.partition("_")[2]] / med / (peak[m.partition("_")[0]] * 1e9)
            cells.append(f"{1e3 * med:8.1f} ({1e3 * mn:6.1f}) {100 * mfu:4.1f}%")
        print(f"{n:>10} {params[n] / 1e6:6.2f} {flops[n]['fwd'] / 1e9:6.2f} " + " ".join(cells))
    if not peers:
        return
    for o in ours:
        print(f"\nspeed-up of {o} = peer time / its time, by median (by min); > 1: ours faster")
        for m in modes:
            o_med, o_min = statistics.median(times[m][o]), min(times[m][o])
            cells = [f"{n} {statistics.median(times[m][n]) / o_med:4.2f} ({min(times[m][n]) / o_min:4.2f})"
                     for n in peers]  # fmt: skip
            fastest = min(peers, key=lambda n: statistics.median(times[m][n]))
            print(f"{m:>13}: " + ", ".join(cells) + f"  | vs fastest peer ({fastest}): "
                  f"{statistics.median(times[m][fastest]) / o_med:4.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
