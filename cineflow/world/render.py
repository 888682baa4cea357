"""Flatland's view of the world: camera, anti-aliased shapes, frames and visible fractions.

Conventions (docs/flatland.md says the same):
- World units: 1 = the frame's shorter side `s` at zoom 1. The world rectangle (the walls) is
  [0, W/s] x [0, H/s], y pointing down.
- Pixel (row i, column j) covers [j, j+1] x [i, i+1]; its centre is (j + 0.5, i + 0.5).
- Camera: a centre `c` (world units) and a zoom `z`; world point X is drawn at pixel (X - c)·z·s + (W/2, H/2).
  A static camera looks at the middle of the world with z = 1, so pixel = X·s.
- Angles are degrees, positive turns clockwise on screen.
- Each shape is sized by R, the radius of its bounding circle. Coverage of a pixel is
  clip(0.5 - signed distance in pixels, 0, 1): flat colour inside, one pixel of anti-aliasing at the edge.

`render(spec, annotations)` reads every object's pixel geometry back from the annotations, so a frame is a
pure function of what the annotations say.
"""

from __future__ import annotations

import math

import numpy as np

from cineflow.world import vocab
from cineflow.world.scene import Annotations, SceneSpec

# Camera motion, per second: pan speed in world units, zoom as an exponential rate (z = exp(±rate·t)),
# the zoom held once it reaches ZOOM_LIMITS (after 9 s) so that long clips stay watchable.
PAN_SPEED = 0.06
ZOOM_RATE = 0.12
ZOOM_LIMITS = (1 / 3, 3.0)

# Landmarks, drawn only when the camera moves: square dots of side 2·LANDMARK_HALF at the centres of a
# world grid of pitch LANDMARK_SPACING, i.e. at (LANDMARK_SPACING·(i + 0.5), LANDMARK_SPACING·(j + 0.5)).
# Their colour is whatever lies under them (background or floor) tinted toward white by LANDMARK_TINT.
LANDMARK_SPACING = 0.25
LANDMARK_HALF = 0.02
LANDMARK_TINT = 0.2

CHUNK_PIXELS = 1 << 21  # pixels rasterised at once (float32 temporaries of ~8 MB each)
STAR_INNER = 0.5  # inner radius of the 5-pointed star, as a fraction of its outer radius

# Corners of each shape for R = 1, angle 0, in image axes (y down): triangles and stars point up.
_SQRT3 = math.sqrt(3.0)
_STAR_ANGLES = np.deg2rad(np.arange(5) * 72.0)
_CIRCLE_ANGLES = np.linspace(0, 2 * np.pi, 64, endpoint=False)
UNIT_VERTICES: dict[str, np.ndarray] = {
    "circle": np.stack([np.cos(_CIRCLE_ANGLES), np.sin(_CIRCLE_ANGLES)], axis=1),  # a 64-gon, for polygons
    "square": np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) / math.sqrt(2.0),
    "triangle": np.array([[0.0, -1.0], [_SQRT3 / 2, 0.5], [-_SQRT3 / 2, 0.5]]),
    "star": np.stack([np.sin(_STAR_ANGLES), -np.cos(_STAR_ANGLES)], axis=1),
}
# Area for R = 1 (the star's 10 corners alternate between radius 1 and STAR_INNER).
UNIT_AREA: dict[str, float] = {
    "circle": math.pi,
    "square": 2.0,
    "triangle": 3 * _SQRT3 / 4,
    "star": 5 * STAR_INNER * math.sin(math.radians(36.0)),
}


# 1. The view: world extent, ground, camera -------------------------------------------------------------


def world_size(spec: SceneSpec) -> tuple[float, float]:
    """(width, height) of the world rectangle in world units; the shorter one is 1."""
    side = min(spec.width, spec.height)
    return spec.width / side, spec.height / side


def ground_y(spec: SceneSpec) -> float:
    """World y of the ground: the top of the floor band when there is a floor, else the bottom wall."""
    height = world_size(spec)[1]
    return height * (1.0 - vocab.FLOOR_HEIGHT) if spec.floor else height


