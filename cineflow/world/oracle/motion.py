"""Motion and physics of one track: world-space path -> motion class, speed class and fitted physics.

Everything here works in world units (camera undone, see camera.py) and seconds, and reads the world's
constants (vocab, physics) rather than guessing them: a fall is judged against vocab.GRAVITY, an orbit
against physics.ORBIT_RADIUS, a spin rate against physics.SPIN_RATE.

The verdict is a set of *compatible* motions with one `primary`. Some motions cannot be told apart from
what a clip shows, and the oracle says so rather than guessing: a diagonal path that meets no wall is both
"down_right" and "bounce"; a circle turning in place looks exactly like a still one.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from cineflow.world import physics, vocab

# The slowest orbit bends 2.4 px from its chord in 2 s at 64 px; a straight path bends only by noise.
ORBIT_SAGITTA = 0.015  # world units
MOVING = 0.05  # world units/s: slower steps are position noise (0.4 px per frame at 64 px, 8 fps)
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


def _steps(path: Path) -> np.ndarray:
    """Velocity of each step between consecutive path points, world units/s: [K-1, 2]."""
    return np.diff(path.xy, axis=0) / np.diff(path.times)[:, None]


def _across(v: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The steps into point k and out of point k + 1: they straddle a contact that happened in the step
    between them (half in, half out, so nearly still) or at point k. The last point uses its own step."""
    return v[k - 1], v[min(k + 1, len(v) - 1)]


def _segments(path: Path, split_gaps: bool = True) -> list[tuple[int, int]]:
    """Split the path where the velocity turns (a reflection, a collision): [(k0, k1), ...] inclusive.

    With `split_gaps`, also where frames are missing (a turn may hide there); a parabola fit needs no cut.
    """
    K = len(path.times)
    if K < 3:
        return [(0, K - 1)]
    v = _steps(path)  # (K-1, 2)
    cuts = [0]
    gaps = (np.diff(path.frames) > 1) & split_gaps  # (K-1,) a step over unseen frames may hide a turn
    for k in range(1, len(v)):
        a, b = _across(v, k)
        na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        turned = min(na, nb) > MOVING and a @ b < 0.5 * na * nb  # more than 60 degrees
        if (turned and cuts[-1] < k - 1) or gaps[k - 1] or gaps[k]:  # one cut per turn
            cuts.append(k)
    cuts.append(K - 1)
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _wall_bounces(
    path: Path, walls: tuple[float, float], ground: float, radius: float
) -> list[tuple[int, str]]:
    """Reflections seen in the path: motion toward a wall or the ground that reverses (or, at the clip's
    end, stops) next to it."""
    out: list[tuple[int, str]] = []
    K = len(path.times)
    if K < 3:
        return out
    v = _steps(path)  # (K-1, 2)
    width = walls[0]
    last: dict[int, int] = {}  # axis -> k of the last reflection found on it
    for k in range(1, len(v)):
        a, b = _across(v, k)
        # an object reflects one radius from a wall, at some moment of the steps around point k: the
        # points there may be that many seconds of travel away from it (more over a gap)
        dt = float(path.times[min(k + 1, K - 1)] - path.times[k - 1]) / 2 + 1e-9
        for axis, lo, hi, names in ((0, 0.0, width, ("left", "right")), (1, 0.0, ground, ("top", "floor"))):
            into, out_of = a[axis], b[axis]
            ends = k >= len(v) - 1  # no later step to show the way back
            reversed_ = into * out_of < 0 and abs(out_of) >= MOVING
            # at the end a reflection in the last step leaves that step short, or turned back however slowly
            stopped = ends and out_of * math.copysign(1.0, into) < 0.3 * abs(into)
            if abs(into) < MOVING or not (reversed_ or stopped) or last.get(axis, -9) >= k - 1:
                continue
            margin = radius + 0.03 + abs(into) * dt
            near = path.xy[k : k + 2, axis]
            if into < 0 and near.min() - lo < margin:
                out.append((int(path.frames[k]), names[0]))
            elif into > 0 and hi - near.max() < margin:
                out.append((int(path.frames[k]), names[1]))
            else:
                continue
            last[axis] = k
    return out


def _sagitta(path: Path) -> float:
    """Largest distance of the path from the chord joining its ends: how far from a straight line it bends."""
    a, b = path.xy[0], path.xy[-1]
    chord = b - a
    length = float(np.linalg.norm(chord))
    if length < 1e-9:
        return float(np.linalg.norm(path.xy - a, axis=1).max())
    rel = path.xy - a
    return float(np.abs(rel[:, 0] * chord[1] - rel[:, 1] * chord[0]).max() / length)


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


