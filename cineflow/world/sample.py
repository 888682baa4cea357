"""Seeded sampling of Flatland scenes: one scenario per motion, per event and per camera move, plus a mix.

Every scenario is a small recipe that places objects so that what it is named after happens inside the
clip: a `collide` scene aims two bodies at each other, an `occlude` scene passes one object over another
at a different depth, a `touch_change` scene drives a body into a still one that has `becomes` set, and
so on. Objects get distinct colours; unplanned contacts are avoided by giving every other object its own
depth (only bodies at the same depth collide, see physics.py).

Timing is planned over a horizon of min(clip duration, HORIZON) seconds (2 s for a 1-frame image, which
is then the first frame of a default clip), so long clips start like short ones and objects may later
leave the frame.
"""

from __future__ import annotations

import math

import numpy as np

from cineflow.world import physics, render, vocab
from cineflow.world.scene import ObjectSpec, SceneSpec

CAMERA_MOVES = tuple(c for c in vocab.CAMERAS if c != "static")
SCENARIOS: tuple[str, ...] = (*vocab.MOTIONS, *vocab.EVENTS, *CAMERA_MOVES, "mix")
MIX_WEIGHT = 5.0  # with scenario=None, "mix" is this many times likelier than each named scenario
HORIZON = 4.0  # seconds over which event timings are planned
MARGIN = 0.02  # world units kept between an object and the frame edge at the start
CAMERA_MARGIN = 0.15  # more of it under a moving camera, which shifts or scales the view by up to ~0.14
SPIN_SHAPES = tuple(s for s in vocab.SHAPES if s != "circle")  # a spinning circle looks still


class _Draw:
    """Random choices for one scene: shared rng, world extent, colours handed out without repeats."""

    def __init__(self, rng: np.random.Generator, spec_geometry: SceneSpec):
        self.rng = rng
        self.margin = MARGIN if spec_geometry.camera == "static" else CAMERA_MARGIN
        self.width, self.height = render.world_size(spec_geometry)
        self.ground = render.ground_y(spec_geometry)
        self.colors = [str(c) for c in rng.permutation(list(vocab.COLORS))]

    def pick(self, options, p=None) -> str:
        return str(options[int(self.rng.choice(len(options), p=p))])

    def color(self) -> str:
        return self.colors.pop()

    def obj(self, motion: str, **fields) -> ObjectSpec:
        """An object with random looks for `motion`, then `fields` on top."""
        shape = self.pick(SPIN_SHAPES if motion == "spin" else vocab.SHAPES)
        sizes = {"grow": ("small", "medium"), "shrink": ("medium", "large")}.get(motion, tuple(vocab.SIZES))
        looks = dict(
            color=self.color(),
            shape=shape,
            size=self.pick(sizes),
            motion=motion,
            speed=self.pick(tuple(vocab.SPEEDS)),
            angle=float(self.rng.uniform(0, 90)) if shape != "circle" else 0.0,
        )
        return ObjectSpec(**{**looks, **fields})

    def uniform(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high)) if high > low else (low + high) / 2


def _radius(obj: ObjectSpec) -> float:
    return vocab.SIZES[obj.size] / 2


def _contact(obj: ObjectSpec) -> float:
    return physics.CONTACT[obj.shape] * _radius(obj)


# 1. Placement of single objects --------------------------------------------------------------------------


def _place(draw: _Draw, obj: ObjectSpec, horizon: float) -> ObjectSpec:
    """A start position from which `obj`'s motion stays in frame over the horizon, where that is possible."""
    r = _radius(obj) * physics.size_scale(obj.motion, obj.speed, np.array([horizon])).max(initial=1.0)
    m = draw.margin
    lo, hi_x, hi_y = r + m, draw.width - r - m, draw.ground - r - m
    travel = vocab.SPEEDS[obj.speed] * horizon
    if obj.motion in vocab.DIRECTIONS:
        dx, dy = vocab.DIRECTIONS[obj.motion]
        x = _start(draw, lo, hi_x, dx * travel)
        y = _start(draw, lo, hi_y, dy * travel)
    elif obj.motion == "orbit":
        orbit = physics.ORBIT_RADIUS
        x = draw.uniform(lo + orbit, hi_x - orbit)
        y = draw.uniform(lo, hi_y - 2 * orbit)
    elif obj.motion == "fall":
        x = draw.uniform(lo, hi_x)
        y = draw.uniform(lo, max(lo, 0.4 * draw.ground))
    else:
        x, y = draw.uniform(lo, hi_x), draw.uniform(lo, hi_y)
    return _with(obj, x=x, y=y)


def _start(draw: _Draw, lo: float, hi: float, shift: float) -> float:
    """A start in [lo, hi] from which moving by `shift` stays in [lo, hi]; when the path is longer than
    the room, the edge it leaves from."""
    if hi - lo < abs(shift):
        return lo if shift > 0 else hi
    return draw.uniform(lo + max(-shift, 0), hi - max(shift, 0))


