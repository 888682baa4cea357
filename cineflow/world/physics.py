"""Flatland physics: a deterministic fixed-step simulation, sampled at frame times, and its annotations.

Time runs on a fixed grid of DT = 1/240 s whatever the clip's fps, so trajectories do not depend on fps.
Between two grid steps every body flies freely (constant velocity, plus gravity for falling bodies), which
is integrated exactly; contacts are detected and resolved at grid steps. A frame shows the free flight
evaluated at its own time, k / fps.

Bodies:
- dynamic (still, the eight directions, bounce, fall) are discs of radius CONTACT[shape]·R that collide
  elastically with dynamic bodies *at the same depth* (mass ∝ R²; a still body is immovable). Bodies at
  different depths pass in front of or behind each other.
  * bounce: moves diagonally toward the corner nearest its start and reflects off the walls (the frame's
    edges; the floor top when there is a floor), losing no speed.
  * fall: starts at rest, falls with vocab.GRAVITY and bounces on the ground (floor top, or the bottom
    edge) keeping vocab.RESTITUTION of its speed; it settles once a bounce would rise under REST_SPEED.
    It reflects off the side walls too.
  * directional bodies ignore the walls: they may leave the frame.
- scripted (orbit, spin, grow, shrink) follow their formula and touch nothing:
  * orbit: clockwise on screen around a centre ORBIT_RADIUS below the start, at linear speed `speed`.
  * spin: clockwise in place at SPIN_RATE·speed degrees per second.
  * grow / shrink: R scales by exp(±GROWTH·speed·t), kept within SCALE_LIMITS.
- cause and effect: an object with `becomes` set takes that colour when a body touches it, and keeps it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cineflow.world import render, vocab
from cineflow.world.scene import Annotations, Event, ObjectState, SceneSpec

DT = 1.0 / 240.0  # the fixed physics step, seconds
WINDOW = 256  # grid steps examined at once when looking for the next contact
ORBIT_RADIUS = 0.18  # world units
SPIN_RATE = 600.0  # degrees per second per unit of speed: normal speed (0.22) spins 132°/s
GROWTH = 1.0  # per second per unit of speed: normal grows 1.55x in 2 s
SCALE_LIMITS = (0.3, 3.0)
REST_SPEED = 0.15  # world units/s: a floor bounce slower than this settles (it would rise < 1% of the frame)
# Contact radius as a fraction of the bounding radius R: between the inscribed and the bounding circle, so
# that angular shapes visibly touch without sinking far into each other.
CONTACT = {"circle": 1.0, "square": 0.85, "triangle": 0.7, "star": 0.7}
DYNAMIC = ("still", *vocab.DIRECTIONS, "bounce", "fall")
OCCLUDE_MIN = 0.2  # an occlusion counts as an event once the front object hides this much of the back one
OCCLUDE_EPISODE = 0.02  # frames hiding more than this belong to one occlusion episode
DECIMALS = 4  # annotations are rounded to 1e-4 pixel, so that their JSON round-trips exactly


@dataclass
class Trajectory:
    """World-space result of integrating a scene, sampled at frame times.

    center [T, N, 2] and radius [T, N] in world units, angle [T, N] degrees, color [T, N] colour names;
    events as (kind, time in seconds, objects, detail).
    """

    center: np.ndarray
    radius: np.ndarray
    angle: np.ndarray
    color: list[list[str]]
    events: list[tuple[str, float, tuple[int, ...], dict]] = field(default_factory=list)


# 1. Scripted motions ------------------------------------------------------------------------------------


def size_scale(motion: str, speed: str, times: np.ndarray) -> np.ndarray:
    """R as a multiple of the object's base size at `times` [T] (grow and shrink; 1 otherwise)."""
    if motion not in ("grow", "shrink"):
        return np.ones(len(times))
    sign = 1.0 if motion == "grow" else -1.0
    return np.clip(np.exp(sign * GROWTH * vocab.SPEEDS[speed] * times), *SCALE_LIMITS)


