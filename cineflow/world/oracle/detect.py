"""Per-frame object detection: pixels -> palette labels -> blobs -> soft masks -> shape, size, angle.

Flatland draws flat palette colours (vocab.COLORS) on a flat background, so a pixel's nearest palette
colour says what it belongs to. Three things shape the code here:

- anti-aliased edges blend two colours, and a blend of red and yellow is close to orange: such rims are
  at most a pixel or two wide, so a blob must be *thick* (its deepest pixel at least `MIN_DEPTH` from
  its border) to count as an object;
- H.264 yuv420p halves chroma resolution and smears colour across edges, so colour distance is measured
  in YCbCr with luma weighted above chroma;
- a 64x64 frame draws a small object ~9 px across, too few hard pixels for corner counting. Each blob is
  therefore measured on a *soft* mask, the pixel's position between the local background colour and the
  object colour (the renderer's own coverage, up to noise), and its shape is read from angular
  harmonics of that mass: |sum a r e^{i n theta}| / sum a r is ~0 for a disc and peaks at n = 4 for a
  square, 3 for a triangle and 5 for a five-pointed star, whatever the rotation. The phase of the peak
  harmonic is the object's angle (modulo its symmetry), which is how spin is seen.

Size is the diameter of the bounding circle in units of the frame's shorter side (vocab.SIZES): the
bounding radius follows from the soft area and the shape's area factor (area = k R^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cineflow.world import vocab
from cineflow.world.render import LANDMARK_TINT, UNIT_AREA

OBJECT_COLORS: tuple[str, ...] = tuple(vocab.COLORS)
# Scene labels: the backgrounds, their floor shades and the camera landmarks drawn on both (tinted toward
# white). They are classified too, so that a dark floor pixel is never mistaken for an object colour.
_BASES: dict[str, tuple[float, float, float]] = {
    **{f"bg:{k}": tuple(float(c) for c in v) for k, v in vocab.BACKGROUNDS.items()},
    **{f"floor:{k}": tuple(c * vocab.FLOOR_SHADE for c in v) for k, v in vocab.BACKGROUNDS.items()},
}
SCENE_COLORS: dict[str, tuple[float, float, float]] = {
    **_BASES,
    **{f"mark:{k}": tuple(c + LANDMARK_TINT * (255 - c) for c in v) for k, v in _BASES.items()},
}
LABELS: tuple[str, ...] = (*OBJECT_COLORS, *SCENE_COLORS)
_PALETTE = np.array([*vocab.COLORS.values(), *SCENE_COLORS.values()], dtype=np.float32)  # (K, 3)
_N_OBJ = len(OBJECT_COLORS)

_CHROMA_WEIGHT = 0.7  # luma keeps full resolution through yuv420p; chroma is halved and blurred
MIN_DEPTH = 1.5  # pixels: blends along an edge are 1-2 px wide, a real object is thicker
# The harmonic order that identifies each shape; the area for a bounding radius of 1 is the renderer's.
SHAPE_ORDER: dict[str, int] = {"circle": 0, "triangle": 3, "square": 4, "star": 5}
OFF_LINE = 45.0  # RGB distance from the background-object blend line beyond which a pixel is another colour
ROUND_BELOW = 0.09  # largest harmonic under this: no corners, a circle (polygons give 0.2-0.45)
# Averaged over a track's frames, a disc's harmonics stay under 0.05 even small and through H.264, while a
# small shape drawn mostly in chroma (purple or red on gray: the same luma) keeps 0.07 and more.
TRACK_ROUND_BELOW = 0.06


@dataclass(frozen=True)
class Blob:
    """One object colour region in one frame (pixel coordinates, x right, y down)."""

    color: str
    area: float  # soft area in pixels
    center: tuple[float, float]  # soft centroid (x, y)
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the hard pixels (exclusive)
    harmonics: tuple[float, float, float]  # strength of orders 3, 4, 5
    angle: float  # degrees, phase of the strongest polygon harmonic divided by its order
    phases: tuple[float, float, float]  # degrees: the angle each polygon reading (orders 3-5) gives
    shape: str  # best shape guess from this frame alone
    radius: float  # bounding radius implied by area and shape, pixels
    touches_edge: bool  # reaches the frame border: may be cut
    crowded: bool  # touches another object's pixels: may be occluded or merged

    @property
    def clean(self) -> bool:
        """Whole and alone: its shape and size can be trusted."""
        return not (self.touches_edge or self.crowded)


def to_space(rgb: np.ndarray) -> np.ndarray:
    """RGB [..., 3] (0-255) -> weighted YCbCr [..., 3], where Euclidean distance is the colour distance."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = (b - y) * 0.564 * _CHROMA_WEIGHT
    cr = (r - y) * 0.713 * _CHROMA_WEIGHT
    return np.stack([y, cb, cr], axis=-1)


