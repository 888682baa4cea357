"""`cineflow vae roundtrip IN -o OUT [--model DIR]`: encode and decode a video or image, report PSNR/SSIM."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("vae", help="causal video VAE tools", description="Causal video VAE tools.")
    sub = p.add_subparsers(dest="vae_command", metavar="ACTION", required=True)
    rt = sub.add_parser(
        "roundtrip",
        help="encode + decode a video or image through the VAE and print PSNR/SSIM",
        description="Encode and decode IN through the VAE, write the result to OUT and print PSNR/SSIM. "
        "Frames are trimmed to 1 + 4k and the size cropped to multiples of 8 (the VAE's grid), with a note.",
    )
    rt.add_argument("input", metavar="IN", help="video (.mp4, .webm, .gif, ...) or image (.png, .jpg)")
    rt.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="output file (.mp4, .webm, .gif, .png)"
    )
    rt.add_argument(
        "--model", default=None, metavar="DIR", help="VAE folder (default: the bundled Flatland VAE)"
    )
    rt.add_argument("--chunk", type=int, default=4, help="latent frames per chunk (memory bound; default 4)")
    rt.add_argument(
        "--tile", type=int, default=256, help="spatial tile in pixels, multiple of 64 (default 256)"
    )
    rt.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from cineflow import io
    from cineflow.models.vae import load_vae
    from cineflow.train.losses import psnr, ssim

    if args.chunk < 1:
        raise ValueError(f"--chunk: latent frames per chunk must be >= 1, got {args.chunk}")
    if args.tile < 64 or args.tile % 64:
        raise ValueError(f"--tile: a multiple of 64 pixels >= 64 is accepted, got {args.tile}")
    video = io.read_video(args.input)
    vae = load_vae(args.model)
    r, s = vae.cfg.temporal_down, vae.cfg.spatial_down
    T, H, W = video.frames.shape[:3]
    t, h, w = 1 + (T - 1) // r * r, H // s * s, W // s * s
    if h == 0 or w == 0:
        raise ValueError(f"IN: {H}x{W} is smaller than the VAE's {s}x{s} grid")
    if (t, h, w) != (T, H, W):
        print(f"note: {T}x{H}x{W} (frames x height x width) trimmed to {t}x{h}x{w}", file=sys.stderr)
    top, left = (H - h) // 2, (W - w) // 2
    frames = video.frames[:t, top : top + h, left : left + w]
    x = io.to_tensor(frames)[None]  # (1, 3, t, h, w)
    with torch.no_grad():
        z = vae.encode(x, chunk_frames=args.chunk, tile_size=args.tile, tile_overlap=args.tile // 2)
        y = vae.decode(
            z, chunk_frames=args.chunk, tile_size=args.tile // s, tile_overlap=args.tile // (2 * s)
        )
    out = io.from_tensor(y[0])
    io.write_video(args.output, out, video.fps)
    a = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 255  # (1, 3, t, h, w) in [0, 1]
    b = torch.from_numpy(out).permute(3, 0, 1, 2)[None].float() / 255
    print(
        f"PSNR {psnr(a, b).item():.2f} dB  SSIM {ssim(a, b).item():.4f}  "
        f"({t} frames {h}x{w} -> latents {list(z.shape[1:])}; wrote {args.output})"
    )
    return 0