def _with(obj: ObjectSpec, **fields) -> ObjectSpec:
    return ObjectSpec(**{**obj.__dict__, **fields})


def _separate(draw: _Draw, objs: list[ObjectSpec], new: ObjectSpec, horizon: float) -> ObjectSpec:
    """Re-place `new` (a few tries) so that it does not start overlapping the objects already placed;
    where the room its motion needs makes that impossible, the try with the most clearance."""

    def clearance(c: ObjectSpec) -> float:
        return min(math.hypot(c.x - o.x, c.y - o.y) - _radius(c) - _radius(o) for o in objs)

    best = new
    for _ in range(20):
        if clearance(new) > MARGIN:
            return new
        new = _place(draw, new, horizon)
        best = max(best, new, key=clearance)
    return best


def _extras(
    draw: _Draw, objs: list[ObjectSpec], count: int, motions, horizon: float, **fields
) -> list[ObjectSpec]:
    """Add `count` objects with motions drawn from `motions` (and `fields`), each at a depth of its own."""
    for _ in range(count):
        depth = max(o.depth for o in objs) + 1
        new = _place(draw, draw.obj(draw.pick(motions), depth=depth, **fields), horizon)
        objs.append(_separate(draw, objs, new, horizon))
    return objs


# 2. Scenarios -------------------------------------------------------------------------------------------


def _motion(draw: _Draw, motion: str, horizon: float) -> list[ObjectSpec]:
    objs = [_place(draw, draw.obj(motion), horizon)]
    return _extras(draw, objs, int(draw.rng.integers(0, 2)), ("still", motion), horizon)


def _toward(
    draw: _Draw, a: ObjectSpec, b: ObjectSpec, direction: str, t_contact: float
) -> tuple[ObjectSpec, ...]:
    """Place a (moving along `direction`) and b so that their contact discs touch after `t_contact` s.

    b moves with its own motion (a direction opposite to a's, or still); the gap is planned from both speeds
    and shortened where the frame is too small for it.
    """
    ux, uy = vocab.DIRECTIONS[direction]
    closing = vocab.SPEEDS[a.speed] + (vocab.SPEEDS[b.speed] if b.motion != "still" else 0.0)
    room = [
        draw.width - 2 * MARGIN - _radius(a) - _radius(b),
        draw.ground - 2 * MARGIN - _radius(a) - _radius(b),
    ]
    span = min(room[k] / abs(u) for k, u in enumerate((ux, uy)) if u != 0)  # longest gap along the path
    gap = min(_contact(a) + _contact(b) + closing * t_contact, span)
    # choose a's start so that both starts are inside the frame
    xa = draw.uniform(
        _radius(a) + MARGIN + max(-ux, 0) * gap, draw.width - _radius(a) - MARGIN - max(ux, 0) * gap
    )
    ya = draw.uniform(
        _radius(a) + MARGIN + max(-uy, 0) * gap, draw.ground - _radius(a) - MARGIN - max(uy, 0) * gap
    )
    return _with(a, x=xa, y=ya), _with(b, x=xa + ux * gap, y=ya + uy * gap)


def _collide(draw: _Draw, horizon: float) -> list[ObjectSpec]:
    pairs = (("right", "left"), ("down", "up"), ("down_right", "up_left"), ("up_right", "down_left"))
    da, db = pairs[int(draw.rng.integers(len(pairs)))]
    a, b = draw.obj(da), draw.obj(db)
    return list(_toward(draw, a, b, da, draw.uniform(0.3, 0.55) * horizon))


def _touch_change(draw: _Draw, horizon: float) -> list[ObjectSpec]:
    direction = draw.pick(tuple(vocab.DIRECTIONS))
    a = draw.obj(direction)
    shapes = tuple(s for s in vocab.SHAPES if s != a.shape)  # the two must stay distinguishable by shape
    b = draw.obj("still", shape=draw.pick(shapes), becomes=a.color)  # vocab: b takes a's colour
    return list(_toward(draw, a, b, direction, draw.uniform(0.3, 0.55) * horizon))


def _occlude(draw: _Draw, horizon: float) -> list[ObjectSpec]:
    """A mover crosses a still object's centre halfway through; the larger of the two is in front."""
    direction = draw.pick(tuple(vocab.DIRECTIONS))
    # not slow: over 2 s a slow mover would start already overlapping the object it passes
    mover, still = draw.obj(direction, speed=draw.pick(("normal", "fast"))), draw.obj("still")
    front_is_mover = bool(draw.rng.integers(2))
    big, small = sorted([mover.size, still.size], key=lambda s: vocab.SIZES[s], reverse=True)
    mover = _with(mover, size=big if front_is_mover else small, depth=1 if front_is_mover else 0)
    still = _with(still, size=small if front_is_mover else big, depth=0 if front_is_mover else 1)
    # the still object is where the mover will be at mid-horizon
    mover = _place(draw, mover, horizon)
    ux, uy = vocab.DIRECTIONS[direction]
    travel = vocab.SPEEDS[mover.speed] * horizon / 2
    still = _with(still, x=mover.x + ux * travel, y=mover.y + uy * travel)
    return [mover, still]


