"""VAE speed on CPU: encode/decode frames per second for ours and for diffusers' CogVideoX VAE at a comparable
size, measured in the same run, plus peak memory of a 60-second clip through chunked encode/decode.

    python benchmarks/vae_speed.py [--model DIR] [--threads 2] [--repeats 5]

Both models run fp32 on a 17x64x64 clip (batch 1) under torch.no_grad. The peer is AutoencoderKLCogVideoX
(causal 3D VAE, 4x8x8, 16 latent channels) from random init with channels cut to ours (16, 32, 64, 64) and
one layer per block, so the comparison is of designs at equal width rather than of a 200M model against a
1.5M one. The two are timed in rotation (host noise on a shared machine); median and minimum are printed,
with the ratio of medians. The long clip (481 frames, 64x64, Flatland) runs in a fresh subprocess whose
peak RSS (resource.getrusage, includes the Python + torch baseline) is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

LONG_CHILD = r"""
import json, resource, sys, time, torch
from cineflow import io
from cineflow.models.vae import load_vae
from cineflow.world.stream import make_clip
torch.set_num_threads(int(sys.argv[2]))
model = None if sys.argv[1] == "-" else sys.argv[1]
vae = load_vae(model)
frames = make_clip(7, 0, num_frames=481, width=64, height=64, fps=8).frames
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
x = io.to_tensor(frames)[None]
t0 = time.perf_counter()
with torch.no_grad():
    z = vae.encode(x, chunk_frames=4, tile_size=256, tile_overlap=128)
    t1 = time.perf_counter()
    y = vae.decode(z, chunk_frames=4, tile_size=32, tile_overlap=16)
t2 = time.perf_counter()
mse = ((y - x) / 2).pow(2).mean().item()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"frames": len(frames), "latents": list(z.shape), "encode_s": t1 - t0, "decode_s": t2 - t1,
                  "psnr": 10 * torch.log10(torch.tensor(1 / mse)).item(),
                  "rss_before_mb": base / 1024, "peak_rss_mb": peak / 1024}))
"""


def cogvideox_peer() -> torch.nn.Module:
    from diffusers import AutoencoderKLCogVideoX

    return AutoencoderKLCogVideoX(
        block_out_channels=(16, 32, 64, 64),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=16,
        temporal_compression_ratio=4,
    ).eval()


def time_pair(fns: dict[str, callable], repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up (oneDNN picks its kernels on the first call)
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="VAE folder (default: the bundled Flatland VAE)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-long", action="store_true", help="skip the 60-second clip")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from cineflow.models.vae import load_vae

    ours = load_vae(args.model)
    peer = cogvideox_peer()
    x = torch.rand(1, 3, 17, 64, 64) * 2 - 1
    with torch.no_grad():
        z_ours = ours.encode(x)
        z_peer = peer.encode(x).latent_dist.mode()
        print(f"latents: ours {list(z_ours.shape)}, CogVideoX {list(z_peer.shape)}")
        print(
            f"parameters: ours {sum(p.numel() for p in ours.parameters()) / 1e6:.2f}M, "
            f"CogVideoX (reduced) {sum(p.numel() for p in peer.parameters()) / 1e6:.2f}M"
        )
        times = time_pair(
            {
                "ours encode": lambda: ours.encode(x),
                "peer encode": lambda: peer.encode(x),
                "ours decode": lambda: ours.decode(z_ours),
                "peer decode": lambda: peer.decode(z_peer),
            },
            args.repeats,
        )
    for name, ts in times.items():
        med, low = statistics.median(ts), min(ts)
        print(f"{name:12s} median {med * 1e3:7.1f} ms ({17 / med:6.1f} frames/s), min {low * 1e3:7.1f} ms")
    for op in ("encode", "decode"):
        ratio = statistics.median(times[f"peer {op}"]) / statistics.median(times[f"ours {op}"])
        print(f"{op}: ours is {ratio:.2f}x the speed of CogVideoX at equal width (ratio of medians)")
    if not args.skip_long:
        out = subprocess.run(
            [sys.executable, "-c", LONG_CHILD, args.model or "-", str(args.threads)],
            capture_output=True,
            text=True,
            check=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"60-s clip ({r['frames']} frames 64x64 -> latents {r['latents'][1:]}), 4 latent frames a chunk: "
            f"encode {r['encode_s']:.1f} s, decode {r['decode_s']:.1f} s, PSNR {r['psnr']:.2f} dB, "
            f"peak RSS {r['peak_rss_mb']:.0f} MB (after loading and rendering: {r['rss_before_mb']:.0f} MB)"
        )


if __name__ == "__main__":
    main()
