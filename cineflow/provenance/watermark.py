"""An invisible watermark for small videos: a keyed, masked, spread-spectrum luma pattern.

Off-the-shelf image watermarks (`invisible-watermark`) refuse frames under 256x256, and a 64x64 frame
has too few pixels to hide a message in one frame. So the mark carries one bit, "made by cineflow", and
spreads it across space *and* time:

- Embedding adds a smooth bump to the luma of every cell of a `GRID` x `GRID` grid laid over each frame
  (in normalised coordinates, so the grid follows the picture through any rescale), with a sign drawn
  afresh for every cell of every frame from the key. The bump is flat-topped (a half-sine raised by
  `PLATEAU` and cut at 1): at the same peak it carries about twice the energy of a plain half-sine, and
  more of its pixels keep a whole grey level through rounding and re-encoding. Its height follows the
  picture (perceptual masking): `FLAT_AMPLITUDE` on flat colour, where the eye would see it, up to
  `TEXTURE_AMPLITUDE` where texture or motion hides it, capped so that the RMS change stays near `MAX_RMS`
  (PSNR >= 42 dB).
  The same offset goes to R, G and B, which moves luma by exactly that offset and leaves colour alone.
- Detection needs no original. The host picture is predicted twice, by the temporal median of a window
  of frames (right for static scenes) and by a local spatial mean of each frame (right for moving or
  noise-like content); each cell of each window keeps the prediction that leaves less residual energy.
  The residual is clipped (a moving edge cannot outvote the mark), matched-filtered per cell, divided by
  its own local spread (soft-decision: a noisy cell counts less), centred, and correlated with the keyed
  signs. Every step before the correlation looks at the pixels only, never at the key, so on unmarked
  video z = sum(a_i s_i) / |a| with fixed a_i and independent random signs s_i: Hoeffding's inequality
  gives P(z > t) <= exp(-t^2 / 2) for *any* content, 3.7e-6 at the threshold t = 5.

Short clips (fewer than `MIN_TEMPORAL` frames) and stills use a finer grid and the spatial prediction
only; that holds for lossless files but is not claimed to survive re-encoding.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

KEY = 0xC14EF10A  # public: anyone can detect the mark; it asserts origin, it is not a secret
GRID = 8  # cells per side; 8 px cells at 64x64 (smaller cells do not survive H.264 at CRF 28)
STILL_GRID = 16  # cells per side for stills and very short clips (no time to spread over); 16 = min side
FLAT_AMPLITUDE = 2.0  # peak grey levels of a bump on flat colour (half of v1: no visible blobs)
# Peak grey levels where texture or motion masks the mark. v2 had 6: under the RMS cap that put most of a
# busy clip's energy on its moving edges, which H.264 at CRF 28 predicts from the last frame and drops
TEXTURE_AMPLITUDE = 3.0
TEXTURE_KNEE = 8.0  # local luma spread (grey levels) at which a region counts as fully textured
PLATEAU = 1.5  # the bump is min(1, PLATEAU * half-sine): flat-topped, still 0 at cell borders
MAX_RMS = 1.8  # cap on the RMS change of a clip before rounding, grey levels: PSNR ~43 dB
CLIP = 3.0  # residual clip, grey levels: bounds what one moving edge can contribute
HOST_SIGMA = 0.35  # spatial host prediction: Gaussian sd in cells (smaller removes more host, less mark)
WINDOW = 16  # frames per temporal-median window (keeps a camera pan from smearing the host estimate)
MIN_TEMPORAL = 4  # fewer frames than this: spatial host prediction only
THRESHOLD = 5.0  # z above which the mark is present: P(false positive) <= exp(-12.5) = 3.7e-6
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class Detection:
    """The detector's verdict: `z` is ~N(0, 1) on unmarked video and large on marked video."""

    z: float
    present: bool
    threshold: float = THRESHOLD

    def to_dict(self) -> dict[str, float | bool]:
        return {"z": round(self.z, 2), "present": self.present, "threshold": self.threshold}


