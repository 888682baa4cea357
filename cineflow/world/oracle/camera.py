"""The camera, read back from the landmarks the world draws, and the map from pixels to world units.

The renderer (cineflow.world.render) draws, only when the camera moves, small dots at the centres of a
world grid of pitch LANDMARK_SPACING, tinted toward white. A world point X appears at pixel
(X - c) z s + (W/2, H/2), with camera centre c, zoom z and s the frame's shorter side; every camera
starts at the middle of the world with z = 1. Dots are found as local brightenings of the scene colour,
matched to the grid point nearest to where the previous frame's camera puts them, and (c, z) is the
least-squares fit of the matches: p - W/2 = (z s) X - (z s) c, linear in (z s, z s c).

With no dots in any frame the camera is static (that is how the world draws a static camera).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cineflow.world import vocab
from cineflow.world.oracle.detect import LABELS, SCENE_COLORS, to_space
from cineflow.world.render import LANDMARK_SPACING, LANDMARK_TINT, PAN_SPEED, ZOOM_RATE

_N_OBJ = len(LABELS) - len(SCENE_COLORS)
MIN_DOTS = 3  # fewest landmarks that fix a camera: a pair could be any two bright specks


@dataclass(frozen=True)
class Camera:
    """Per-frame camera: centre [T, 2] in world units, zoom [T]; `dots` counts landmarks seen per frame."""

    center: np.ndarray
    zoom: np.ndarray
    dots: np.ndarray
    short_side: int
    size: tuple[int, int]  # (width, height) in pixels

    def to_world(self, t: int, xy: tuple[float, float]) -> tuple[float, float]:
        """Pixel (x, y) in frame t -> world units."""
        W, H = self.size
        k = self.zoom[t] * self.short_side
        return (xy[0] - W / 2) / k + self.center[t, 0], (xy[1] - H / 2) / k + self.center[t, 1]

    def scale(self, t: int) -> float:
        """Pixels per world unit in frame t."""
        return float(self.zoom[t] * self.short_side)

    def kind(self, fps: float) -> str:
        """The vocab.CAMERAS name whose motion this is nearest to (static when it barely moves)."""
        T = len(self.zoom)
        if T < 2 or not self.dots.any():
            return "static"
        seconds = (T - 1) / fps
        log_zoom = math.log(self.zoom[-1] / self.zoom[0])
        pan = float(self.center[-1, 0] - self.center[0, 0])
        # Half of what the world's camera does over this duration is the line between moving and not.
        if abs(log_zoom) >= 0.5 * ZOOM_RATE * seconds:
            return "zoom_in" if log_zoom > 0 else "zoom_out"
        if abs(pan) >= 0.5 * PAN_SPEED * seconds:
            return "pan_right" if pan > 0 else "pan_left"
        return "static"


def find_dots(frame: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Landmark centres [N, 2] (pixels) in one frame: uint8 [H, W, 3] and its labels int8 [H, W]."""
    scene = labels >= _N_OBJ  # (H, W)
    # Stay clear of objects: their anti-aliased rims also brighten the background.
    clear = scene & ~ndimage.binary_dilation(~scene, iterations=2)
    luma = to_space(frame.astype(np.float32))[..., 0]  # (H, W)
    # The plain colour under a dot: the local median (a dot covers ~7 of the 49 pixels around it). Labels
    # cannot say it: a landmark on a floor can be as bright as the sky next to it.
    base = ndimage.median_filter(luma, size=7, mode="nearest")  # (H, W)
    tint = (luma - base) / (LANDMARK_TINT * np.maximum(255.0 - base, 1.0))  # 1 at a dot's full cover
    strength = np.where(clear, np.clip(tint, 0.0, 1.0), 0.0)
    comp, n = ndimage.label(strength > 0.3)
    if n == 0:
        return np.zeros((0, 2))
    index = np.arange(1, n + 1)
    mass = ndimage.sum(strength, comp, index)
    ys, xs = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]] + 0.5
    cx = ndimage.sum(strength * xs, comp, index) / mass
    cy = ndimage.sum(strength * ys, comp, index) / mass
    H, W = labels.shape
    keep = mass >= 0.8  # a dot is 2-3 px across; a single brightened pixel is codec noise
    keep &= (cx > 2) & (cx < W - 2) & (cy > 2) & (cy < H - 2)  # a dot cut by the border has a biased centre
    return np.stack([cx[keep], cy[keep]], axis=1)


