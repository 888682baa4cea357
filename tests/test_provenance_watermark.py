"""The invisible watermark: invisible (PSNR), found in marked Flatland clips after H.264 CRF 28 and a 2x
downscale, absent from unmarked clips and under another key."""

from __future__ import annotations

import numpy as np
import pytest

from cineflow.io import read_video, write_video
from cineflow.provenance import watermark
from cineflow.world.stream import make_clip

SEEDS = range(6)


def flatland(seed: int, **geometry) -> np.ndarray:
    return make_clip(seed, **geometry).frames


def reencode(tmp_path, frames: np.ndarray, crf: int) -> np.ndarray:
    path = tmp_path / f"re{crf}.mp4"
    write_video(path, frames, 8, crf=crf)
    return read_video(path).frames


def downscale2(frames: np.ndarray) -> np.ndarray:
    T, H, W, _ = frames.shape
    return frames.reshape(T, H // 2, 2, W // 2, 2, 3).mean((2, 4)).round().astype(np.uint8)


def test_mark_is_invisible_and_changes_luma_only():
    frames = flatland(0)
    marked = watermark.embed(frames)
    assert marked.shape == frames.shape and marked.dtype == np.uint8
    assert watermark.psnr(frames, marked) >= 40.0
    delta = marked.astype(int) - frames.astype(int)
    assert np.abs(delta).max() <= watermark.AMPLITUDE
    unclipped = (frames > 2).all(-1) & (frames < 253).all(-1)
    assert (delta[..., 0] == delta[..., 1])[unclipped].all() and (delta[..., 1] == delta[..., 2])[
        unclipped
    ].all()


@pytest.mark.parametrize("seed", SEEDS)
def test_detected_after_h264_crf28_and_after_2x_downscale(tmp_path, seed):
    marked = watermark.embed(flatland(seed))
    assert watermark.detect(marked).present
    stored = reencode(tmp_path, marked, crf=18)  # as write_with_provenance stores it
    assert watermark.detect(reencode(tmp_path, stored, crf=28)).present
    assert watermark.detect(downscale2(stored)).present


@pytest.mark.parametrize("seed", SEEDS)
def test_unmarked_clips_and_other_keys_are_not_detected(tmp_path, seed):
    frames = flatland(100 + seed)
    assert not watermark.detect(frames).present
    assert not watermark.detect(reencode(tmp_path, frames, crf=28)).present
    other = watermark.embed(frames, key=12345)
    assert watermark.detect(other, key=12345).present and not watermark.detect(other).present


def test_z_score_is_calibrated_on_unmarked_video():
    """Under 'no mark' the z-score is ~N(0, 1): random content gives mean ~0 and spread ~1."""
    rng = np.random.default_rng(0)
    zs = [watermark.detect(rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)).z for _ in range(60)]
    assert abs(np.mean(zs)) < 0.5 and 0.6 < np.std(zs) < 1.5


@pytest.mark.parametrize(("frames", "height", "width"), [(1, 64, 64), (1, 16, 16), (5, 48, 80), (33, 16, 16)])
def test_any_geometry_the_embedder_accepts_round_trips(frames, height, width):
    clip = np.random.default_rng(frames).integers(40, 200, size=3).astype(np.uint8)
    video = np.broadcast_to(clip, (frames, height, width, 3)).copy()
    assert watermark.detect(watermark.embed(video)).present
    assert not watermark.detect(video).present


def test_bad_frames_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="uint8"):
        watermark.embed(np.zeros((2, 16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="pixels"):
        watermark.embed(np.zeros((9, 4, 4, 3), np.uint8))