def grid_size(num_frames: int) -> int:
    """Cells per side: coarse for videos (robust), fine for stills (the only way to get enough cells)."""
    return GRID if num_frames >= MIN_TEMPORAL else STILL_GRID


def pattern(num_frames: int, key: int = KEY) -> np.ndarray:
    """The keyed signs, float32 [T, G, G] in {-1, +1}; frame t's signs depend only on (key, t, G)."""
    g = grid_size(num_frames)
    signs = np.array([-1.0, 1.0], np.float32)
    return np.stack([np.random.default_rng([key, g, t]).choice(signs, (g, g)) for t in range(num_frames)])


def strength(frames: np.ndarray) -> np.ndarray:
    """The perceptual mask: peak offset in grey levels, float32 [T, H, W], from uint8 [T, H, W, 3] frames.

    FLAT_AMPLITUDE where the picture is flat and still, rising to TEXTURE_AMPLITUDE where the local luma
    spread (texture at the cell scale, or the change since the previous frame) reaches TEXTURE_KNEE.
    """
    frames = _check(frames)
    return np.stack([_strength(frames, t) for t in range(frames.shape[0])])


def embed(frames: np.ndarray, key: int = KEY) -> np.ndarray:
    """Marked copy of uint8 [T, H, W, 3] frames (same shape and dtype)."""
    frames = _check(frames)
    T, H, W, _ = frames.shape
    g = grid_size(T)
    rows, cols = _cell_index(H, g), _cell_index(W, g)
    window = np.outer(_cell_window(H, g), _cell_window(W, g))  # (H, W), 0 at cell borders
    signs = pattern(T, key)

    def offset(t: int) -> np.ndarray:  # (H, W); frame by frame, so a long 1024x1024 video stays small
        return _strength(frames, t) * window * signs[t][rows][:, cols]

    rms = float(np.sqrt(sum(float(np.mean(offset(t) ** 2)) for t in range(T)) / T))
    scale = min(1.0, MAX_RMS / rms)  # textured clips: the texture could hide more, but PSNR is the promise
    out = np.empty_like(frames)
    for t in range(T):
        out[t] = np.clip(np.rint(frames[t] + scale * offset(t)[..., None]), 0, 255).astype(np.uint8)
    return out


def detect(frames: np.ndarray, key: int = KEY, threshold: float = THRESHOLD) -> Detection:
    """Look for the mark in uint8 [T, H, W, 3] frames; any size and length the embedder accepts."""
    frames = _check(frames)
    T = frames.shape[0]
    g = grid_size(T)
    spans = _windows(T) if T >= MIN_TEMPORAL else [slice(0, T)]
    # 1. Per window: residual against the better host prediction, matched-filtered per cell: (t, G, G)
    evidence = np.concatenate([_cell_evidence(frames[w], g) for w in spans])
    # 2. Remove each frame's mean (a global brightness change is not the mark), then correlate
    evidence = evidence - evidence.mean((1, 2), keepdims=True)
    norm = float(np.sqrt((evidence * evidence).sum()))
    z = 0.0 if norm == 0.0 else float((evidence * pattern(T, key)).sum() / norm)
    return Detection(z=z, present=z > threshold, threshold=threshold)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 arrays of one shape (inf when equal)."""
    mse = float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * np.log10(255.0**2 / mse)


def _strength(frames: np.ndarray, t: int) -> np.ndarray:
    """Frame t's mask, float32 [H, W] (see `strength`)."""
    T, H, W, _ = frames.shape
    cell = max(H, W) / grid_size(T)
    reach = max(3, round(cell / 2))  # px: texture masks only what lies close to it
    y = _luma(frames[t])
    detail = y - ndimage.gaussian_filter(y, cell / 4, mode="nearest")
    spread = np.sqrt(np.maximum(ndimage.uniform_filter(detail * detail, reach, mode="nearest"), 0.0))
    if t > 0:
        motion = ndimage.uniform_filter(np.abs(y - _luma(frames[t - 1])), reach, mode="nearest")
        spread = np.maximum(spread, motion)
    texture = np.clip(spread / TEXTURE_KNEE, 0.0, 1.0)
    return (FLAT_AMPLITUDE + (TEXTURE_AMPLITUDE - FLAT_AMPLITUDE) * texture).astype(np.float32)