_PALETTE_SPACE = to_space(_PALETTE).astype(np.float32)  # (K, 3)


def nearest_label(rgb: np.ndarray) -> np.ndarray:
    """Nearest palette label of colours [N, 3] (0-255) -> int8 [N]."""
    x = to_space(rgb.astype(np.float32))  # (N, 3)
    # |x - p|^2 = |x|^2 - 2 x.p + |p|^2, and |x|^2 is the same for every label: one small matmul
    d2 = (_PALETTE_SPACE**2).sum(-1) - 2 * x @ _PALETTE_SPACE.T  # (N, K)
    return d2.argmin(-1).astype(np.int8)


_LUT_BITS = 6  # colours are looked up at 6 bits a channel: 4 levels apart, finer than any label boundary
_lut: np.ndarray | None = None


def classify_pixels(frames: np.ndarray) -> np.ndarray:
    """Nearest-label classification. frames: uint8 [T, H, W, 3] -> labels int8 [T, H, W] indexing LABELS.

    Goes through a table of every 6-bit colour (built once, 262k entries), which is ~20x faster than
    measuring each pixel against each label.
    """
    global _lut
    shift = 8 - _LUT_BITS
    if _lut is None:
        levels = (np.arange(1 << _LUT_BITS) << shift) + (1 << shift) // 2  # bin centres
        grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
        _lut = nearest_label(grid)
    q = frames >> shift  # (T, H, W, 3)
    index = (
        (q[..., 0].astype(np.int32) << (2 * _LUT_BITS))
        | (q[..., 1].astype(np.int32) << _LUT_BITS)
        | q[..., 2]
    )
    return _lut[index]


def classify_size(radius_px: float, short_side: int, scale: float = 1.0) -> str:
    """Size class from a bounding radius in pixels; `scale` undoes a camera zoom (1 = none)."""
    diameter = 2 * radius_px / (short_side * scale)
    return min(vocab.SIZES, key=lambda s: abs(math.log(max(diameter, 1e-6) / vocab.SIZES[s])))


