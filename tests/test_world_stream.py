"""The seeded clip stream and the annotations' JSON."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from itertools import islice

import numpy as np
import pytest

from cineflow.world import annotations, stream


def test_same_seed_gives_byte_identical_clips():
    a = stream.make_clip(3, 5)
    b = stream.make_clip(3, 5)
    assert a.frames.tobytes() == b.frames.tobytes()
    assert a.spec == b.spec and a.annotations == b.annotations and a.caption == b.caption
    assert stream.make_clip(3, 6).frames.tobytes() != a.frames.tobytes()
    assert stream.make_clip(4, 5).frames.tobytes() != a.frames.tobytes()


def test_stream_resumes_at_any_index():
    whole = list(islice(stream.stream(11, width=32, height=32, num_frames=5), 4))
    resumed = list(islice(stream.stream(11, start=2, width=32, height=32, num_frames=5), 2))
    for x, y in zip(whole[2:], resumed, strict=True):
        assert x.frames.tobytes() == y.frames.tobytes() and x.spec == y.spec
    assert whole[0].frames.shape == (5, 32, 32, 3)


def test_clips_carry_a_caption():
    clip = stream.make_clip(0, 0)
    try:
        import cineflow.world.captions  # noqa: F401
    except ImportError:
        pytest.skip("captions module not present")
    assert clip.caption.strip()


def test_annotations_json_round_trip_is_exact():
    for index in range(8):
        clip = stream.make_clip(1, index)
        data = json.loads(json.dumps(annotations.to_json(clip.spec, clip.annotations)))
        spec, ann = annotations.from_json(data)
        assert spec == clip.spec and ann == clip.annotations


def test_annotations_json_rejects_bad_records():
    clip = stream.make_clip(1, 0)
    data = annotations.to_json(clip.spec, clip.annotations)
    with pytest.raises(ValueError, match="version"):
        annotations.from_json({**data, "version": 99})
    with pytest.raises(ValueError, match="malformed"):
        annotations.from_json({k: v for k, v in data.items() if k != "frames"})
    bad = {**data, "events": [{"kind": "explode", "frame": 0, "objects": [0], "detail": {}}]}
    with pytest.raises(ValueError, match="explode"):
        annotations.from_json(bad)


def test_negative_seed_is_an_error():
    with pytest.raises(ValueError, match="seed"):
        stream.make_clip(-1)


def test_frames_are_uint8_rgb():
    clip = stream.make_clip(2, 0, width=48, height=32, fps=6, num_frames=7)
    assert clip.frames.dtype == np.uint8 and clip.frames.shape == (7, 32, 48, 3)


def test_clips_are_identical_in_a_fresh_process():
    """Nothing process-local (hash seeds, import order, global rng) leaks into a clip."""
    code = (
        "import hashlib; from cineflow.world.stream import make_clip; "
        "print(hashlib.sha256(make_clip(3, 5, scenario='mix').frames.tobytes()).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    here = hashlib.sha256(stream.make_clip(3, 5, scenario="mix").frames.tobytes()).hexdigest()
    assert out.stdout.strip() == here


@pytest.mark.parametrize("seed", range(3))
def test_random_geometries(seed):
    rng = np.random.default_rng(seed)
    for index in range(6):
        width, height = (int(v) for v in rng.integers(16, 160, 2))
        fps = int(rng.integers(1, 30))
        num_frames = int(rng.integers(1, 3 * fps + 2))
        clip = stream.make_clip(seed, index, width=width, height=height, fps=fps, num_frames=num_frames)
        assert clip.frames.shape == (num_frames, height, width, 3)
        visible = np.array([[s.visible for s in frame] for frame in clip.annotations.frames])
        assert ((visible >= 0) & (visible <= 1)).all()
        assert all(0 <= e.frame < num_frames for e in clip.annotations.events)