def _scripted(obj, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre [T, 2] and angle [T] of an object that follows a formula (any non-dynamic motion)."""
    center = np.tile([obj.x, obj.y], (len(times), 1)).astype(float)
    angle = np.full(len(times), obj.angle, dtype=float)
    speed = vocab.SPEEDS[obj.speed]
    if obj.motion == "orbit":
        theta = speed / ORBIT_RADIUS * times  # starts at the top of its circle, moving right
        center[:, 0] += ORBIT_RADIUS * np.sin(theta)
        center[:, 1] += ORBIT_RADIUS * (1.0 - np.cos(theta))
    elif obj.motion == "spin":
        angle = angle + SPIN_RATE * speed * times
    return center, angle


# 2. Dynamic bodies: free flight between contacts --------------------------------------------------------


def _initial_velocity(obj, spec: SceneSpec) -> tuple[float, float]:
    speed = vocab.SPEEDS[obj.speed]
    if obj.motion in vocab.DIRECTIONS:
        dx, dy = vocab.DIRECTIONS[obj.motion]
        return dx * speed, dy * speed
    if obj.motion == "bounce":
        width = render.world_size(spec)[0]
        sx = 1.0 if obj.x >= width / 2 else -1.0  # toward the nearest corner
        sy = 1.0 if obj.y >= render.ground_y(spec) / 2 else -1.0
        return sx * speed / math.sqrt(2), sy * speed / math.sqrt(2)
    return 0.0, 0.0


class _Bodies:
    """State of the dynamic bodies at one grid step: position p, velocity v, acceleration g, all [M, 2]."""

    def __init__(self, spec: SceneSpec, index: list[int]):
        objs = [spec.objects[i] for i in index]
        self.index = index
        self.motion = [o.motion for o in objs]
        self.p = np.array([[o.x, o.y] for o in objs], dtype=float).reshape(-1, 2)
        self.v = np.array([_initial_velocity(o, spec) for o in objs], dtype=float).reshape(-1, 2)
        self.g = np.array([[0.0, vocab.GRAVITY if o.motion == "fall" else 0.0] for o in objs]).reshape(-1, 2)
        self.r = np.array([CONTACT[o.shape] * vocab.SIZES[o.size] / 2 for o in objs])
        self.inv_mass = np.array(
            [0.0 if o.motion == "still" else 1.0 / self.r[k] ** 2 for k, o in enumerate(objs)]
        )
        self.walled = np.array([o.motion in ("bounce", "fall") for o in objs])
        depth = np.array([o.depth for o in objs])
        M = len(objs)
        self.pairs = [(a, b) for a in range(M) for b in range(a + 1, M) if depth[a] == depth[b]]
        if self.pairs:
            self.pair_a = np.array([a for a, _ in self.pairs])
            self.pair_b = np.array([b for _, b in self.pairs])
        self.width, _ = render.world_size(spec)
        self.ground = render.ground_y(spec)

    def fly(self, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions and velocities [K, M, 2] after each of `steps` [K] grid steps of free flight."""
        tau = (steps * DT)[:, None, None]
        return self.p + self.v * tau + 0.5 * self.g * tau**2, self.v + self.g * tau

    def contacts(self, p: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Whether any contact needs resolving after each step: p, v [K, M, 2] -> bool [K]."""
        x, y, vx, vy, r = p[..., 0], p[..., 1], v[..., 0], v[..., 1], self.r
        wall = ((x < r) & (vx < 0)) | ((x > self.width - r) & (vx > 0)) | ((y < r) & (vy < 0))
        hit = ((wall | ((y > self.ground - r) & (vy > 0))) & self.walled).any(1)
        if self.pairs:
            d = p[:, self.pair_b] - p[:, self.pair_a]  # [K, P, 2]
            closing = (d * (v[:, self.pair_b] - v[:, self.pair_a])).sum(-1) < 0
            near = (d * d).sum(-1) < (self.r[self.pair_a] + self.r[self.pair_b]) ** 2
            hit |= (closing & near).any(1)
        return hit


# 3. Integration -----------------------------------------------------------------------------------------


def integrate(spec: SceneSpec) -> Trajectory:
    """Run the scene from t = 0 to the last frame's time; world-space states at every frame time."""
    T, N = spec.num_frames, len(spec.objects)
    times = np.arange(T) / spec.fps
    center = np.empty((T, N, 2))
    angle = np.empty((T, N))
    radius = np.empty((T, N))
    for i, obj in enumerate(spec.objects):
        radius[:, i] = vocab.SIZES[obj.size] / 2 * size_scale(obj.motion, obj.speed, times)
        center[:, i], angle[:, i] = _scripted(obj, times)
    color = [[obj.color for obj in spec.objects] for _ in range(T)]
    traj = Trajectory(center, radius, angle, color)

    dynamic = [i for i, obj in enumerate(spec.objects) if obj.motion in DYNAMIC]
    moving = [i for i in dynamic if spec.objects[i].motion != "still"]
    if not moving:
        return traj
    bodies = _Bodies(spec, dynamic)
    last = math.floor(times[-1] / DT + 1e-9) + 1  # grid steps that cover the last frame
    step, frame = 0, 0  # the bodies' state is at grid step `step`; frames before `frame` are written
    while True:
        ahead = np.arange(1, min(WINDOW, last - step) + 1)
        p, v = bodies.fly(ahead)
        hits = bodies.contacts(p, v) if len(ahead) else np.zeros(0, dtype=bool)
        k = int(np.argmax(hits)) + 1 if hits.any() else len(ahead)  # free-flight steps up to the next contact
        end = (step + k) * DT
        # the frames inside this free flight (all the rest once it reaches the last step)
        stop = T if step + k == last else int(np.searchsorted(times, end))
        if stop > frame:
            pf, _ = bodies.fly((times[frame:stop] - step * DT) / DT)
            center[frame:stop, dynamic] = pf
            frame = stop
        if frame == T or k == 0:
            break
        bodies.p, bodies.v = p[k - 1], v[k - 1]
        step += k
        if hits.any():
            _resolve(spec, bodies, step * DT, traj, frame)
    return traj


def _resolve(spec: SceneSpec, bodies: _Bodies, time: float, traj: Trajectory, frame: int) -> None:
    """Resolve every contact present at this grid step: walls and ground first, then pairs in order."""
    p, v, r = bodies.p, bodies.v, bodies.r
    for m, i in enumerate(bodies.index):
        if not bodies.walled[m]:
            continue
        walls = (("left", 0, r[m], -1.0), ("right", 0, bodies.width - r[m], 1.0), ("top", 1, r[m], -1.0))
        for name, axis, limit, side in walls:
            if (p[m, axis] - limit) * side > 0 and v[m, axis] * side > 0:  # past the wall and moving out
                p[m, axis], v[m, axis] = 2 * limit - p[m, axis], -v[m, axis]
                _event(traj, "bounce_wall", time, (i,), {"wall": name})
        floor = bodies.ground - r[m]
        if p[m, 1] > floor and v[m, 1] > 0:
            if bodies.motion[m] == "fall":
                v[m, 1] = -vocab.RESTITUTION * v[m, 1]
                if -v[m, 1] < REST_SPEED:  # settle on the ground instead of bouncing ever smaller
                    p[m, 1], v[m, 1], bodies.g[m, 1] = floor, 0.0, 0.0
                else:
                    p[m, 1] = floor - (p[m, 1] - floor)
                    _event(traj, "bounce_floor", time, (i,), {"speed": round(float(-v[m, 1]), DECIMALS)})
            else:
                p[m, 1], v[m, 1] = 2 * floor - p[m, 1], -v[m, 1]
                wall = "floor" if spec.floor else "bottom"
                _event(traj, "bounce_wall", time, (i,), {"wall": wall})
    for a, b in bodies.pairs:
        d = p[b] - p[a]
        dist = math.hypot(*d)
        if dist >= r[a] + r[b] or float(d @ (v[b] - v[a])) >= 0:
            continue
        n = d / max(dist, 1e-12)
        closing = float((v[a] - v[b]) @ n)
        impulse = 2 * closing / (bodies.inv_mass[a] + bodies.inv_mass[b])  # elastic: energy is conserved
        v[a] -= impulse * bodies.inv_mass[a] * n
        v[b] += impulse * bodies.inv_mass[b] * n
        for m in (a, b):  # a struck body that had settled falls again
            if bodies.motion[m] == "fall":
                bodies.g[m, 1] = vocab.GRAVITY
        i, j = bodies.index[a], bodies.index[b]
        _event(traj, "collide", time, (i, j), {})
        for toucher, touched in ((i, j), (j, i)):
            new = spec.objects[touched].becomes
            if new is not None and traj.color[-1][touched] != new:
                for row in traj.color[frame:]:
                    row[touched] = new
                _event(traj, "touch_change", time, (toucher, touched), {"new_color": new})


def _event(traj: Trajectory, kind: str, time: float, objects: tuple[int, ...], detail: dict) -> None:
    traj.events.append((kind, time, objects, detail))


# 4. Annotations -----------------------------------------------------------------------------------------


def simulate(spec: SceneSpec) -> Annotations:
    """Ground truth of a scene: per-frame object states (pixels of the rendered frame) and events."""
    traj = integrate(spec)
    T, N = traj.radius.shape
    times = np.arange(T) / spec.fps
    center, scale = render.to_pixels(spec, traj.center, times)  # [T, N, 2], [T]
    radius = traj.radius * scale[:, None]  # [T, N] pixels
    box = np.stack(
        [
            render.boxes(obj.shape, center[:, i], radius[:, i], traj.angle[:, i])
            for i, obj in enumerate(spec.objects)
        ],
        axis=1,
    )  # [T, N, 4]
    visible, hidden = render.visibility(spec, center, radius, traj.angle, box)
    center, box, angle, visible = (np.round(a, DECIMALS).tolist() for a in (center, box, traj.angle, visible))
    frames = tuple(
        tuple(
            ObjectState(tuple(box[t][i]), tuple(center[t][i]), angle[t][i], traj.color[t][i], visible[t][i])
            for i in range(N)
        )
        for t in range(T)
    )
    # a contact is annotated on the first frame at or after it (the frame that shows its consequence)
    events = [
        Event(kind, frame, objects, {**detail, "time": round(time, DECIMALS)})
        for kind, time, objects, detail in traj.events
        if (frame := math.ceil(time * spec.fps - 1e-6)) < T
    ]
    events += _occlusions(hidden)
    events.sort(key=lambda e: (e.frame, vocab.EVENTS.index(e.kind), e.objects))
    return Annotations(frames=frames, events=tuple(events))


def _occlusions(hidden: np.ndarray) -> list[Event]:
    """One `occlude` event per episode in which a front object hides >= OCCLUDE_MIN of a back object,
    at the frame where it hides the most. hidden [T, N, N] as from render.visibility."""
    events = []
    T, N, _ = hidden.shape
    for a in range(N):
        for b in range(N):
            h = hidden[:, a, b]
            if h.max(initial=0.0) < OCCLUDE_MIN:
                continue
            start = 0
            for t in range(T + 1):
                if t == T or h[t] <= OCCLUDE_EPISODE:
                    if t > start and h[start:t].max() >= OCCLUDE_MIN:
                        peak = start + int(np.argmax(h[start:t]))
                        events.append(
                            Event("occlude", peak, (a, b), {"hidden": round(float(h[peak]), DECIMALS)})
                        )
                    start = t + 1
    return events
