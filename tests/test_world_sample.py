"""Scene sampling: every scenario makes what it is named after happen, deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from cineflow.world import physics, sample, vocab

SEEDS = range(6)


def scenes(scenario, seeds=SEEDS, **geometry):
    for seed in seeds:
        spec = sample.sample_scene(np.random.default_rng(seed), scenario=scenario, **geometry)
        yield spec, physics.simulate(spec)


@pytest.mark.parametrize("event", vocab.EVENTS)
def test_every_event_scenario_produces_its_event(event):
    for spec, ann in scenes(event):
        kinds = {e.kind for e in ann.events}
        assert event in kinds, f"{event} scene {spec} produced only {kinds}"
        if event in ("collide", "touch_change"):
            (first,) = [e for e in ann.events if e.kind == event][:1]
            assert spec.objects[first.objects[0]].depth == spec.objects[first.objects[1]].depth


@pytest.mark.parametrize("motion", vocab.MOTIONS)
def test_every_motion_scenario_shows_that_motion_in_frame(motion):
    for spec, ann in scenes(motion, seeds=range(3)):
        assert spec.objects[0].motion == motion
        visible = np.array([frame[0].visible for frame in ann.frames])
        assert visible.mean() > 0.6, f"{motion}: the object is mostly out of view in {spec}"
        if motion == "spin":
            assert spec.objects[0].shape != "circle"


@pytest.mark.parametrize("camera", sample.CAMERA_MOVES)
def test_camera_scenarios_keep_objects_in_view(camera):
    inside = []
    for spec, ann in scenes(camera, seeds=range(12)):
        assert spec.camera == camera
        assert all(o.speed == "slow" or o.motion == "still" for o in spec.objects)
        inside += [
            s.box[0] >= 0 and s.box[1] >= 0 and s.box[2] <= 64 and s.box[3] <= 64 for s in ann.frames[-1]
        ]
    assert np.mean(inside) >= 0.9, "the camera's motion must not carry the objects out of the frame"


def test_every_speed_and_camera_is_sampled_by_the_mix():
    specs = [sample.sample_scene(np.random.default_rng(seed)) for seed in range(300)]
    assert {o.speed for s in specs for o in s.objects} == set(vocab.SPEEDS)
    assert {o.motion for s in specs for o in s.objects} == set(vocab.MOTIONS)
    assert {s.camera for s in specs} == set(vocab.CAMERAS)
    assert {len(s.objects) for s in specs} == set(range(1, vocab.MAX_OBJECTS + 1))
    for s in specs:
        assert len({o.color for o in s.objects}) == len(s.objects), "colours identify objects"


def test_same_seed_same_scene_and_geometry_is_kept():
    a = sample.sample_scene(np.random.default_rng(7), width=96, height=48, fps=12, num_frames=25)
    b = sample.sample_scene(np.random.default_rng(7), width=96, height=48, fps=12, num_frames=25)
    c = sample.sample_scene(np.random.default_rng(8), width=96, height=48, fps=12, num_frames=25)
    assert a == b and a != c
    assert (a.width, a.height, a.fps, a.num_frames) == (96, 48, 12, 25)


def test_images_and_long_clips():
    for scenario in ("collide", "occlude", "fall", "mix"):
        for _, ann in scenes(scenario, seeds=range(2), num_frames=1):
            assert len(ann.frames) == 1 and not [e for e in ann.events if e.kind != "occlude"]
        for _, ann in scenes(scenario, seeds=range(1), fps=4, num_frames=4 * 20 + 1, width=48, height=32):
            assert len(ann.frames) == 81


def test_unknown_scenario_is_an_error():
    with pytest.raises(ValueError, match="scenario"):
        sample.sample_scene(np.random.default_rng(0), scenario="explode")
    with pytest.raises(ValueError, match="width"):
        sample.sample_scene(np.random.default_rng(0), width=8)
