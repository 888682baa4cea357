"""Motion and physics of one track: world-space path -> motion class, speed class and fitted physics.

Everything here works in world units (camera undone, see camera.py) and seconds, and reads the world's
constants (vocab, physics) rather than guessing them: a fall is judged against vocab.GRAVITY, an orbit
against physics.ORBIT_RADIUS, a spin rate against physics.SPIN_RATE.

The verdict is a set of *compatible* motions with one `primary`. Some motions cannot be told apart from
what a clip shows, and the oracle says so rather than guessing: a diagonal path that meets no wall is both
"down_right" and "bounce"; a circle turning in place looks exactly like a still one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cineflow.world import physics, vocab

STILL_TOL = 0.025  # world units: drift of a still object's centre (H.264 and occlusion move it ~1 px)
SPIN_MIN = 0.4 * physics.SPIN_RATE * vocab.SPEEDS["slow"]  # degrees/s: well under the slowest spin
GROW_MIN = 0.4 * physics.GROWTH * vocab.SPEEDS["slow"]  # 1/s: well under the slowest growth rate


@dataclass(frozen=True)
class Path:
    """A track in world units at its trustworthy frames: times [K] s, xy [K, 2], radius [K], angle [K] deg
    (NaN for circles), frames [K] (frame indices), clean [K] (whole and alone)."""

    times: np.ndarray
    xy: np.ndarray
    radius: np.ndarray
    angle: np.ndarray
    frames: np.ndarray
    clean: np.ndarray
    period: float  # rotational symmetry of the shape, degrees (0 for a circle)
    at_edge: bool = False  # cut by the frame border in some frame (left out of xy)


@dataclass
class Motion:
    """What the oracle concluded about how one object moves."""

    primary: str
    compatible: set[str]
    speed: str | None = None
    physics: dict[str, float] = field(default_factory=dict)  # fitted figures: velocity, gravity, ...
    bounces: list[tuple[int, str]] = field(default_factory=list)  # (frame, "left"/"right"/"top"/"floor")


def _fit_line(t: np.ndarray, y: np.ndarray, deg: int) -> np.ndarray:
    return np.polyfit(t, y, deg) if len(t) > deg else np.zeros(deg + 1)


def _speed_class(value: float) -> str:
    return min(vocab.SPEEDS, key=lambda s: abs(math.log(max(value, 1e-6) / vocab.SPEEDS[s])))


def _direction(v: np.ndarray) -> str:
    """The vocab.DIRECTIONS name nearest in angle to velocity v [2]."""
    unit = v / max(float(np.linalg.norm(v)), 1e-9)
    return max(vocab.DIRECTIONS, key=lambda d: float(unit @ np.array(vocab.DIRECTIONS[d])))


def _spin_rate(path: Path) -> float:
    """Mean angular velocity, degrees/s, from frame-to-frame angle steps unwrapped within the symmetry."""
    ok = path.clean & ~np.isnan(path.angle)
    if path.period == 0 or ok.sum() < 3:
        return 0.0
    a, t = path.angle[ok], path.times[ok]
    step = np.diff(a)
    step = (step + path.period / 2) % path.period - path.period / 2  # shortest turn between frames
    return float(step.sum() / max(t[-1] - t[0], 1e-9))


def _growth_rate(path: Path) -> float:
    """Slope of log radius against time, 1/s, over clean frames."""
    ok = path.clean
    if ok.sum() < 3:
        return 0.0
    return float(_fit_line(path.times[ok], np.log(path.radius[ok]), 1)[0])


def _segments(path: Path) -> list[tuple[int, int]]:
    """Split the path where the velocity turns (a reflection, a collision): [(k0, k1), ...] inclusive."""
    K = len(path.times)
    if K < 3:
        return [(0, K - 1)]
    v = np.diff(path.xy, axis=0) / np.diff(path.times)[:, None]  # (K-1, 2)
    speed = np.linalg.norm(v, axis=1)  # (K-1,)
    cuts = [0]
    gaps = np.diff(path.frames) > 1  # (K-1,) a step over unseen frames may hide a turn
    for k in range(1, len(v)):
        # a turn of more than 60 degrees between two moving steps; gravity only speeds a fall up
        turned = min(speed[k - 1], speed[k]) > 0.05 and v[k - 1] @ v[k] < 0.5 * speed[k - 1] * speed[k]
        if turned or gaps[k - 1] or gaps[k]:
            cuts.append(k)
    cuts.append(K - 1)
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def _wall_bounces(path: Path, walls: tuple[float, float], ground: float, radius: float) -> list[tuple[int, str]]:
    """Reflections seen in the path: a velocity component flipping sign next to a wall or the ground."""
    out: list[tuple[int, str]] = []
    K = len(path.times)
    if K < 3:
        return out
    v = np.diff(path.xy, axis=0) / np.diff(path.times)[:, None]  # (K-1, 2)
    width = walls[0]
    margin = radius + 0.06  # an object reflects at one radius from a wall, give or take a frame's travel
    for k in range(1, len(v)):
        x, y = path.xy[k]
        for axis, lo, hi, names in ((0, 0.0, width, ("left", "right")), (1, 0.0, ground, ("top", "floor"))):
            a, b = v[k - 1, axis], v[k, axis]
            if a * b >= 0 or max(abs(a), abs(b)) < 0.05:
                continue
            pos = (x, y)[axis]
            if a < 0 and pos - lo < margin:
                out.append((int(path.frames[k]), names[0]))
            elif a > 0 and hi - pos < margin:
                out.append((int(path.frames[k]), names[1]))
    return out


def _orbit_fit(path: Path) -> tuple[float, float, float]:
    """Circle through the path (algebraic fit): (radius, rms residual, swept angle in degrees, signed
    clockwise-positive on screen)."""
    x, y = path.xy[:, 0], path.xy[:, 1]
    if len(x) < 4:
        return math.inf, math.inf, 0.0
    A = np.stack([x, y, np.ones_like(x)], axis=1)
    sol, *_ = np.linalg.lstsq(A, x * x + y * y, rcond=None)
    cx, cy = sol[0] / 2, sol[1] / 2
    r2 = sol[2] + cx * cx + cy * cy
    if r2 <= 0:
        return math.inf, math.inf, 0.0
    r = math.sqrt(r2)
    resid = float(np.sqrt(np.mean((np.hypot(x - cx, y - cy) - r) ** 2)))
    theta = np.unwrap(np.arctan2(y - cy, x - cx))
    return r, resid, math.degrees(float(theta[-1] - theta[0]))


def classify(path: Path, walls: tuple[float, float], ground: float) -> Motion:
    """Motion class, speed and physics of one path. walls: world (width, height); ground: world y."""
    K = len(path.times)
    if K < 2:
        return Motion("still", set(vocab.MOTIONS))  # one frame says nothing about motion
    duration = float(path.times[-1] - path.times[0])
    center = np.median(path.xy, axis=0)
    drift = float(np.abs(path.xy - center).max())
    radius = float(np.median(path.radius))
    # 1. In place: grow, shrink, spin, still
    if drift < STILL_TOL + 0.05 * radius:
        growth = _growth_rate(path)
        if abs(growth) > GROW_MIN:
            name = "grow" if growth > 0 else "shrink"
            return Motion(name, {name}, _speed_class(abs(growth) / physics.GROWTH), {"growth_rate": growth})
        rate = _spin_rate(path)
        if abs(rate) > SPIN_MIN:
            return Motion("spin", {"spin"}, _speed_class(abs(rate) / physics.SPIN_RATE), {"spin_rate": rate})
        compatible = {"still", "spin"} if path.period == 0 else {"still"}  # a turning disc looks still
        return Motion("still", compatible, None, {})
    # 2. Orbit: a clockwise arc of the world's orbit radius
    r, resid, swept = _orbit_fit(path)
    segs = _segments(path)
    # An orbit turns a little every frame (a reflection turns at once) and the world keeps its whole circle
    # in frame, whereas a bounce reaches the walls: a polygon of reflections can otherwise fit a circle.
    smooth = len(segs) == 1 and not path.at_edge
    if smooth and 0.6 * physics.ORBIT_RADIUS < r < 1.6 * physics.ORBIT_RADIUS and resid < 0.1 * r and swept > 30:
        speed = r * math.radians(swept) / max(duration, 1e-9)
        return Motion("orbit", {"orbit"}, _speed_class(speed), {"orbit_radius": r, "linear_speed": speed})
    # 3. Translation: first segment's velocity, reflections, gravity
    bounces = _wall_bounces(path, walls, ground, radius)
    # the first segment, unless a reflection cut it too short to fit: then the longest one
    k0, k1 = segs[0] if segs[0][1] - segs[0][0] >= 2 else max(segs, key=lambda s: s[1] - s[0])
    if len(segs) > 1 and k1 - k0 >= 4:
        k1 -= 1  # the frame at a turn may already be past the contact: keep it out of the fit
    t, xy = path.times[k0 : k1 + 1], path.xy[k0 : k1 + 1]
    vx = _fit_line(t, xy[:, 0], 1)[0]
    ay, vy0 = _fit_line(t - t[0], xy[:, 1], 2)[:2] if len(t) >= 4 else (0.0, _fit_line(t, xy[:, 1], 1)[0])
    gravity = 2 * float(ay)
    fitted = {"vx": float(vx), "vy0": float(vy0), "gravity": gravity}
    falling = len(t) >= 4 and 0.6 * vocab.GRAVITY < gravity < 1.5 * vocab.GRAVITY and abs(vy0) < 0.25
    if falling and abs(vx) < 0.5 * abs(vy0 + gravity * (t[-1] - t[0])):
        fitted["restitution"] = _restitution(path, segs)
        return Motion("fall", {"fall"}, None, fitted, bounces)
    v = np.array([vx, _fit_line(t, xy[:, 1], 1)[0]])
    speed = float(np.linalg.norm(v))
    fitted.update({"vy": float(v[1]), "speed": speed})
    if bounces:  # only bounce bodies (and falls, above) reflect off walls; directional ones pass through
        fitted["speed"] = speed = _step_speed(path)
        return Motion("bounce", {"bounce"}, _speed_class(speed), fitted, bounces)
    direction = _direction(v)
    # a diagonal that meets no wall within the clip is also what a bounce looks like
    compatible = {direction, "bounce"} if "_" in direction else {direction}
    return Motion(direction, compatible, _speed_class(speed), fitted, bounces)


def _step_speed(path: Path) -> float:
    """Median speed over steps between consecutive frames (a bounce keeps its speed between walls)."""
    ok = np.diff(path.frames) == 1
    if not ok.any():
        return 0.0
    step = np.linalg.norm(np.diff(path.xy, axis=0), axis=1) / np.diff(path.times)  # (K-1,)
    return float(np.median(step[ok]))


def _restitution(path: Path, segs: list[tuple[int, int]]) -> float:
    """Speed kept by the first floor bounce: |vy| just after over |vy| just before (NaN if none seen)."""
    if len(segs) < 2:
        return math.nan
    (a0, a1), (b0, b1) = segs[0], segs[1]
    if a1 - a0 < 2 or b1 - b0 < 2:
        return math.nan
    t, y = path.times, path.xy[:, 1]
    before = np.polyfit(t[a0 : a1 + 1], y[a0 : a1 + 1], 2)
    after = np.polyfit(t[b0 : b1 + 1], y[b0 : b1 + 1], 2)
    # the bounce time: where the two parabolas meet between the segments
    tb = float(t[a1])
    v_in = 2 * before[0] * tb + before[1]
    v_out = 2 * after[0] * tb + after[1]
    return float(abs(v_out) / max(abs(v_in), 1e-9))