def estimate(frames: np.ndarray, labels: np.ndarray) -> Camera:
    """Camera per frame of frames uint8 [T, H, W, 3] with labels int8 [T, H, W]."""
    T, H, W = labels.shape
    s = min(H, W)
    center = np.tile([W / (2 * s), H / (2 * s)], (T, 1)).astype(np.float64)  # (T, 2)
    zoom = np.ones(T)
    dots = np.zeros(T, dtype=np.int64)
    c, z = center[0].copy(), 1.0
    if not _on_grid(find_dots(frames[0], labels[0]), c, s, W, H):
        return Camera(center=center, zoom=zoom, dots=dots, short_side=s, size=(W, H))
    for t in range(T):
        found = find_dots(frames[t], labels[t])  # (N, 2)
        if len(found) >= MIN_DOTS:
            c, z, dots[t] = _fit(found, c, z, s, W, H)
        center[t], zoom[t] = c, z
    if (dots > 0).mean() < 0.5:  # the world draws landmarks in every frame of a move: a few specks are noise
        center[:] = [W / (2 * s), H / (2 * s)]
        zoom[:] = 1.0
        dots[:] = 0
    elif (dots > 0).sum() >= 4:
        center, zoom = _smooth(center, zoom, dots > 0)
    return Camera(center=center, zoom=zoom, dots=dots, short_side=s, size=(W, H))


def _smooth(center: np.ndarray, zoom: np.ndarray, fitted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A camera moves smoothly: quadratics in time through the per-frame fits (which jitter by ~1% of zoom,
    a third of a pixel at the border, enough to fake a reflection)."""
    t = np.arange(len(zoom), dtype=np.float64)
    smooth_center = np.stack(
        [np.polyval(np.polyfit(t[fitted], center[fitted, k], 2), t) for k in range(2)], axis=1
    )
    smooth_zoom = np.exp(np.polyval(np.polyfit(t[fitted], np.log(zoom[fitted]), 2), t))
    return smooth_center, smooth_zoom


def _on_grid(found: np.ndarray, c: np.ndarray, s: int, W: int, H: int) -> bool:
    """Whether the first frame shows the landmark grid where every camera starts (centre c, zoom 1).

    Specks of codec noise or anti-aliased rims can pass for a few dots; the real grid puts a dot within a
    pixel of each grid point, and most grid points not covered by an object show one.
    """
    if len(found) < MIN_DOTS:
        return False
    half = np.array([W / 2, H / 2])
    world = (found - half) / s + c  # (N, 2)
    grid = (np.floor(world / LANDMARK_SPACING) + 0.5) * LANDMARK_SPACING
    on = np.abs(world - grid).max(axis=1) * s < 1.0  # (N,)
    points = int(W / s / LANDMARK_SPACING) * int(H / s / LANDMARK_SPACING)  # grid points in view
    return int(on.sum()) >= max(MIN_DOTS, points // 3) and on.mean() > 0.7


def _fit(found: np.ndarray, c: np.ndarray, z: float, s: int, W: int, H: int) -> tuple[np.ndarray, float, int]:
    """Refit (centre, zoom) from dots [N, 2], starting at the previous frame's camera."""
    half = np.array([W / 2, H / 2])
    for _ in range(2):
        k = z * s
        world = (found - half) / k + c  # (N, 2) where the previous camera says the dots are
        grid = (np.floor(world / LANDMARK_SPACING) + 0.5) * LANDMARK_SPACING  # nearest grid centres
        near = np.abs(world - grid).max(axis=1) * k < 0.3 * LANDMARK_SPACING * k
        if near.sum() < MIN_DOTS:
            return c, z, 0
        X, p = grid[near], found[near] - half  # (M, 2)
        # p = a X + b per axis, shared a = z s: stack both axes into one linear system (a, bx, by)
        A = np.zeros((2 * len(X), 3))
        A[0::2, 0], A[0::2, 1] = X[:, 0], 1.0
        A[1::2, 0], A[1::2, 2] = X[:, 1], 1.0
        sol, *_ = np.linalg.lstsq(A, p.reshape(-1), rcond=None)
        a = float(sol[0])
        if a <= 0:
            return c, z, 0
        z, c = a / s, -sol[1:] / a
    return c, z, int(near.sum())


def world_walls(size: tuple[int, int]) -> tuple[float, float]:
    """(width, height) of the world rectangle in world units (the shorter side is 1)."""
    W, H = size
    s = min(W, H)
    return W / s, H / s


def ground(size: tuple[int, int], floor: bool) -> float:
    """World y of the ground: the floor's top when there is a floor, else the bottom wall."""
    height = world_walls(size)[1]
    return height * (1.0 - vocab.FLOOR_HEIGHT) if floor else height
