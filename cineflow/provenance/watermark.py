"""An invisible watermark for small videos: a keyed, low-frequency, spread-spectrum luma pattern.

Off-the-shelf image watermarks (`invisible-watermark`) refuse frames under 256x256, and a 64x64 frame
has too few pixels to hide a message in one frame. So the mark carries one bit, "made by cineflow", and
spreads it across space *and* time:

- Embedding adds `amplitude` (2 grey levels) to the luma of every pixel, with a sign that is constant
  inside each cell of a `GRID` x `GRID` grid laid over the frame (in normalised coordinates, so the grid
  follows the picture through any rescale) and drawn afresh for every frame from the key. The same
  offset goes to R, G and B, which moves luma by exactly that offset and leaves colour alone.
- Detection needs no original. The host is estimated by the per-pixel temporal median of a window of
  frames (Flatland backgrounds are static; moving objects are outliers the median ignores); the residual
  is clipped to a few grey levels so that a moving edge (a jump of 100+) cannot outvote the mark, averaged
  per cell (which also undoes a downscale and most of a codec's quantisation), and correlated with the
  keyed pattern. Under "no mark" the pattern is independent of the content, so the normalised
  correlation times sqrt(cells) is ~N(0, 1): a z-score whose threshold fixes the false-positive rate.

Short clips (fewer than `MIN_TEMPORAL` frames) and still images use a spatial host estimate instead
(each cell against the median of its neighbours), which holds for lossless files but is not claimed to
survive re-encoding.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

KEY = 0xC14EF10A  # public: anyone can detect the mark; it asserts origin, it is not a secret
GRID = 8  # cells per side; 8 px cells at 64x64, still 4 px after a 2x downscale
STILL_GRID = 16  # cells per side for stills and very short clips (no time to spread over); 16 = min side
AMPLITUDE = 4.0  # peak grey levels at a cell's centre (RMS = half this); PSNR ~42 dB
CLIP = 3.0  # residual clip, grey levels: bounds what one moving edge can contribute
WINDOW = 16  # frames per temporal-median window (keeps a camera pan from smearing the host estimate)
MIN_TEMPORAL = 4  # fewer frames than this: use the spatial host estimate
THRESHOLD = 5.0  # z-score above which the mark is present (~3e-7 false positives under N(0, 1))
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


def embed(frames: np.ndarray, key: int = KEY, amplitude: float = AMPLITUDE) -> np.ndarray:
    """Marked copy of uint8 [T, H, W, 3] frames (same shape and dtype)."""
    frames = _check(frames)
    T, H, W, _ = frames.shape
    g = grid_size(T)
    rows, cols = _cell_index(H, g), _cell_index(W, g)
    window = np.outer(_cell_window(H, g), _cell_window(W, g))  # (H, W), 0 at cell borders
    signs = pattern(T, key)
    out = np.empty_like(frames)
    for t in range(T):  # frame by frame: a long 1024x1024 video must not become one float array
        offset = amplitude * window * signs[t][rows][:, cols]  # (H, W)
        out[t] = np.clip(np.rint(frames[t] + offset[..., None]), 0, 255).astype(np.uint8)
    return out


def detect(frames: np.ndarray, key: int = KEY, threshold: float = THRESHOLD) -> Detection:
    """Look for the mark in uint8 [T, H, W, 3] frames; any size and length the embedder accepts."""
    frames = _check(frames)
    T = frames.shape[0]
    signs = pattern(T, key)
    if T >= MIN_TEMPORAL:
        # 1. Residual against the temporal median, window by window: (T, GRID, GRID)
        cells = np.concatenate([_temporal_residual_cells(frames[w]) for w in _windows(T)])
        template = np.concatenate([signs[w] - signs[w].mean(0, keepdims=True) for w in _windows(T)])
        # 2. Each window's residual is centred in time too, so the template must be as well
        cells = np.concatenate([cells[w] - cells[w].mean(0, keepdims=True) for w in _windows(T)])
    else:
        cells = np.stack([_spatial_residual_cells(f) for f in frames])
        template = signs
    # 3. Remove each frame's mean (a global brightness change is not the mark), then correlate
    cells = cells - cells.mean((1, 2), keepdims=True)
    template = template - template.mean((1, 2), keepdims=True)
    denom = float(np.sqrt((cells * cells).sum() * (template * template).sum()))
    z = 0.0 if denom == 0.0 else float((cells * template).sum() / denom * np.sqrt(template.size))
    return Detection(z=z, present=z > threshold, threshold=threshold)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 arrays of one shape (inf when equal)."""
    mse = float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * np.log10(255.0**2 / mse)


def _temporal_residual_cells(frames: np.ndarray) -> np.ndarray:
    """uint8 [t, H, W, 3] -> float32 [t, GRID, GRID]: clipped residual against the temporal median."""
    y = _luma(frames)  # (t, H, W)
    residual = np.clip(y - np.median(y, axis=0, keepdims=True), -CLIP, CLIP)
    return _cell_means(residual, GRID)


def _spatial_residual_cells(frame: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 [G, G]: each cell's luma against the median of its 3x3 block."""
    means = _cell_means(_luma(frame[None]), STILL_GRID)[0]  # (G, G)
    padded = np.pad(means, 1, mode="edge")
    g = STILL_GRID
    blocks = np.stack([padded[i : i + g, j : j + g] for i in range(3) for j in range(3)])
    return np.clip(means - np.median(blocks, axis=0), -CLIP, CLIP)


def _cell_means(y: np.ndarray, g: int) -> np.ndarray:
    """float [t, H, W] -> float32 [t, g, g]: the mean of each grid cell (cells cover every pixel)."""
    _, H, W = y.shape
    rows, cols = _cell_edges(H, g), _cell_edges(W, g)
    sums = np.add.reduceat(np.add.reduceat(y, rows[:-1], axis=1), cols[:-1], axis=2)
    return (sums / np.outer(np.diff(rows), np.diff(cols))[None]).astype(np.float32)


def _cell_edges(n: int, g: int) -> np.ndarray:
    return np.round(np.linspace(0, n, g + 1)).astype(np.int64)


def _cell_window(n: int, g: int) -> np.ndarray:
    """A half-sine bump over each of `g` cells along `n` pixels: smooth, so no cell edge is ever drawn."""
    edges = _cell_edges(n, g)
    index = _cell_index(n, g)
    start, width = edges[index], np.diff(edges)[index]
    return np.sin(np.pi * (np.arange(n) - start + 0.5) / width)


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