def classify(
    path: Path, walls: tuple[float, float], ground: float, border_path: Path | None = None
) -> Motion:
    """Motion class, speed and physics of one path. walls: world (width, height); ground: world y;
    border_path: the path with the frames where the object touches the frame border nearly whole too,
    where more reflections off the walls are looked for.

    The first reading that fits wins: in place (grow, shrink, spin, still), orbit, fall, translation.
    """
    if len(path.times) < 2:
        return Motion("still", set(vocab.MOTIONS))  # one frame says nothing about motion
    radius = float(np.median(path.radius))
    drift = float(np.abs(path.xy - np.median(path.xy, axis=0)).max())
    if drift < STILL_TOL + 0.05 * radius:
        return _in_place(path)
    bounces = _wall_bounces(path, walls, ground, radius)
    if border_path is not None:  # a border frame's centre is a little less sure: it only adds reflections
        more = _wall_bounces(border_path, walls, ground, radius)
        bounces = sorted(
            bounces + [(f, w) for f, w in more if all(w != v or abs(f - g) > 2 for g, v in bounces)]
        )
    return _orbit(path) or _fall(path, bounces, ground) or _translation(path, bounces)


def _in_place(path: Path) -> Motion:
    """An object whose centre stays put: it grows, shrinks, spins, or is still."""
    growth = _growth_rate(path)
    if abs(growth) > GROW_MIN:
        name = "grow" if growth > 0 else "shrink"
        return Motion(name, {name}, _speed_class(abs(growth) / physics.GROWTH), {"growth_rate": growth})
    rate = _spin_rate(path)
    if abs(rate) > SPIN_MIN:
        return Motion("spin", {"spin"}, _speed_class(abs(rate) / physics.SPIN_RATE), {"spin_rate": rate})
    compatible = {"still", "spin"} if path.period == 0 else {"still"}  # a turning disc looks still
    return Motion("still", compatible, None, {})


def _orbit(path: Path) -> Motion | None:
    """A clockwise arc of about the world's orbit radius.

    An orbit turns a little every frame (a reflection turns at once) and the world keeps its whole circle
    in frame, whereas a bounce reaches the walls: a polygon of reflections could otherwise fit a circle.
    """
    smooth = len(_segments(path, split_gaps=False)) == 1 and not path.at_edge
    if not smooth or _sagitta(path) <= ORBIT_SAGITTA:
        return None
    r, resid, swept = _orbit_fit(path)
    if not (0.6 * physics.ORBIT_RADIUS < r < 1.6 * physics.ORBIT_RADIUS and resid < 0.1 * r and swept > 30):
        return None
    speed = r * math.radians(swept) / max(float(path.times[-1] - path.times[0]), 1e-9)
    return Motion("orbit", {"orbit"}, _speed_class(speed), {"orbit_radius": r, "linear_speed": speed})


def _fall(path: Path, bounces: list[tuple[int, str]], ground: float) -> Motion | None:
    """From rest under the world's gravity, mostly vertical, until the first turn (the floor), gaps or not.

    A landing hidden in a gap (behind another object) can put the cut a point early or leave no cut at
    all; the flight is then the descent up to the first sighting higher than the one before.
    """
    flight = _segments(path, split_gaps=False)
    k0, k1 = _fit_span(flight)
    rises = np.flatnonzero(np.diff(path.xy[k0:, 1]) < 0)  # (steps up,)
    descent = k0 + int(rises[0]) if len(rises) else len(path.times) - 1
    for span in dict.fromkeys(((k0, k1), (k0, descent))):
        parabola = _parabola(path, *span)
        if parabola is not None:
            break
    else:
        return None
    ay, vy0, y0, vx = parabola
    fitted = {
        "vx": vx,
        "vy0": vy0,
        "gravity": 2 * ay,
        "restitution": _restitution(path, flight),
    }
    if not any(wall == "floor" for _, wall in bounces):
        bounces = bounces + _hidden_landing(path, (ay, vy0, y0), ground)
    return Motion("fall", {"fall"}, None, fitted, bounces)


