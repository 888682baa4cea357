"""Rendering: exact palette, anti-aliasing, any size, camera landmarks, visible fractions."""

from __future__ import annotations

import numpy as np
import pytest

from cineflow.world import physics, render, vocab
from cineflow.world.scene import ObjectSpec, SceneSpec


def draw(*objects: ObjectSpec, **kw) -> tuple[np.ndarray, SceneSpec]:
    spec = SceneSpec(objects=tuple(objects), **kw)
    return render.render(spec, physics.simulate(spec)), spec


@pytest.mark.parametrize("shape", vocab.SHAPES)
def test_coverage_matches_the_shape_area(shape):
    R = 40.0
    xs = (np.arange(100) + 0.5)[None]
    cov = render.coverage(shape, np.array([[50.0, 50.0]]), np.array([R]), np.array([17.0]), xs, xs)
    assert cov.sum() == pytest.approx(render.UNIT_AREA[shape] * R**2, rel=0.01)
    assert set(np.unique(cov)) - {0.0, 1.0}, "edges must be anti-aliased"


@pytest.mark.parametrize("shape", vocab.SHAPES)
def test_boxes_hold_the_shape_and_invert_to_the_radius(shape):
    center, radius, angle = np.array([[50.0, 50.0]]), np.array([30.0]), np.array([23.0])
    box = render.boxes(shape, center, radius, angle)[0]
    xs = (np.arange(100) + 0.5)[None]
    cov = render.coverage(shape, center, radius, angle, xs, xs)[0]
    rows, cols = np.nonzero(cov > 0.5)
    assert box[0] - 1 <= cols.min() and cols.max() <= box[2]
    assert box[1] - 1 <= rows.min() and rows.max() <= box[3]
    assert render.radius_from_box(shape, box[None], angle)[0] == pytest.approx(30.0)


def test_exact_palette_background_and_floor():
    obj = ObjectSpec("orange", "square", size="large", x=0.5, y=0.4)
    frames, _ = draw(obj, background="brown", floor=True)
    assert frames.shape == (17, 64, 64, 3) and frames.dtype == np.uint8
    assert tuple(frames[0, 25, 32]) == vocab.COLORS["orange"]
    assert tuple(frames[0, 0, 0]) == vocab.BACKGROUNDS["brown"]
    floor = tuple(int(c * vocab.FLOOR_SHADE + 0.5) for c in vocab.BACKGROUNDS["brown"])
    assert tuple(frames[0, 63, 0]) == floor
    floor_rows = (frames[0, :, 0] == floor).all(1).sum()
    assert floor_rows == pytest.approx(64 * vocab.FLOOR_HEIGHT, abs=1)


SIZES = [(16, 16, 1), (40, 16, 3), (16, 90, 2), (1024, 24, 1)]


@pytest.mark.parametrize(("width", "height", "num_frames"), SIZES)
def test_any_size_and_aspect(width, height, num_frames):
    obj = ObjectSpec("cyan", "star", x=0.5, y=0.5)
    frames, _ = draw(obj, width=width, height=height, num_frames=num_frames)
    assert frames.shape == (num_frames, height, width, 3)
    side = min(width, height)
    area = render.UNIT_AREA["star"] * (vocab.SIZES["medium"] / 2 * side) ** 2
    bg, fg = vocab.BACKGROUNDS["black"][1], vocab.COLORS["cyan"][1]
    green = (frames[0, ..., 1].astype(float) - bg) / (fg - bg)
    assert green.sum() == pytest.approx(area, rel=0.2)  # to scale; a 1.6 px star is a little fat


def test_scenes_look_the_same_at_any_resolution():
    obj = ObjectSpec("green", "triangle", size="large", x=0.4, y=0.6, angle=10.0)
    small, _ = draw(obj, width=32, height=32, num_frames=1)
    big, _ = draw(obj, width=128, height=128, num_frames=1)
    pooled = big[0].reshape(32, 4, 32, 4, 3).astype(float).mean((1, 3))
    assert np.abs(pooled - small[0]).mean() < 3.0


@pytest.mark.parametrize("camera", ["pan_left", "pan_right"])
def test_a_panning_camera_moves_the_landmarks(camera):
    obj = ObjectSpec("red", "circle", size="small", x=0.5, y=0.5)
    frames, _ = draw(obj, camera=camera, background="gray")
    row = frames[:, 8, :, 0].astype(float)  # a row through the first line of dots
    assert row[0].max() > vocab.BACKGROUNDS["gray"][0] + 10, "landmarks must be visible"
    # the dot at world x = 0.625 (pixel 40 in frame 0); after 1 s it has moved ~4 px, still inside 30..50
    excess = np.clip(row[:, 30:50] - vocab.BACKGROUNDS["gray"][0], 0, None)
    centroid = (excess * np.arange(30, 50)).sum(1) / excess.sum(1) + 0.5
    assert centroid[0] == pytest.approx(40.0, abs=0.05)
    shift = centroid[8] - centroid[0]
    expected = render.PAN_SPEED * 1.0 * 64 * (1 if camera == "pan_left" else -1)
    assert shift == pytest.approx(expected, abs=0.3)


