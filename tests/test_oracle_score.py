"""`score(frames, claims, fps)` on rendered scenes: true claims pass, false ones fail the right check.

Tampered videos are made by editing the annotations before rendering (the renderer draws whatever they
say): an object whose box collapses to a point vanishes; one whose colour reverts did not keep its change.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cineflow.world.captions import claims_from_scene
from cineflow.world.oracle import Report, score
from cineflow.world.physics import simulate
from cineflow.world.render import render
from cineflow.world.scene import Annotations, Claims, EventClaim, ObjectClaim, ObjectSpec, SceneSpec


def _clip(*objects: ObjectSpec, **kw) -> tuple[SceneSpec, Annotations, np.ndarray]:
    spec = SceneSpec(objects=tuple(objects), **kw)
    ann = simulate(spec)
    return spec, ann, render(spec, ann)


def _tamper(ann: Annotations, i: int, frames: range, **change) -> Annotations:
    """Annotations with object i's state changed in `frames` (fields of ObjectState)."""
    rows = []
    for t, row in enumerate(ann.frames):
        if t in frames:
            row = tuple(dataclasses.replace(s, **change) if k == i else s for k, s in enumerate(row))
        rows.append(row)
    return Annotations(frames=tuple(rows), events=ann.events)


def _collapse(ann: Annotations, i: int, frames: range) -> Annotations:
    """Object i drawn with zero size in `frames`: it is simply not there."""
    rows = []
    for t, row in enumerate(ann.frames):
        if t in frames:
            cx, cy = row[i].center
            row = tuple(
                dataclasses.replace(s, box=(cx, cy, cx, cy)) if k == i else s for k, s in enumerate(row)
            )
        rows.append(row)
    return Annotations(frames=tuple(rows), events=ann.events)


def _failed(report: Report) -> list[str]:
    return [c.name for c in report.failed()]


TWO_STILL = (
    ObjectSpec("red", "circle", "medium", x=0.3, y=0.4),
    ObjectSpec("blue", "square", "large", x=0.7, y=0.6, angle=20.0, depth=1),
)


def test_true_claims_pass_and_every_claimed_attribute_is_checked():
    spec, ann, frames = _clip(*TWO_STILL, background="navy", floor=True)
    report = score(frames, claims_from_scene(spec, ann), spec.fps, exact_count=True)
    assert report.passed, _failed(report)
    names = [c.name for c in report.checks]
    for what in ("color", "shape", "size", "motion"):
        assert sum(n.endswith(f": {what}") for n in names) == 2
    assert {"background", "floor", "camera", "objects: count"} <= set(names)
    assert report.to_dict()["pass"] is True


@pytest.mark.parametrize(
    ("field", "value", "check"),
    [
        ("color", "green", "color"),
        ("shape", "star", "shape"),
        ("size", "small", "size"),
        ("motion", "left", "motion"),
    ],
)
def test_a_false_attribute_fails_its_own_check(field, value, check):
    spec, ann, frames = _clip(*TWO_STILL)
    truth = claims_from_scene(spec, ann)
    wrong = dataclasses.replace(truth, objects=(dataclasses.replace(truth.objects[0], **{field: value}),))
    report = score(frames, wrong, spec.fps)
    failed = _failed(report)
    assert any(name.endswith(check) for name in failed), failed
    assert not report.passed
    verdict = next(c for c in report.checks if c.name.endswith(f": {check}"))
    assert (verdict.claimed, verdict.seen) == (value, getattr(truth.objects[0], field))  # for confusions
    assert verdict.to_dict()["seen"] == verdict.seen


def test_motion_speed_and_gravity_are_read():
    spec, _ann, frames = _clip(
        ObjectSpec("yellow", "triangle", motion="right", speed="fast", x=0.2, y=0.3),
        ObjectSpec("green", "circle", "small", motion="fall", x=0.7, y=0.2, depth=1),
        floor=True,
    )
    claims = Claims(
        objects=(ObjectClaim("yellow", motion="right", speed="fast"), ObjectClaim("green", motion="fall"))
    )
    report = score(frames, claims, spec.fps)
    assert report.passed, _failed(report)
    fall = next(o for o in report.observed["objects"] if o["color"] == "green")
    assert fall["physics"]["gravity"] == pytest.approx(1.6, rel=0.15)  # vocab.GRAVITY
    slow = Claims(objects=(ObjectClaim("yellow", motion="right", speed="slow"),))
    assert "object 0 (yellow): speed" in _failed(score(frames, slow, spec.fps))