def _cell_evidence(frames: np.ndarray, g: int) -> np.ndarray:
    """uint8 [t, H, W, 3] -> float32 [t, g, g]: each cell's matched-filter response over its own spread.

    A function of the pixels alone (never of the key), which is what makes the z-score's bound hold.
    """
    t, H, W, _ = frames.shape
    y = _luma(frames)  # (t, H, W)
    sigma = HOST_SIGMA * max(H, W) / g
    spatial = np.clip(y - ndimage.gaussian_filter(y, (0, sigma, sigma), mode="nearest"), -CLIP, CLIP)
    residual = spatial
    if t >= MIN_TEMPORAL:
        temporal = np.clip(y - np.median(y, axis=0, keepdims=True), -CLIP, CLIP)
        # Per cell, the prediction that explains the host better: the median for a static background,
        # the spatial mean where things move or every pixel changes every frame
        still = _cell_sums(temporal * temporal, g).sum(0) <= _cell_sums(spatial * spatial, g).sum(0)
        residual = np.where(still[_cell_index(H, g)][:, _cell_index(W, g)], temporal, spatial)
    window = np.outer(_cell_window(H, g), _cell_window(W, g))  # the bump: matched filter
    response = _cell_sums(residual * window, g)
    spread = np.sqrt(_cell_sums(residual * residual * window * window, g) + 1e-2)
    evidence = response / spread
    if t >= MIN_TEMPORAL:  # the median residual is centred in time; centre the spatial cells alike
        evidence = evidence - evidence.mean(0, keepdims=True)
    return evidence.astype(np.float32)


def _cell_sums(y: np.ndarray, g: int) -> np.ndarray:
    """float [t, H, W] -> float [t, g, g]: the sum over each grid cell (cells cover every pixel)."""
    _, H, W = y.shape
    rows, cols = _cell_edges(H, g), _cell_edges(W, g)
    return np.add.reduceat(np.add.reduceat(y, rows[:-1], axis=1), cols[:-1], axis=2)


def _cell_edges(n: int, g: int) -> np.ndarray:
    return np.round(np.linspace(0, n, g + 1)).astype(np.int64)


def _cell_window(n: int, g: int) -> np.ndarray:
    """A flat-topped bump over each of `g` cells along `n` pixels: a half-sine times PLATEAU, cut at 1. It
    falls to 0 at cell borders, so no cell edge is ever drawn."""
    edges = _cell_edges(n, g)
    index = _cell_index(n, g)
    start, width = edges[index], np.diff(edges)[index]
    return np.minimum(1.0, PLATEAU * np.sin(np.pi * (np.arange(n) - start + 0.5) / width))


def _cell_index(n: int, g: int) -> np.ndarray:
    """Which of `g` cells each of `n` pixels falls in; consistent with `_cell_edges`."""
    return np.searchsorted(_cell_edges(n, g), np.arange(n), side="right") - 1


def _windows(T: int) -> list[slice]:
    """Consecutive windows of about WINDOW frames, none shorter than MIN_TEMPORAL."""
    count = max(1, T // WINDOW)
    edges = np.round(np.linspace(0, T, count + 1)).astype(int)
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def _luma(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) @ _LUMA


def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    g = grid_size(frames.shape[0])
    if frames.shape[1] < g or frames.shape[2] < g:
        size = f"{frames.shape[2]}x{frames.shape[1]}"
        raise ValueError(f"frames: each side must be >= {g} pixels, got {size}")
    return frames