def test_a_static_camera_draws_no_landmarks():
    frames, _ = draw(ObjectSpec("red", "circle", size="small", x=0.5, y=0.5), background="gray")
    assert (frames[:, :20] == vocab.BACKGROUNDS["gray"]).all()


def test_zoom_in_grows_objects_on_screen():
    frames, _ = draw(ObjectSpec("red", "circle", x=0.5, y=0.5), camera="zoom_in")
    area = (frames == vocab.COLORS["red"]).all(-1).sum((1, 2))
    assert area[-1] / area[0] == pytest.approx(np.exp(2 * render.ZOOM_RATE * 2.0), rel=0.1)


def test_visible_fraction_at_the_edge_and_behind_another():
    edge = ObjectSpec("red", "circle", x=0.0, y=0.5)
    back = ObjectSpec("blue", "circle", size="small", x=0.6, y=0.5, depth=0)
    front = ObjectSpec("green", "square", size="large", x=0.6, y=0.5, depth=1)
    half_front = ObjectSpec("white", "square", size="large", x=0.5, y=0.85, depth=2)
    half_back = ObjectSpec("cyan", "square", size="large", x=0.5 + 0.099, y=0.85, depth=1)
    spec = SceneSpec(objects=(edge, back, front, half_front), num_frames=1)
    state = physics.simulate(spec).frames[0]
    assert state[0].visible == pytest.approx(0.5, abs=0.01)
    assert state[1].visible == 0.0
    assert state[2].visible == 1.0 and state[3].visible == 1.0
    ann = physics.simulate(SceneSpec(objects=(half_back, half_front), num_frames=1))
    # squares of side 0.28/√2 = 0.198 set 0.099 apart: the front one hides half of the back one
    assert ann.frames[0][0].visible == pytest.approx(0.5, abs=0.02)
    assert ann.frames[0][1].visible == 1.0


def test_visible_fraction_agrees_with_the_pixels():
    """Across an occlusion, `visible` matches the share of the back object's colour left on screen.

    Each pixel is unmixed into its blue and yellow weights (3 channels, 2 unknowns over the background),
    so anti-aliased edges count by their coverage."""
    back = ObjectSpec("blue", "square", size="large", x=0.5, y=0.5, depth=0)
    front = ObjectSpec("yellow", "star", size="large", motion="right", speed="fast", x=0.1, y=0.55, depth=1)
    spec = SceneSpec(objects=(back, front), width=128, height=128)
    ann = physics.simulate(spec)
    frames = render.render(spec, ann)
    alone = render.render(SceneSpec(objects=(back,), width=128, height=128), physics.simulate(spec))
    bg = np.array(vocab.BACKGROUNDS["black"], dtype=float)
    mix = np.stack([np.array(vocab.COLORS[c]) - bg for c in ("blue", "yellow")], axis=1)  # [3, 2]

    def blue_weight(x: np.ndarray) -> np.ndarray:
        return ((x.astype(float) - bg) @ np.linalg.pinv(mix).T)[..., 0].sum((1, 2))  # [T]

    blue, blue_alone = blue_weight(frames), blue_weight(alone)
    visible = np.array([frame[0].visible for frame in ann.frames])
    assert visible.min() < 0.7, "the star must pass over the square"
    np.testing.assert_allclose(blue / blue_alone, visible, atol=0.01)
    assert any(e.kind == "occlude" and e.objects == (1, 0) for e in ann.events)


@pytest.mark.parametrize(("x", "y"), [(0.0, 0.5), (1.0, 0.3), (0.6, 0.0), (1.0, 1.0), (-0.2, 0.5)])
def test_objects_at_the_frame_edge_are_clipped_not_shifted(x, y):
    obj = ObjectSpec("white", "triangle", size="large", x=x, y=y, angle=30.0)
    spec = SceneSpec(objects=(obj,), width=96, height=96, num_frames=1)
    ann = physics.simulate(spec)
    frame = render.render(spec, ann)[0].astype(float)
    bg, fg = vocab.BACKGROUNDS["black"][0], vocab.COLORS["white"][0]
    seen = ((frame[..., 0] - bg) / (fg - bg)).sum()
    area = render.UNIT_AREA["triangle"] * (vocab.SIZES["large"] / 2 * 96) ** 2
    assert seen / area == pytest.approx(ann.frames[0][0].visible, abs=0.01)
