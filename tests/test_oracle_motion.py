"""Motion classification on exact world trajectories from the simulator (no rendering): the oracle's
motion rules against the world's own physics, with a little position noise like a detector's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cineflow.world import physics, render, vocab
from cineflow.world.oracle import motion
from cineflow.world.scene import ObjectSpec, SceneSpec

NOISE = 0.1 / 64  # a tenth of a pixel at 64 px, in world units


def _path(spec: SceneSpec, i: int = 0, seed: int = 0) -> motion.Path:
    traj = physics.integrate(spec)
    T = spec.num_frames
    rng = np.random.default_rng(seed)
    shape = spec.objects[i].shape
    order = {"circle": 0, "triangle": 3, "square": 4, "star": 5}[shape]
    return motion.Path(
        times=np.arange(T) / spec.fps,
        xy=traj.center[:, i] + rng.normal(0, NOISE, (T, 2)),
        radius=traj.radius[:, i],
        angle=traj.angle[:, i] % (360 / order) if order else np.full(T, np.nan),
        frames=np.arange(T),
        clean=np.ones(T, dtype=bool),
        period=360.0 / order if order else 0.0,
    )


def _classify(obj: ObjectSpec, **kw) -> motion.Motion:
    spec = SceneSpec(objects=(obj,), **kw)
    return motion.classify(_path(spec), render.world_size(spec), render.ground_y(spec))


@pytest.mark.parametrize("direction", list(vocab.DIRECTIONS))
@pytest.mark.parametrize("speed", list(vocab.SPEEDS))
def test_directions_and_speeds(direction, speed):
    dx, dy = vocab.DIRECTIONS[direction]
    m = _classify(
        ObjectSpec("red", "square", motion=direction, speed=speed, x=0.5 - 0.25 * dx, y=0.5 - 0.25 * dy)
    )
    assert m.primary == direction and m.speed == speed
    assert ("bounce" in m.compatible) == ("_" in direction)  # a diagonal meeting no wall could be a bounce


def test_fall_fits_gravity_and_restitution():
    spec = SceneSpec(
        objects=(ObjectSpec("red", "circle", motion="fall", x=0.5, y=0.2),), floor=True, num_frames=25
    )
    m = motion.classify(_path(spec), render.world_size(spec), render.ground_y(spec))
    assert m.primary == "fall"
    assert m.physics["gravity"] == pytest.approx(vocab.GRAVITY, rel=0.05)
    assert m.physics["restitution"] == pytest.approx(vocab.RESTITUTION, abs=0.1)
    floor_hits = [e for e in physics.integrate(spec).events if e[0] == "bounce_floor"]
    assert len(floor_hits) == 2  # in 3 s it bounces twice
    assert [wall for _, wall in m.bounces] == ["floor"] * len(floor_hits)


def test_bounce_is_seen_at_the_wall():
    m = _classify(ObjectSpec("red", "circle", motion="bounce", speed="fast", x=0.8, y=0.75))
    assert m.primary == "bounce" and m.compatible == {"bounce"} and m.speed == "fast"
    assert m.bounces and m.bounces[0][1] in ("right", "floor")


@pytest.mark.parametrize("speed", list(vocab.SPEEDS))
def test_orbit_spin_grow_shrink(speed):
    assert _classify(ObjectSpec("red", "star", motion="orbit", speed=speed, x=0.5, y=0.3)).primary == "orbit"
    spin = _classify(ObjectSpec("red", "square", motion="spin", speed=speed))
    assert spin.primary == "spin" and spin.speed == speed
    for name in ("grow", "shrink"):
        m = _classify(ObjectSpec("red", "circle", motion=name, speed=speed))
        assert m.primary == name and m.speed == speed


def test_still_disc_is_also_a_possible_spin_but_a_still_square_is_not():
    assert _classify(ObjectSpec("red", "circle")).compatible == {"still", "spin"}
    assert _classify(ObjectSpec("red", "square")).compatible == {"still"}


def _keep(path: motion.Path, frames: list[int]) -> motion.Path:
    """The path at only these frames (the others hidden or cut by the border)."""
    k = np.array(frames)
    return dataclasses.replace(
        path,
        times=path.times[k],
        xy=path.xy[k],
        radius=path.radius[k],
        angle=path.angle[k],
        frames=path.frames[k],
        clean=path.clean[k],
    )


def _first(spec: SceneSpec, kind: str) -> int:
    """The first frame after the world's first event of this kind."""
    time = next(e[1] for e in physics.integrate(spec).events if e[0] == kind)
    return int(np.ceil(time * spec.fps))


@pytest.mark.parametrize("late", [False, True])
def test_fall_with_its_landing_hidden_in_a_gap(late):
    spec = SceneSpec(objects=(ObjectSpec("red", "circle", motion="fall", x=0.5, y=0.3),), floor=True)
    full = _path(spec)
    land = _first(spec, "bounce_floor")
    if late:  # seen falling, once just before landing, once just after it, then at the end
        frames = [0, 1, 2, land - 1, land, spec.num_frames - 1]
    else:  # seen falling, then only once, a little higher, long after the landing
        back = next(k for k in range(land, spec.num_frames) if full.xy[k, 1] < full.xy[4, 1])
        frames = [0, 1, 2, 3, 4, back]
    m = motion.classify(_keep(full, frames), render.world_size(spec), render.ground_y(spec))
    assert m.primary == "fall" and [wall for _, wall in m.bounces] == ["floor"]


def test_bounce_seen_only_where_it_touches_the_border():
    spec = SceneSpec(objects=(ObjectSpec("red", "circle", motion="bounce", speed="fast", x=0.7, y=0.5),))
    hit = _first(spec, "bounce_wall")
    full = _keep(_path(spec), list(range(hit + 3)))  # the clip ends two frames after the reflection
    inner = _keep(full, list(range(hit - 1)))  # ... and the object touches the border from hit - 1 on
    walls, ground = render.world_size(spec), render.ground_y(spec)
    assert not motion.classify(inner, walls, ground).bounces
    m = motion.classify(inner, walls, ground, border_path=full)
    assert m.primary == "bounce" and any(hit - 2 <= f <= hit for f, _ in m.bounces)


def test_bounce_in_the_last_step_turns_back_however_slowly():
    spec = SceneSpec(objects=(ObjectSpec("red", "circle", motion="bounce", speed="slow", x=0.78, y=0.4),))
    hit = _first(spec, "bounce_wall")
    path = _keep(_path(spec), list(range(hit + 1)))  # the clip ends on the frame after the reflection
    into = (path.xy[-2, 0] - path.xy[-3, 0]) * spec.fps
    path.xy[-1, 0] = path.xy[-2, 0] - 0.04 / spec.fps  # back at 0.04 units/s: under MOVING, over 0.3 x into
    assert 0.3 * into < 0.04 < motion.MOVING
    m = motion.classify(path, render.world_size(spec), render.ground_y(spec))
    assert any(hit - 1 <= f <= hit for f, _ in m.bounces)
