"""Reconstruction quality of a VAE on unseen Flatland clips read back from mp4, and on 1-frame images.

    python benchmarks/vae_quality.py [--model DIR] [--clips 32] [--seed 424242] [--json OUT]

Clip k of Flatland stream `--seed` (a seed the trainer never used: training reads stream 0 and the
latent statistics stream 1000003) is rendered at 17x64x64, written as H.264 mp4 (CRF 18) and read back;
the read-back frames go through encode -> decode (posterior mean) and are compared with themselves: the
VAE is judged on what a user would feed it. The middle frame of each clip, written as .png and read back,
is the 1-frame image test. PSNR is averaged over clips (each clip's PSNR over all its pixels); SSIM is
per frame, averaged. For scale, the codec's own loss is printed too: the read-back clip against the clean
render (the VAE is not asked to undo it, but any clean-looking output pays it).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from cineflow import io
from cineflow.models.vae import VideoVAE, load_vae
from cineflow.train.losses import psnr, ssim
from cineflow.world.stream import make_clip


def roundtrip(vae: VideoVAE, frames: np.ndarray) -> np.ndarray:
    """uint8 [T, H, W, 3] -> its VAE reconstruction, uint8 [T, H, W, 3]."""
    with torch.no_grad():
        return io.from_tensor(vae.decode(vae.encode(io.to_tensor(frames)[None]))[0])


def scores(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(PSNR dB, SSIM) of two uint8 [T, H, W, 3] videos."""
    x = torch.from_numpy(a).permute(3, 0, 1, 2)[None].float() / 255  # (1, 3, T, H, W)
    y = torch.from_numpy(b).permute(3, 0, 1, 2)[None].float() / 255
    return psnr(x, y).item(), ssim(x, y).item()


def evaluate(vae: VideoVAE, clips: int, seed: int, folder: Path) -> dict[str, float]:
    video_scores, image_scores, codec_scores = [], [], []
    for k in range(clips):
        frames = make_clip(seed, k, width=64, height=64, num_frames=17, fps=8).frames
        mp4, png = folder / f"clip{k}.mp4", folder / f"frame{k}.png"
        io.write_video(mp4, frames, 8)
        io.write_video(png, frames[len(frames) // 2 : len(frames) // 2 + 1], 8)
        video = io.read_video(mp4).frames
        image = io.read_video(png).frames
        codec_scores.append(scores(frames, video))
        video_scores.append(scores(video, roundtrip(vae, video)))
        image_scores.append(scores(image, roundtrip(vae, image)))
    v, i, c = np.array(video_scores), np.array(image_scores), np.array(codec_scores)
    return {
        "clips": clips,
        "video_psnr": float(v[:, 0].mean()),
        "video_psnr_min": float(v[:, 0].min()),
        "video_ssim": float(v[:, 1].mean()),
        "image_psnr": float(i[:, 0].mean()),
        "image_psnr_min": float(i[:, 0].min()),
        "image_ssim": float(i[:, 1].mean()),
        "codec_psnr": float(c[:, 0].mean()),
        "codec_psnr_min": float(c[:, 0].min()),
    }


def tiling_error(vae: VideoVAE, seed: int) -> dict[str, float]:
    """Mean |tiled - untiled| (in [-1, 1] units) on an unseen 17x128x128 Flatland clip: encode with 64-pixel
    tiles overlapping by 32, decode with 8-latent tiles overlapping by 4, both 2 latent frames a chunk."""
    x = io.to_tensor(make_clip(seed, 10_000, width=128, height=128, num_frames=17).frames)[None]
    with torch.no_grad():
        z = vae.encode(x)
        y = vae.decode(z)
        z_tiled = vae.encode(x, chunk_frames=2, tile_size=64, tile_overlap=32)
        y_tiled = vae.decode(z, chunk_frames=2, tile_size=8, tile_overlap=4)
    return {
        "tiled_encode_mad": (z_tiled - z).abs().mean().item(),
        "tiled_decode_mad": (y_tiled - y).abs().mean().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="VAE folder (default: the bundled Flatland VAE)")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--seed", type=int, default=424242)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vae = load_vae(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        result = evaluate(vae, args.clips, args.seed, Path(tmp)) | tiling_error(vae, args.seed)
    print(f"model: {args.model or 'bundled'}  unseen clips: {args.clips} (Flatland stream {args.seed})")
    print(
        f"17x64x64 clips via mp4: PSNR {result['video_psnr']:.2f} dB (min {result['video_psnr_min']:.2f}), "
        f"SSIM {result['video_ssim']:.4f}"
    )
    print(
        f"1-frame images via png: PSNR {result['image_psnr']:.2f} dB (min {result['image_psnr_min']:.2f}), "
        f"SSIM {result['image_ssim']:.4f}"
    )
    print(
        f"the codec alone (read-back clip vs clean render): PSNR {result['codec_psnr']:.2f} dB "
        f"(min {result['codec_psnr_min']:.2f})"
    )
    print(
        f"tiled vs untiled on 17x128x128: latents {result['tiled_encode_mad']:.2e}, "
        f"video {result['tiled_decode_mad']:.2e} (mean abs diff)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