def harmonics(alpha: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Soft centroid and angular harmonics of a coverage map alpha [h, w] in [0, 1].

    Returns (cx, cy, strength [3] for orders 3-5, phase [3] radians) with (cx, cy) in crop pixels.
    """
    ys, xs = np.mgrid[0 : alpha.shape[0], 0 : alpha.shape[1]] + 0.5  # pixel centres
    mass = float(alpha.sum())
    cx, cy = float((alpha * xs).sum()) / mass, float((alpha * ys).sum()) / mass
    z = (xs - cx) + 1j * (ys - cy)  # (h, w)
    r = np.abs(z)
    unit = np.where(r > 1e-9, z / np.maximum(r, 1e-9), 0)
    weight = alpha * r  # far pixels carry the corners
    norm = max(float(weight.sum()), 1e-9)
    c = np.array([(weight * unit**n).sum() for n in (3, 4, 5)])  # (3,) complex
    return cx, cy, np.abs(c) / norm, np.angle(c)


def classify_shape(strength: np.ndarray, round_below: float = ROUND_BELOW) -> str:
    """Circle when no harmonic reaches `round_below`, else the polygon whose order is strongest."""
    if float(strength.max()) < round_below:
        return "circle"
    order = (3, 4, 5)[int(strength.argmax())]
    return next(s for s, n in SHAPE_ORDER.items() if n == order)


def detect_frame(frame: np.ndarray, labels: np.ndarray, min_area: float) -> list[Blob]:
    """Blobs of one frame. frame: uint8 [H, W, 3]; labels: int8 [H, W] from `classify_pixels`."""
    # 1. Hard components of each object colour, big enough to be an object
    thick: list[tuple[int, np.ndarray, tuple[slice, slice]]] = []
    thin: list[tuple[int, np.ndarray, tuple[slice, slice]]] = []
    for k in range(_N_OBJ):
        mask = labels == k  # (H, W)
        if not mask.any():
            continue
        comp, _ = ndimage.label(mask)
        for i, sl in enumerate(ndimage.find_objects(comp), start=1):
            if sl is None:
                continue
            core = comp == i  # (H, W)
            if core[sl].sum() < min_area:
                continue
            deep = ndimage.distance_transform_edt(np.pad(core[sl], 1)).max() >= MIN_DEPTH
            (thick if deep else thin).append((k, core, sl))
    # 2. A thin component next to an object may be the blend along its edge (red and yellow make orange),
    #    or a small object in front of it or that chroma subsampling has eaten into: it is a blend when its
    #    colour lies between the neighbour's and the background's or another neighbour's.
    scene_rgb = _scene_rgb(frame, labels)  # (3,) fallback background
    cores = thick + [(k, core, sl) for k, core, sl in thin if not _is_blend(frame, core, thick, scene_rgb)]
    # 3. Which object owns each pixel, so that a blob's rim never takes in a neighbour
    owner = np.full(labels.shape, -1, dtype=np.int64)  # (H, W)
    for j, (_, core, _) in enumerate(cores):
        owner[core] = j
    return [
        _measure(frame, labels, core, sl, k, owner, j, scene_rgb) for j, (k, core, sl) in enumerate(cores)
    ]


BLEND_DISTANCE = 60.0  # RGB: how close to a mix of two colours a blend region is (codec smear included)


def _is_blend(frame: np.ndarray, core: np.ndarray, thick: list, scene_rgb: np.ndarray) -> bool:
    """Whether a thin component is an edge blend of the thick objects it touches: its pixels' colour lies
    on the line between a neighbour's colour and the background's or another object's."""
    near = ndimage.binary_dilation(core, iterations=2)  # (H, W)
    neighbours = [_PALETTE[j] for j, other, _ in thick if (other & near).any()]
    if not neighbours:
        return False
    own = np.median(frame[core].astype(np.float32), axis=0)  # (3,)
    # the other end: the background, or any object colour in the frame (the second one of an overlap may
    # itself be cut thin, and so not among the neighbours)
    ends = [*{j: _PALETTE[j] for j, _, _ in thick}.values(), scene_rgb]
    for a in neighbours:
        for b in ends:
            ab = b - a
            t = float(np.clip((own - a) @ ab / max(float(ab @ ab), 1e-9), 0.0, 1.0))
            if np.linalg.norm(own - (a + t * ab)) < BLEND_DISTANCE:
                return True
    return False


def _scene_rgb(frame: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Median colour of the scene pixels (every 7th is plenty): the background where a blob has no ring."""
    scene = frame[labels >= _N_OBJ][::7]
    if len(scene) == 0:
        return np.zeros(3, np.float32)
    return np.median(scene.astype(np.float32), axis=0)


def _measure(
    frame: np.ndarray,
    labels: np.ndarray,
    core: np.ndarray,
    sl: tuple[slice, slice],
    k: int,
    owner: np.ndarray,
    j: int,
    scene_rgb: np.ndarray,
) -> Blob:
    """Soft mask, centroid, harmonics and size of one hard component `core` (bool [H, W])."""
    H, W = core.shape
    # 1. A window around the component, wide enough to hold its anti-aliased rim
    y0, y1 = max(sl[0].start - 3, 0), min(sl[0].stop + 3, H)
    x0, x1 = max(sl[1].start - 3, 0), min(sl[1].stop + 3, W)
    win_core = core[y0:y1, x0:x1]  # (h, w)
    grown = ndimage.binary_dilation(win_core, iterations=2)  # (h, w) core + rim
    win_owner = owner[y0:y1, x0:x1]
    other = (win_owner >= 0) & (win_owner != j)  # other objects' pixels
    ring = ndimage.binary_dilation(grown, iterations=1) & ~grown & (labels[y0:y1, x0:x1] >= _N_OBJ)
    rgb = frame[y0:y1, x0:x1].astype(np.float32)  # (h, w, 3)
    # 2. Coverage: where each rim pixel lies between the local background and the object colour
    bg = np.median(rgb[ring], axis=0) if ring.sum() >= 3 else scene_rgb  # (3,)
    col = _PALETTE[k] - bg
    alpha = ((rgb - bg) @ col) / max(float(col @ col), 1.0)  # (h, w)
    # A pixel of another object colour far off the background-to-object line is a sliver of an object
    # behind, too small to be a blob of its own: it is not this object's coverage.
    off_line = np.linalg.norm(rgb - bg - alpha[..., None] * col, axis=-1)  # (h, w)
    alpha = np.clip((alpha - 0.1) / 0.8, 0.0, 1.0)  # dead zone: codec noise on the background is not mass
    third = (labels[y0:y1, x0:x1] < _N_OBJ) & (labels[y0:y1, x0:x1] != k) & (off_line > OFF_LINE)
    alpha = np.where(grown & ~other & ~third, alpha, 0.0)
    alpha = np.where(win_core, np.maximum(alpha, 0.5), alpha)  # hard pixels count at least half
    # 3. Shape, angle and size from the soft mass
    cx, cy, strength, phase = harmonics(alpha)
    shape = classify_shape(strength)
    order = SHAPE_ORDER[shape]
    phases = tuple(math.degrees(float(phase[i]) / n) for i, n in enumerate((3, 4, 5)))
    angle = phases[order - 3] if order else 0.0
    area = float(alpha.sum())
    touches = sl[0].start == 0 or sl[1].start == 0 or sl[0].stop == H or sl[1].stop == W
    crowded = bool((ndimage.binary_dilation(grown, iterations=1) & other).any())  # touches another object
    return Blob(
        color=OBJECT_COLORS[k],
        area=area,
        center=(x0 + cx, y0 + cy),
        box=(sl[1].start, sl[0].start, sl[1].stop, sl[0].stop),
        harmonics=(float(strength[0]), float(strength[1]), float(strength[2])),
        angle=angle,
        phases=phases,
        shape=shape,
        radius=math.sqrt(area / UNIT_AREA[shape]),
        touches_edge=bool(touches),
        crowded=crowded,
    )


def min_blob_area(short_side: int) -> float:
    """Fewest hard pixels a blob needs: an eighth of the smallest object (H.264 eats its rim), at least 4."""
    return max(4.0, math.pi * (vocab.SIZES["small"] * short_side / 2) ** 2 / 8)


def detect(frames: np.ndarray) -> tuple[list[list[Blob]], np.ndarray]:
    """Detect objects in every frame.

    frames: uint8 [T, H, W, 3]. Returns (blobs per frame, labels int8 [T, H, W]).
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 [T, H, W, 3], got {frames.dtype} {list(frames.shape)}")
    labels = classify_pixels(frames)
    min_area = min_blob_area(min(frames.shape[1:3]))
    return [detect_frame(frames[t], labels[t], min_area) for t in range(len(frames))], labels
