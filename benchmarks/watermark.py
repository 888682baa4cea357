"""Watermark robustness and cost on Flatland clips.

    python benchmarks/watermark.py [--clips 200] [--unmarked 500] [--noise-clips 50] [--size 64x64]
                                   [--frames 17] [--seed 0]

For `--clips` marked clips (Flatland stream `--seed`, clip k), each stored the way the server stores it
(H.264 CRF 18 via cineflow.io.write_video), then attacked:
  - re-encoded with H.264 at CRF 28;
  - downscaled 2x (Pillow, area average) from the stored file;
  - both: downscaled, then re-encoded at CRF 28;
  - flicker (on `--noise-clips` clips): Gaussian luma noise of sd 4..64 on every pixel of every frame
    before marking, as a model's decoder might add, then stored at CRF 18.
Prints the detection rate after each (target >= 99%), the z-scores' spread, and the PSNR of marked vs
unmarked frames (target >= 40 dB). Then false positives on `--unmarked` unmarked clips from another
stream (target <= 1%), raw and after CRF 28 (the codec must not create a mark). Last, the cost of
embedding and detecting per clip next to its peer, the H.264 encode of the same clip, timed in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from cineflow.io import read_video, resize, write_video
from cineflow.provenance import watermark
from cineflow.world.stream import make_clip

UNMARKED_STREAM = 1_000_003  # a stream seed far from the marked clips' seeds
NOISE_SIGMAS = (4, 8, 16, 32, 64)  # grey levels of per-pixel, per-frame luma noise


def h264(frames: np.ndarray, crf: int, folder: Path) -> np.ndarray:
    path = folder / "clip.mp4"
    write_video(path, frames, 8, crf=crf)
    return read_video(path).frames


def downscale2(frames: np.ndarray) -> np.ndarray:
    _, H, W, _ = frames.shape
    return resize(frames, H // 2, W // 2)


def summary(zs: list[float]) -> str:
    detected = sum(z > watermark.THRESHOLD for z in zs)
    q = np.percentile(zs, [0, 1, 50])
    return (
        f"{detected}/{len(zs)} = {100 * detected / len(zs):6.2f}%   "
        f"z min {q[0]:5.1f}  p1 {q[1]:5.1f}  median {q[2]:5.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--unmarked", type=int, default=500)
    parser.add_argument("--noise-clips", type=int, default=50, help="clips for the flicker test")
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    geometry = {"width": width, "height": height, "num_frames": args.frames}

    zs: dict[str, list[float]] = {
        "stored (CRF 18)": [],
        "re-encoded CRF 28": [],
        "downscaled 2x": [],
        "downscaled 2x + CRF 28": [],
    }
    psnrs, t_embed, t_detect, t_encode = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for k in range(args.clips):
            frames = make_clip(args.seed, k, **geometry).frames
            t0 = time.perf_counter()
            marked = watermark.embed(frames)
            t1 = time.perf_counter()
            stored = h264(marked, 18, folder)
            t2 = time.perf_counter()
            zs["stored (CRF 18)"].append(watermark.detect(stored).z)
            t3 = time.perf_counter()
            t_embed.append(t1 - t0)
            t_encode.append(t2 - t1)
            t_detect.append(t3 - t2)
            psnrs.append(watermark.psnr(frames, marked))
            zs["re-encoded CRF 28"].append(watermark.detect(h264(stored, 28, folder)).z)
            small = downscale2(stored)
            zs["downscaled 2x"].append(watermark.detect(small).z)
            zs["downscaled 2x + CRF 28"].append(watermark.detect(h264(small, 28, folder)).z)

        # Flicker: fresh Gaussian luma noise on every pixel of every frame, as a decoder might add
        noisy: dict[int, list[float]] = {sigma: [] for sigma in NOISE_SIGMAS}
        noise = np.random.default_rng(args.seed)
        for k in range(args.noise_clips):
            frames = make_clip(args.seed, k, **geometry).frames.astype(np.float64)
            for sigma in NOISE_SIGMAS:
                flicker = noise.normal(0.0, sigma, frames.shape[:3])[..., None]
                dirty = np.clip(np.rint(frames + flicker), 0, 255).astype(np.uint8)
                noisy[sigma].append(watermark.detect(h264(watermark.embed(dirty), 18, folder)).z)

        false_raw, false_crf = [], []
        for k in range(args.unmarked):
            frames = make_clip(UNMARKED_STREAM + args.seed, k, **geometry).frames
            false_raw.append(watermark.detect(frames).z)
            false_crf.append(watermark.detect(h264(frames, 28, folder)).z)

    print(
        f"watermark benchmark: Flatland {width}x{height}, {args.frames} frames, "
        f"threshold z > {watermark.THRESHOLD}"
    )
    print(f"marked clips: {args.clips} (stream seed {args.seed})")
    for name, values in zs.items():
        print(f"  detected, {name:24s} {summary(values)}")
    for sigma, values in noisy.items():
        print(f"  detected, flicker sd {sigma:2d} + CRF 18 {summary(values)}")
    print(f"  PSNR marked vs unmarked: mean {statistics.mean(psnrs):.2f} dB, min {min(psnrs):.2f} dB")
    print(f"unmarked clips: {args.unmarked} (stream seed {UNMARKED_STREAM + args.seed})")
    for name, values in (("raw", false_raw), ("after CRF 28", false_crf)):
        hits = sum(z > watermark.THRESHOLD for z in values)
        print(
            f"  false positives, {name:13s} {hits}/{len(values)} = {100 * hits / len(values):5.2f}%   "
            f"z mean {np.mean(values):+.2f}  sd {np.std(values):.2f}  max {max(values):.2f}"
        )
    ms = {
        name: 1000 * statistics.median(v)
        for name, v in (("embed", t_embed), ("detect", t_detect), ("H.264 encode (peer)", t_encode))
    }
    print("cost per clip (median): " + ", ".join(f"{k} {v:.2f} ms" for k, v in ms.items()))
    peer = ms["H.264 encode (peer)"]
    print(f"  embed / encode = {ms['embed'] / peer:.2f}x, detect / encode = {ms['detect'] / peer:.2f}x")


if __name__ == "__main__":
    main()
