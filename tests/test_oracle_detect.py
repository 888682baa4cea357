"""Oracle detection on synthetic frames drawn here (not by the world's renderer), clean and through H.264."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cineflow.world import vocab
from cineflow.world.oracle import detect
from cineflow.world.oracle.accuracy import h264_roundtrip

SS = 8  # supersampling: anti-aliased edges like a real renderer's


def _alpha(shape: str, cx: float, cy: float, r: float, angle: float, size: int) -> np.ndarray:
    """Coverage [size, size] of a shape with bounding radius r (pixels), drawn at 8x and averaged."""
    img = Image.new("L", (size * SS, size * SS), 0)
    draw = ImageDraw.Draw(img)
    if shape == "circle":
        draw.ellipse([(cx - r) * SS, (cy - r) * SS, (cx + r) * SS, (cy + r) * SS], fill=255)
    else:
        n, inner = {"triangle": (3, 1.0), "square": (4, 1.0), "star": (10, 0.5)}[shape]
        start = math.pi / 4 if shape == "square" else -math.pi / 2
        pts = []
        for k in range(n):
            rr = r if k % 2 == 0 or shape != "star" else r * inner
            a = start + math.radians(angle) + 2 * math.pi * k / n
            pts.append(((cx + rr * math.cos(a)) * SS, (cy + rr * math.sin(a)) * SS))
        draw.polygon(pts, fill=255)
    return np.asarray(img, np.float32).reshape(size, SS, size, SS).mean((1, 3)) / 255


def _frame(background: str, objects: list[tuple[str, str, float, float, float, float]], size: int = 64):
    """uint8 [H, W, 3]: objects are (shape, colour, cx, cy, r, angle), drawn back to front."""
    f = np.empty((size, size, 3), np.float32)
    f[:] = vocab.BACKGROUNDS[background]
    for shape, color, cx, cy, r, angle in objects:
        a = _alpha(shape, cx, cy, r, angle, size)[..., None]
        f = f * (1 - a) + np.array(vocab.COLORS[color], np.float32) * a
    return (f + 0.5).astype(np.uint8)


def _grid_of_objects(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[tuple[str, str, str]]]:
    frames, truth = [], []
    for _ in range(n):
        size = str(rng.choice(list(vocab.SIZES)))
        shape, color = str(rng.choice(vocab.SHAPES)), str(rng.choice(list(vocab.COLORS)))
        r = vocab.SIZES[size] * 64 / 2
        obj = (shape, color, rng.uniform(14, 50), rng.uniform(14, 50), r, rng.uniform(0, 360))
        frames.append(_frame(str(rng.choice(list(vocab.BACKGROUNDS))), [obj]))
        truth.append((color, shape, size))
    return np.stack(frames), truth


@pytest.mark.parametrize("crf", [None, 23])
def test_colour_shape_size_of_single_objects(crf):
    frames, truth = _grid_of_objects(np.random.default_rng(0), 60)
    if crf is not None:
        frames = h264_roundtrip(frames, 8, crf)
    blobs, _ = detect.detect(frames)
    counts = [len(b) for b in blobs]
    assert counts.count(1) >= 59, counts
    right = {"color": 0, "shape": 0, "size": 0}
    for found, (color, shape, size) in zip(blobs, truth, strict=True):
        if len(found) != 1:
            continue
        b = found[0]
        right["color"] += b.color == color
        right["shape"] += b.shape == shape
        right["size"] += detect.classify_size(b.radius, 64) == size
    assert right["color"] >= 59
    assert right["size"] >= 58
    assert right["shape"] >= 55  # single frames; tracks vote over many


def test_rim_between_touching_objects_is_not_an_object():
    # red and yellow blend to orange along their shared edge: that rim must not become an orange object
    frame = _frame("black", [("square", "red", 24, 32, 10, 0), ("square", "yellow", 38.2, 32, 10, 0)])
    blobs = detect.detect_frame(frame, detect.classify_pixels(frame[None])[0], detect.min_blob_area(64))
    assert sorted(b.color for b in blobs) == ["red", "yellow"]
    assert all(b.crowded for b in blobs)  # they touch: neither is whole and alone


def test_angle_follows_rotation_within_the_symmetry():
    angles = []
    for turn in (0.0, 10.0, 20.0):
        frame = _frame("navy", [("square", "cyan", 32, 32, 12, turn)])
        (b,) = detect.detect_frame(frame, detect.classify_pixels(frame[None])[0], detect.min_blob_area(64))
        angles.append(b.angle)
    steps = np.diff(angles)
    assert np.allclose(steps, 10.0, atol=2.0), angles


def test_floor_and_landmark_colours_are_scene_not_objects():
    frame = np.empty((32, 32, 3), np.uint8)
    frame[:] = vocab.BACKGROUNDS["brown"]
    frame[26:] = np.array(vocab.BACKGROUNDS["brown"]) * vocab.FLOOR_SHADE
    labels = detect.classify_pixels(frame[None])[0]
    assert (labels >= len(detect.OBJECT_COLORS)).all()
    assert detect.detect(frame[None])[0] == [[]]


def test_detect_rejects_non_uint8_frames():
    with pytest.raises(ValueError, match="frames"):
        detect.detect(np.zeros((2, 8, 8, 3), np.float32))