def _bounce_wall(draw: _Draw, horizon: float) -> list[ObjectSpec]:
    """A bounce body heading for a corner, starting where it reaches one of the two walls in time."""
    obj = draw.obj("bounce")
    r, step = _contact(obj), vocab.SPEEDS[obj.speed] / math.sqrt(2) * draw.uniform(0.2, 0.6) * horizon
    near_x = r + min(step, draw.width / 2 - r - MARGIN)  # distance from the wall it is heading to
    far_y = draw.uniform(_radius(obj) + MARGIN, draw.ground / 2)
    x = near_x if draw.rng.integers(2) else draw.width - near_x
    y = far_y if draw.rng.integers(2) else draw.ground - far_y
    return _extras(draw, [_with(obj, x=x, y=y)], int(draw.rng.integers(0, 2)), ("still",), horizon)


def _bounce_floor(draw: _Draw, horizon: float) -> list[ObjectSpec]:
    """A falling body dropped from a height it falls in time to bounce within the horizon."""
    obj = draw.obj("fall")
    t_hit = draw.uniform(0.25, 0.5) * horizon
    drop = min(0.5 * vocab.GRAVITY * t_hit**2, draw.ground - 2 * _radius(obj) - 2 * MARGIN)
    x = draw.uniform(_radius(obj) + MARGIN, draw.width - _radius(obj) - MARGIN)
    obj = _with(obj, x=x, y=draw.ground - _contact(obj) - drop)
    return _extras(draw, [obj], int(draw.rng.integers(0, 2)), ("still", "spin"), horizon)


def _mix(draw: _Draw, horizon: float) -> list[ObjectSpec]:
    count = int(draw.rng.integers(1, vocab.MAX_OBJECTS + 1))
    objs = [_place(draw, draw.obj(draw.pick(vocab.MOTIONS)), horizon)]
    return _extras(draw, objs, count - 1, vocab.MOTIONS, horizon)


_EVENT_RECIPES = {
    "collide": _collide,
    "touch_change": _touch_change,
    "occlude": _occlude,
    "bounce_wall": _bounce_wall,
    "bounce_floor": _bounce_floor,
}


# 3. Scenes ----------------------------------------------------------------------------------------------


def sample_scene(
    rng: np.random.Generator,
    *,
    width: int = vocab.DEFAULT_SIZE[0],
    height: int = vocab.DEFAULT_SIZE[1],
    fps: int = vocab.DEFAULT_FPS,
    num_frames: int = vocab.DEFAULT_FRAMES,
    scenario: str | None = None,
    seed: int = 0,
) -> SceneSpec:
    """A random scene of the named scenario (one of SCENARIOS), or of a random one when None."""
    if scenario is None:
        weights = np.array([MIX_WEIGHT if s == "mix" else 1.0 for s in SCENARIOS])
        scenario = str(SCENARIOS[int(rng.choice(len(SCENARIOS), p=weights / weights.sum()))])
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario: unknown value {scenario!r}; choose from {', '.join(SCENARIOS)}")
    background = str(rng.choice(list(vocab.BACKGROUNDS)))
    floor_p = 0.8 if scenario in ("fall", "bounce_floor") else 0.4
    floor = bool(rng.random() < floor_p)
    camera = scenario if scenario in CAMERA_MOVES else "static"
    if scenario == "mix" and rng.random() < 0.25:
        camera = str(rng.choice(CAMERA_MOVES))
    geometry = SceneSpec(
        objects=(ObjectSpec("red", "circle"),),
        floor=floor,
        camera=camera,
        width=width,
        height=height,
        fps=fps,
        num_frames=num_frames,
    )  # validates the geometry before anything is planned on it
    duration = (num_frames - 1) / fps
    horizon = min(duration, HORIZON) if duration > 0 else 2.0
    draw = _Draw(rng, geometry)
    if scenario in _EVENT_RECIPES:
        objs = _EVENT_RECIPES[scenario](draw, horizon)
    elif scenario in vocab.MOTIONS:
        objs = _motion(draw, scenario, horizon)
    elif scenario == "mix":
        objs = _mix(draw, horizon)
    else:  # a camera move: a few calm, slow objects, so that the motion on screen is mostly the camera's
        calm = ("still", "still", "left", "right", "up", "down", "spin")
        first = _place(draw, draw.obj(draw.pick(calm), speed="slow"), horizon)
        objs = _extras(draw, [first], int(rng.integers(0, 3)), calm, horizon, speed="slow")
    return SceneSpec(
        objects=tuple(objs),
        background=background,
        floor=floor,
        camera=camera,
        width=width,
        height=height,
        fps=fps,
        num_frames=num_frames,
        seed=seed,
    )