def _parabola(path: Path, k0: int, k1: int) -> tuple[float, float, float, float] | None:
    """(ay, vy0, y0, vx) of a fall from rest under the world's gravity, mostly vertical, through points
    k0..k1 in clip time (vy0 is the speed at t = 0), or None when they do not show one."""
    t, xy = path.times[k0 : k1 + 1], path.xy[k0 : k1 + 1]
    if len(t) < 4:
        return None
    ay, vy0, y0 = (float(c) for c in np.polyfit(t, xy[:, 1], 2))
    vx = float(_fit_line(t, xy[:, 0], 1)[0])
    gravity = 2 * ay
    falling = 0.6 * vocab.GRAVITY < gravity < 1.5 * vocab.GRAVITY and abs(vy0) < 0.25
    if not (falling and abs(vx) < 0.5 * abs(vy0 + gravity * t[-1])):
        return None
    return ay, vy0, y0, vx


def _hidden_landing(path: Path, parabola: tuple[float, float, float], ground: float) -> list[tuple[int, str]]:
    """A floor bounce not seen (the object was behind something when it landed): the fitted fall reaches
    the ground before a later sighting that is back above it, which only a bounce explains."""
    a, b, c = parabola
    level = ground - float(np.median(path.radius))  # its centre when it touches the ground
    roots = [r.real for r in np.roots([a, b, c - level]) if abs(r.imag) < 1e-9 and r.real > path.times[0]]
    if not roots:
        return []
    t_hit = min(roots)
    later = path.times > t_hit + 1e-9
    if not later.any() or path.xy[later, 1].min() > level - 0.02:
        return []
    fps = (path.frames[-1] - path.frames[0]) / max(float(path.times[-1] - path.times[0]), 1e-9)
    return [(math.ceil(t_hit * fps - 1e-6), "floor")]


def _translation(path: Path, bounces: list[tuple[int, str]]) -> Motion:
    """Direction and speed from the first straight stretch's first few frames (a collision that deflects
    little still changes the speed); reflections off walls make it a bounce."""
    k0, k1 = _fit_span(_segments(path))
    k1 = min(k1, k0 + 5)
    t, xy = path.times[k0 : k1 + 1], path.xy[k0 : k1 + 1]
    v = np.array([_fit_line(t, xy[:, 0], 1)[0], _fit_line(t, xy[:, 1], 1)[0]])
    speed = float(np.linalg.norm(v))
    fitted = {"vx": float(v[0]), "vy": float(v[1]), "speed": speed}
    if bounces:  # only bounce bodies (and falls, above) reflect off walls; directional ones pass through
        fitted["speed"] = speed = _step_speed(path)
        return Motion("bounce", {"bounce"}, _speed_class(speed), fitted, bounces)
    direction = _direction(v)
    # a diagonal that meets no wall within the clip is also what a bounce looks like
    compatible = {direction, "bounce"} if "_" in direction else {direction}
    return Motion(direction, compatible, _speed_class(speed), fitted, bounces)


def _fit_span(segs: list[tuple[int, int]]) -> tuple[int, int]:
    """The first segment (the longest when a turn cut the first too short), without the frame at its
    turn, which may already be past the contact."""
    k0, k1 = segs[0] if segs[0][1] - segs[0][0] >= 2 else max(segs, key=lambda s: s[1] - s[0])
    if len(segs) > 1 and k1 - k0 >= 4:
        k1 -= 1
    return k0, k1


def _step_speed(path: Path) -> float:
    """Median speed over steps between consecutive frames (a bounce keeps its speed between walls)."""
    ok = np.diff(path.frames) == 1
    if not ok.any():
        return 0.0
    step = np.linalg.norm(np.diff(path.xy, axis=0), axis=1) / np.diff(path.times)  # (K-1,)
    return float(np.median(step[ok]))


def _restitution(path: Path, segs: list[tuple[int, int]]) -> float:
    """Speed kept by the first floor bounce: |vy| just after over |vy| just before (NaN if not seen).

    The point at the turn may lie on either side of the contact, so each parabola leaves it out; the
    contact is where the two parabolas meet between the points around it.
    """
    if len(segs) < 2:
        return math.nan
    (a0, a1), (_, b1) = segs[0], segs[1]
    if a1 - a0 < 3 or b1 - a1 < 3:
        return math.nan
    t, y = path.times, path.xy[:, 1]
    before = np.polyfit(t[a0:a1], y[a0:a1], 2)
    after = np.polyfit(t[a1 + 1 : b1 + 1], y[a1 + 1 : b1 + 1], 2)
    lo, hi = float(t[a1 - 1]), float(t[a1 + 1])
    meets = [float(r.real) for r in np.roots(before - after) if abs(r.imag) < 1e-9 and lo <= r.real <= hi]
    tb = meets[0] if meets else float(t[a1])
    v_in = 2 * before[0] * tb + before[1]
    v_out = 2 * after[0] * tb + after[1]
    return float(abs(v_out) / max(abs(v_in), 1e-9))