def camera(spec: SceneSpec, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera centre [T, 2] (world units) and zoom [T] at `times` [T] (seconds).

    pan_left moves the camera toward -x, so the world (and its landmarks) slides right across the frame.
    """
    width, height = world_size(spec)
    center = np.empty((len(times), 2))
    center[:, 0] = width / 2
    center[:, 1] = height / 2
    zoom = np.ones(len(times))
    if spec.camera == "pan_left":
        center[:, 0] -= PAN_SPEED * times
    elif spec.camera == "pan_right":
        center[:, 0] += PAN_SPEED * times
    elif spec.camera == "zoom_in":
        zoom = np.minimum(np.exp(ZOOM_RATE * times), ZOOM_LIMITS[1])
    elif spec.camera == "zoom_out":
        zoom = np.maximum(np.exp(-ZOOM_RATE * times), ZOOM_LIMITS[0])
    return center, zoom


def to_pixels(spec: SceneSpec, points: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points [T, N, 2] seen at `times` [T] -> (pixel points [T, N, 2], pixels per world unit [T])."""
    center, zoom = camera(spec, times)
    scale = zoom * min(spec.width, spec.height)  # [T]
    half = np.array([spec.width / 2, spec.height / 2])
    return (points - center[:, None, :]) * scale[:, None, None] + half, scale


# 2. Shapes: boxes and coverage -------------------------------------------------------------------------


def _rotation(angle_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rad = np.deg2rad(angle_deg)
    return np.cos(rad), np.sin(rad)


def boxes(shape: str, center: np.ndarray, radius: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Tight boxes [F, 4] (x0, y0, x1, y1) of one shape at F poses: centre [F, 2], R [F], angle [F]."""
    if shape == "circle":
        return np.concatenate([center - radius[:, None], center + radius[:, None]], axis=1)
    cos, sin = _rotation(angle)
    vx, vy = UNIT_VERTICES[shape].T  # [V]
    px = (cos[:, None] * vx - sin[:, None] * vy) * radius[:, None]  # [F, V]
    py = (sin[:, None] * vx + cos[:, None] * vy) * radius[:, None]
    return np.stack(
        [
            center[:, 0] + px.min(1),
            center[:, 1] + py.min(1),
            center[:, 0] + px.max(1),
            center[:, 1] + py.max(1),
        ],
        axis=1,
    )


def radius_from_box(shape: str, box: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Invert `boxes`: R [F] from boxes [F, 4] and angles [F] (the box width is R times a known factor)."""
    if shape == "circle":
        return (box[:, 2] - box[:, 0]) / 2
    unit = boxes(shape, np.zeros((len(angle), 2)), np.ones(len(angle)), angle)
    return (box[:, 2] - box[:, 0]) / (unit[:, 2] - unit[:, 0])


def _sd_unit(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance to the shape with R = 1 (negative inside), in its own axes (image axes, y down).

    Exact distances after Inigo Quilez (iquilezles.org/articles/distfunctions2d); his formulas use y up,
    so y is flipped for the shapes that point up.
    """
    if shape == "circle":
        return np.sqrt(x * x + y * y) - 1.0
    if shape == "square":
        half = 1 / math.sqrt(2.0)
        qx, qy = np.abs(x) - half, np.abs(y) - half
        outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
        return outside + np.minimum(np.maximum(qx, qy), 0)
    if shape == "triangle":
        r = _SQRT3 / 2  # half the side of an equilateral triangle with circumradius 1
        px, py = np.abs(x) - r, -y + r / _SQRT3
        fold = px + _SQRT3 * py > 0  # points nearer the slanted sides: reflect onto the base's frame
        px, py = np.where(fold, (px - _SQRT3 * py) / 2, px), np.where(fold, (-_SQRT3 * px - py) / 2, py)
        px = px - np.clip(px, -2 * r, 0)
        return -np.sqrt(px * px + py * py) * np.sign(py)
    if shape == "star":
        k1x, k1y = 0.809016994375, -0.587785252292  # (cos 36°, -sin 36°): folds the plane into one point
        px, py = np.abs(x), -y
        d = 2 * np.maximum(k1x * px + k1y * py, 0)
        px, py = px - d * k1x, py - d * k1y
        d = 2 * np.maximum(-k1x * px + k1y * py, 0)
        px, py = px + d * k1x, py - d * k1y
        px, py = np.abs(px), py - 1.0
        bax, bay = -STAR_INNER * k1y, STAR_INNER * k1x - 1.0  # from the tip to the inner corner
        h = np.clip((px * bax + py * bay) / (bax * bax + bay * bay), 0, 1)
        return np.sqrt((px - bax * h) ** 2 + (py - bay * h) ** 2) * np.sign(py * bax - px * bay)
    raise ValueError(f"shape: unknown value {shape!r}; choose from {', '.join(vocab.SHAPES)}")


def coverage(
    shape: str, center: np.ndarray, radius: np.ndarray, angle: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> np.ndarray:
    """Anti-aliased coverage [F, Sy, Sx] in [0, 1] of one shape at F poses over per-pose pixel grids.

    center [F, 2], radius [F] (pixels), angle [F] (degrees); xs [F, Sx] and ys [F, Sy] are pixel-centre
    coordinates of each pose's grid.
    """
    # float32 over the grid: 1e-7 relative is 1e-4 pixel at 1024 pixels, and it halves memory traffic
    cos, sin = (c.astype(np.float32)[:, None, None] for c in _rotation(angle))
    r = np.maximum(radius, 1e-6).astype(np.float32)[:, None, None]
    dx = (xs - center[:, :1]).astype(np.float32)[:, None, :]  # [F, 1, Sx]
    dy = (ys - center[:, 1:]).astype(np.float32)[:, :, None]  # [F, Sy, 1]
    lx = (cos * dx + sin * dy) / r  # [F, Sy, Sx], the shape's own axes
    ly = (cos * dy - sin * dx) / r
    return np.clip(0.5 - _sd_unit(shape, lx, ly) * r, 0.0, 1.0)


def _grid(center: np.ndarray, radius: np.ndarray, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-pose crop origins [F] (int) and pixel-centre coordinates [F, S] along one axis.

    The crop is a fixed S pixels wide for all poses so that they batch. With `limit` (the frame side) the
    crop is slid inside the frame; it still holds every in-frame pixel the shape touches.
    """
    size = math.ceil(2 * float(radius.max(initial=0.0))) + 3
    origin = np.floor(center - radius).astype(np.int64) - 1
    if limit is not None:
        size = min(size, limit)
        origin = np.clip(origin, 0, limit - size)
    return origin, origin[:, None] + np.arange(size) + 0.5


def _chunks(radius: np.ndarray, side: int) -> list[np.ndarray]:
    """Frame indices in groups whose crops hold at most CHUNK_PIXELS pixels together (memory stays bounded
    for long clips of large objects; a 2 s clip at 64x64 is one group)."""
    crop = min(2 * float(radius.max(initial=0.0)) + 3, side) ** 2
    per = max(1, int(CHUNK_PIXELS // crop))
    return [np.arange(start, min(start + per, len(radius))) for start in range(0, len(radius), per)]


# 3. Frames ---------------------------------------------------------------------------------------------


def _backdrop(spec: SceneSpec, times: np.ndarray) -> np.ndarray:
    """Background, floor band and (with a moving camera) landmarks, as colour planes uint8 [3, T, H, W].

    Planes rather than [T, H, W, 3]: numpy is slow on a trailing axis of length 3. Everything here is a
    product of a per-row and a per-column term; float buffers hold at most CHUNK_PIXELS pixels.
    """
    H, W = spec.height, spec.width
    moving = spec.camera != "static"
    n = len(times) if moving else 1  # a static camera sees the same backdrop in every frame
    center, zoom = camera(spec, times[:n])
    scale = (zoom * min(W, H))[:, None]  # [n, 1] pixels per world unit
    sky = vocab.BACKGROUNDS[spec.background]
    # world coordinates of pixel centres: rows [n, H], columns [n, W]
    wy = (np.arange(H) + 0.5 - H / 2) / scale + center[:, 1:]
    wx = (np.arange(W) + 0.5 - W / 2) / scale + center[:, :1]
    shade = 1.0 + (vocab.FLOOR_SHADE - 1.0) * np.clip((wy - ground_y(spec)) * scale + 0.5, 0.0, 1.0)  # [n, H]
    if not spec.floor:
        shade[:] = 1.0
    planes = np.empty((3, n, H, W), dtype=np.uint8)
    if moving:
        half_px = LANDMARK_HALF * scale  # [n, 1]

        def dots(w: np.ndarray) -> np.ndarray:  # 1-D coverage of the grid's dots along one axis
            dist = np.abs((w / LANDMARK_SPACING) % 1.0 - 0.5) * LANDMARK_SPACING * scale
            return np.clip(half_px + 0.5 - dist, 0.0, np.minimum(1.0, 2 * half_px))

        dots_y = LANDMARK_TINT * dots(wy)  # [n, H]
        dots_x = dots(wx).astype(np.float32)[:, None, :]  # [n, 1, W]
        per = max(1, CHUNK_PIXELS // (H * W))  # frames per float32 buffer
        plane = np.empty((min(n, per), H, W), dtype=np.float32)
    for c in range(3):
        ground = sky[c] * shade  # [n, H]
        if not moving:
            planes[c] = (ground + 0.5)[:, :, None]
            continue
        for start in range(0, n, per):  # ground + tint·(255 - ground), the tint being dots_y ⊗ dots_x
            t = slice(start, min(start + per, n))
            buf = plane[: t.stop - t.start]
            np.multiply((dots_y[t] * (255.0 - ground[t])).astype(np.float32)[:, :, None], dots_x[t], out=buf)
            buf += (ground[t] + 0.5).astype(np.float32)[:, :, None]
            planes[c, t] = buf
    return planes if moving else np.repeat(planes, len(times), axis=1)


def render(spec: SceneSpec, annotations: Annotations) -> np.ndarray:
    """Frames uint8 [T, H, W, 3] of a scene whose ground truth is `annotations` (pixel geometry per frame)."""
    T, H, W = len(annotations.frames), spec.height, spec.width
    # 1. Backdrop, as colour planes [3, T, H, W] seen flat, so that crops gather and scatter by flat index
    planes = _backdrop(spec, np.arange(T) / spec.fps)
    flat = planes.reshape(3, -1)
    # 2. Every object's pixel geometry: centre [T, N, 2], angle [T, N], box [T, N, 4], colour [T, N, 3]
    center = np.array([[s.center for s in frame] for frame in annotations.frames]).reshape(T, -1, 2)
    angle = np.array([[s.angle for s in frame] for frame in annotations.frames]).reshape(T, -1)
    box = np.array([[s.box for s in frame] for frame in annotations.frames]).reshape(T, -1, 4)
    color = np.array(
        [[vocab.COLORS[s.color] for s in frame] for frame in annotations.frames], dtype=np.float32
    )
    # 3. Objects back to front, each over its own crop in many frames at once
    for i in sorted(range(len(spec.objects)), key=lambda i: (spec.objects[i].depth, i)):
        shape = spec.objects[i].shape
        radius = radius_from_box(shape, box[:, i], angle[:, i])  # [T]
        for f in _chunks(radius, min(H, W)):
            x0, xs = _grid(center[f, i, 0], radius[f], W)  # [F], [F, Sx]
            y0, ys = _grid(center[f, i, 1], radius[f], H)  # [F], [F, Sy]
            cov = coverage(shape, center[f, i], radius[f], angle[f, i], xs, ys)  # [F, Sy, Sx]
            rows = (f[:, None] * H + y0[:, None] + np.arange(ys.shape[1])) * W  # [F, Sy]
            index = (rows[:, :, None] + (x0[:, None] + np.arange(xs.shape[1]))[:, None, :]).ravel()  # F·Sy·Sx
            region = flat[:, index].astype(np.float32)  # [3, F·Sy·Sx]
            region += cov.ravel() * (np.repeat(color[f, i].T, cov[0].size, axis=1) - region)
            flat[:, index] = region + 0.5  # rounds: the planes are uint8, only crops are ever float
    # 4. Interleave the planes into RGB frames
    frames = np.empty((T, H, W, 3), dtype=np.uint8)
    for c in range(3):
        frames[..., c] = planes[c]
    return frames


# 4. Visibility -----------------------------------------------------------------------------------------


def visibility(
    spec: SceneSpec, center: np.ndarray, radius: np.ndarray, angle: np.ndarray, box: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Visible fraction [T, N] of each object, and hidden [T, N, N]: hidden[t, a, b] = fraction of b's area
    covered by a (a in front of b; 0 elsewhere). Inputs are pixel geometry: centre [T, N, 2], R [T, N],
    angle [T, N], box [T, N, 4].

    Objects that lie wholly inside the frame and whose box meets no box in front are visible 1 without
    rasterising; the others are rasterised at the frame's resolution.
    """
    T, N = radius.shape
    rank = np.empty(N, dtype=np.int64)
    rank[sorted(range(N), key=lambda i: (spec.objects[i].depth, i))] = np.arange(N)  # drawing order
    visible = np.ones((T, N))
    hidden = np.zeros((T, N, N))
    x0, y0, x1, y1 = np.moveaxis(box, -1, 0)  # each [T, N]
    inside = (x0 >= 0) & (y0 >= 0) & (x1 <= spec.width) & (y1 <= spec.height)
    outside = (x1 <= 0) | (y1 <= 0) | (x0 >= spec.width) | (y0 >= spec.height)
    visible[outside] = 0.0
    meets = (x0[:, :, None] < x1[:, None, :]) & (x0[:, None, :] < x1[:, :, None])
    meets &= (y0[:, :, None] < y1[:, None, :]) & (y0[:, None, :] < y1[:, :, None])  # [T, a, b]
    meets &= (rank[:, None] > rank[None, :])[None]  # only a in front of b
    meets &= ~outside[:, :, None] & ~outside[:, None, :]
    for b in range(N):
        todo = np.flatnonzero(~outside[:, b] & (~inside[:, b] | meets[:, :, b].any(1)))
        for chunk in _chunks(radius[todo, b], max(spec.width, spec.height) * 4):
            f = todo[chunk]
            _, xs = _grid(center[f, b, 0], radius[f, b], None)
            _, ys = _grid(center[f, b, 1], radius[f, b], None)
            cov = coverage(
                spec.objects[b].shape, center[f, b], radius[f, b], angle[f, b], xs, ys
            )  # [F, S, S]
            area = np.maximum(cov.sum((1, 2)), 1e-9)  # [F]
            in_x, in_y = (xs >= 0) & (xs < spec.width), (ys >= 0) & (ys < spec.height)
            seen = cov * (in_y[:, :, None] & in_x[:, None, :])
            for a in np.flatnonzero(rank > rank[b]):
                k = np.flatnonzero(meets[f, a, b])  # frames of this chunk where a may cover b
                if len(k) == 0:
                    continue
                cov_a = coverage(
                    spec.objects[a].shape, center[f[k], a], radius[f[k], a], angle[f[k], a], xs[k], ys[k]
                )
                hidden[f[k], a, b] = (cov[k] * cov_a).sum((1, 2)) / area[k]
                seen[k] *= 1.0 - cov_a
            visible[f, b] = np.clip(seen.sum((1, 2)) / area, 0.0, 1.0)
    return visible, hidden
