"""Physics invariants of the Flatland simulator (cineflow.world.physics)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cineflow.world import physics, render, vocab
from cineflow.world.scene import ObjectSpec, SceneSpec


def scene(*objects: ObjectSpec, **kw) -> SceneSpec:
    kw.setdefault("num_frames", 17)
    return SceneSpec(objects=tuple(objects), **kw)


def velocity(traj: physics.Trajectory, fps: int, i: int, frame: int) -> np.ndarray:
    """World velocity of object i between `frame` and the next (exact in free flight at constant speed)."""
    return (traj.center[frame + 1, i] - traj.center[frame, i]) * fps


def test_constant_velocity_and_fps_independence():
    obj = ObjectSpec("red", "circle", motion="down_right", speed="fast", x=0.2, y=0.2)
    slow = physics.integrate(scene(obj, fps=8, num_frames=9))
    fast = physics.integrate(scene(obj, fps=24, num_frames=25))
    step = np.array(vocab.DIRECTIONS["down_right"]) * vocab.SPEEDS["fast"]
    np.testing.assert_allclose(slow.center[8, 0], [0.2, 0.2] + step * 1.0, atol=1e-12)
    np.testing.assert_allclose(slow.center[::1, 0], fast.center[::3, 0], atol=1e-12)


def test_wall_reflection_keeps_speed_and_mirrors_the_velocity():
    obj = ObjectSpec("red", "circle", motion="bounce", speed="fast", x=0.8, y=0.7)  # heads down-right
    spec = scene(obj, fps=24, num_frames=49)
    traj = physics.integrate(spec)
    ann = physics.simulate(spec)
    walls = [e for e in ann.events if e.kind == "bounce_wall"]
    assert walls, "a fast bounce from near a corner must reach a wall in 2 s"
    r = vocab.SIZES["medium"] / 2
    assert traj.center[:, 0, 0].max() <= 1 - r + 1e-3 and traj.center[:, 0, 1].max() <= 1 - r + 1e-3
    speeds = [np.linalg.norm(velocity(traj, 24, 0, f)) for f in range(47)]
    # frames that straddle a bounce measure a shorter chord; all others keep the speed exactly
    assert np.median(speeds) == pytest.approx(vocab.SPEEDS["fast"], rel=1e-9)
    before, after = velocity(traj, 24, 0, 0), velocity(traj, 24, 0, 47)
    assert np.sign(before[0]) != np.sign(after[0]) or np.sign(before[1]) != np.sign(after[1])
    np.testing.assert_allclose(np.abs(before), np.abs(after), rtol=1e-9)


def test_gravity_and_restitution_on_the_floor():
    y0 = 0.2
    obj = ObjectSpec("blue", "circle", motion="fall", x=0.5, y=y0)
    spec = scene(obj, floor=True, fps=24, num_frames=49)
    traj = physics.integrate(spec)
    t = np.arange(6) / 24  # well before the first bounce
    np.testing.assert_allclose(traj.center[:6, 0, 1], y0 + 0.5 * vocab.GRAVITY * t**2, atol=1e-12)
    ann = physics.simulate(spec)
    bounces = [e for e in ann.events if e.kind == "bounce_floor"]
    assert bounces
    drop = render.ground_y(spec) - vocab.SIZES["medium"] / 2 - y0
    impact = math.sqrt(2 * vocab.GRAVITY * drop)
    # detected within one 1/240 s step after the exact contact: the speed is off by at most g·DT
    rebound = bounces[0].detail["speed"]
    assert rebound == pytest.approx(vocab.RESTITUTION * impact, abs=vocab.GRAVITY * physics.DT)
    assert traj.center[:, 0, 1].max() <= render.ground_y(spec) - vocab.SIZES["medium"] / 2 + 1e-2


def test_fall_settles_instead_of_bouncing_forever():
    obj = ObjectSpec("blue", "square", motion="fall", x=0.5, y=0.3)
    spec = scene(obj, floor=True, fps=8, num_frames=8 * 20 + 1)
    traj = physics.integrate(spec)
    rest = render.ground_y(spec) - physics.CONTACT["square"] * vocab.SIZES["medium"] / 2
    np.testing.assert_allclose(traj.center[-20:, 0, 1], rest, atol=1e-12)


def test_elastic_collision_conserves_momentum_and_energy():
    a = ObjectSpec("red", "circle", size="large", motion="right", speed="slow", x=0.2, y=0.5)
    b = ObjectSpec("blue", "square", size="small", motion="left", speed="fast", x=0.8, y=0.52)
    spec = scene(a, b, fps=24, num_frames=49)
    traj = physics.integrate(spec)
    kinds = [e.kind for e in physics.simulate(spec).events]
    assert kinds.count("collide") == 1
    mass = np.array([physics.CONTACT[o.shape] * vocab.SIZES[o.size] / 2 for o in (a, b)]) ** 2
    v0 = np.stack([velocity(traj, 24, i, 0) for i in range(2)])
    v1 = np.stack([velocity(traj, 24, i, 47) for i in range(2)])
    np.testing.assert_allclose((mass[:, None] * v0).sum(0), (mass[:, None] * v1).sum(0), atol=1e-12)
    assert (mass * (v0**2).sum(1)).sum() == pytest.approx((mass * (v1**2).sum(1)).sum(), rel=1e-9)
    assert v1[0, 0] < v0[0, 0] and v1[1, 0] > v0[1, 0]  # they rebound


def test_contact_happens_when_the_discs_touch():
    a = ObjectSpec("red", "circle", motion="right", speed="fast", x=0.2, y=0.5)
    b = ObjectSpec("blue", "circle", motion="left", speed="fast", x=0.8, y=0.5)
    spec = scene(a, b, fps=24, num_frames=49)
    (event,) = [e for e in physics.simulate(spec).events if e.kind == "collide"]
    gap = 0.6 - vocab.SIZES["medium"]  # between the two circles' edges at t = 0
    expected = gap / (2 * vocab.SPEEDS["fast"])
    assert event.detail["time"] == pytest.approx(expected, abs=physics.DT)


def test_different_depths_pass_through():
    a = ObjectSpec("red", "circle", motion="right", x=0.2, y=0.5, depth=0)
    b = ObjectSpec("blue", "circle", motion="left", x=0.8, y=0.5, depth=1)
    traj = physics.integrate(scene(a, b))
    assert not traj.events
    assert traj.center[-1, 0, 0] > traj.center[-1, 1, 0]  # they crossed


def test_touch_changes_colour_for_good_and_still_objects_stay():
    a = ObjectSpec("red", "circle", motion="right", speed="fast", x=0.2, y=0.5)
    b = ObjectSpec("blue", "star", motion="still", x=0.6, y=0.5, becomes="red")
    spec = scene(a, b, fps=8, num_frames=17)
    ann = physics.simulate(spec)
    (change,) = [e for e in ann.events if e.kind == "touch_change"]
    assert change.objects == (0, 1) and change.detail["new_color"] == "red"
    colors = [frame[1].color for frame in ann.frames]
    assert colors[: change.frame] == ["blue"] * change.frame
    assert colors[change.frame :] == ["red"] * (17 - change.frame)
    assert len({frame[1].center for frame in ann.frames}) == 1  # the touched still object never moved
    assert ann.frames[-1][0].center[0] < ann.frames[change.frame][0].center[0]  # the mover bounced back


def test_scripted_motions():
    times = np.arange(17) / 8
    orbit = ObjectSpec("red", "circle", motion="orbit", x=0.5, y=0.3)
    spin = ObjectSpec("blue", "square", motion="spin", speed="slow", x=0.2, y=0.8, depth=1)
    grow = ObjectSpec("green", "star", size="small", motion="grow", x=0.8, y=0.8, depth=2)
    traj = physics.integrate(scene(orbit, spin, grow))
    dist = np.linalg.norm(traj.center[:, 0] - [0.5, 0.3 + physics.ORBIT_RADIUS], axis=1)
    np.testing.assert_allclose(dist, physics.ORBIT_RADIUS, atol=1e-12)
    assert traj.center[1, 0, 0] > 0.5  # clockwise on screen: from the top, it moves right
    np.testing.assert_allclose(traj.angle[:, 1], physics.SPIN_RATE * vocab.SPEEDS["slow"] * times)
    np.testing.assert_allclose(
        traj.radius[:, 2], vocab.SIZES["small"] / 2 * np.exp(physics.GROWTH * vocab.SPEEDS["normal"] * times)
    )


def test_annotations_are_pixels_of_the_rendered_frame():
    obj = ObjectSpec("red", "circle", x=0.25, y=0.5)
    ann = physics.simulate(scene(obj, width=128, height=64, num_frames=1))
    state = ann.frames[0][0]
    assert state.center == (16.0, 32.0)
    assert state.box == pytest.approx((16 - 6.4, 32 - 6.4, 16 + 6.4, 32 + 6.4))
    assert state.visible == 1.0