def test_touch_change_must_persist():
    mover = ObjectSpec("red", "circle", motion="right", speed="fast", x=0.2, y=0.5)
    target = ObjectSpec("white", "square", x=0.7, y=0.5, becomes="red")
    spec, ann, frames = _clip(mover, target)
    claims = Claims(
        objects=(ObjectClaim("red", "circle"), ObjectClaim("white", "square", final_color="red")),
        events=(EventClaim("touch_change", (0, 1)),),
    )
    assert score(frames, claims, spec.fps).passed
    changed = next(t for t, row in enumerate(ann.frames) if row[1].color == "red")
    reverted = _tamper(ann, 1, range(changed + 3, len(ann.frames)), color="white")
    failed = _failed(score(render(spec, reverted), claims, spec.fps))
    assert "object 1 (white square): becomes red" in failed


def test_vanishing_and_appearing_objects_fail_permanence():
    spec, ann, frames = _clip(*TWO_STILL)
    claims = Claims(objects=(ObjectClaim("red"), ObjectClaim("blue")))
    assert score(frames, claims, spec.fps).passed
    gone = render(spec, _collapse(ann, 0, range(9, 17)))
    assert "permanence: nothing vanishes" in _failed(score(gone, claims, spec.fps))
    born = render(spec, _collapse(ann, 0, range(0, 9)))
    assert "permanence: nothing appears from nothing" in _failed(score(born, claims, spec.fps))


def test_occluded_or_departed_objects_are_not_vanished():
    # a small ball passes wholly behind a large square, and a fast box leaves the frame
    spec, ann, frames = _clip(
        ObjectSpec("cyan", "circle", "small", motion="right", speed="normal", x=0.15, y=0.35, depth=0),
        ObjectSpec("purple", "square", "large", x=0.5, y=0.35, depth=1),
        ObjectSpec("orange", "square", "small", motion="down", speed="fast", x=0.5, y=0.75, depth=2),
        num_frames=25,
    )
    assert min(row[0].visible for row in ann.frames) == 0.0 and ann.frames[-1][2].visible == 0.0
    claims = Claims(
        objects=(ObjectClaim("cyan"), ObjectClaim("purple"), ObjectClaim("orange", motion="down")),
        events=(EventClaim("occlude", (1, 0)),),
    )
    report = score(frames, claims, spec.fps, exact_count=True)
    assert report.passed, _failed(report)


def test_camera_is_read_from_the_landmarks():
    spec, _ann, frames = _clip(*TWO_STILL, camera="pan_left")
    claims = Claims(objects=(ObjectClaim("red", motion="still"),), camera="pan_left")
    assert score(frames, claims, spec.fps).passed  # the world is still, though it slides on screen
    wrong = dataclasses.replace(claims, camera="zoom_in")
    assert "camera" in _failed(score(frames, wrong, spec.fps))


def test_partial_report_lists_unknown_words_and_missing_objects_fail():
    spec, _ann, frames = _clip(*TWO_STILL)
    claims = Claims(
        objects=(ObjectClaim("red"), ObjectClaim("red"), ObjectClaim("red")), unknown_words=("dragon",)
    )
    report = score(frames, claims, spec.fps)
    data = report.to_dict()
    assert data["partial"] is True and data["unknown_words"] == ["dragon"]
    assert not data["pass"]
    assert any(c["name"] == "objects: count" and not c["pass"] for c in data["checks"])


@pytest.mark.parametrize(
    ("frames", "fps", "match"),
    [
        (np.zeros((2, 8, 8, 3), np.float32), 8, "frames"),
        (np.zeros((0, 8, 8, 3), np.uint8), 8, "frames"),
        (np.zeros((2, 8, 8, 3), np.uint8), 0, "fps"),
    ],
)
def test_bad_input_is_a_clear_error(frames, fps, match):
    with pytest.raises(ValueError, match=match):
        score(frames, Claims(objects=(ObjectClaim("red"),)), fps)


def test_a_full_description_fails_an_unclaimed_colour_on_screen():
    spec, _ann, frames = _clip(*TWO_STILL)
    both = Claims(objects=(ObjectClaim("red"), ObjectClaim("blue")))
    names = [c.name for c in score(frames, both, spec.fps, exact_count=True).checks]
    assert "objects: no unclaimed color" in names
    assert score(frames, both, spec.fps, exact_count=True).passed
    red_only = Claims(objects=(ObjectClaim("red"),))
    failed = _failed(score(frames, red_only, spec.fps, exact_count=True))
    assert "objects: no unclaimed color" in failed and "object 0 (red): color" not in failed
    # a caption that mentions only some objects may leave others unnamed
    assert "objects: no unclaimed color" not in _failed(score(frames, red_only, spec.fps))
    # an unmatched object of a claimed colour is a count error, not a colour one
    two_red = _clip(
        ObjectSpec("red", "circle", "medium", x=0.3, y=0.4),
        ObjectSpec("red", "square", "large", x=0.7, y=0.6),
    )[2]
    failed = _failed(score(two_red, red_only, spec.fps, exact_count=True))
    assert "objects: count" in failed and "objects: no unclaimed color" not in failed
