"""The invisible watermark: invisible (PSNR, small change on flat colour), found after H.264 CRF 28 and a 2x
downscale on Flatland clips and on noise-like content, absent from unmarked clips and under another key."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cineflow.io import read_video, write_video
from cineflow.provenance import watermark
from cineflow.world.stream import make_clip

pytestmark = pytest.mark.usefixtures("one_thread")

SEEDS = range(4)


def flatland(seed: int, **geometry) -> np.ndarray:
    return make_clip(seed, **geometry).frames


def random_field(seed: int, sigma: float = 2.0) -> np.ndarray:
    """A new smooth noise picture every frame (no static background): what an untrained model draws."""
    field = np.random.default_rng(seed).normal(0.0, 1.0, (17, 64, 64, 3))
    field = ndimage.gaussian_filter(field, (0.7, sigma, sigma, 0))
    return np.clip(128 + 25 * field / field.std(), 0, 255).astype(np.uint8)


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
    assert watermark.psnr(frames, marked) >= 42.0
    delta = marked.astype(int) - frames.astype(int)
    unclipped = (frames > 8).all(-1) & (frames < 247).all(-1)
    assert (delta[..., 0] == delta[..., 1])[unclipped].all() and (delta[..., 1] == delta[..., 2])[
        unclipped
    ].all()


def test_mark_is_weaker_on_flat_colour_than_on_texture():
    flat = np.full((9, 64, 64, 3), 90, np.uint8)
    change = np.abs(watermark.embed(flat).astype(int) - flat)
    assert change.max() <= round(watermark.FLAT_AMPLITUDE)  # no blobs of v1's 4 grey levels
    textured = random_field(0)
    gain = watermark.strength(textured)
    assert gain.min() >= watermark.FLAT_AMPLITUDE and gain.mean() > 1.3 * watermark.FLAT_AMPLITUDE
    assert watermark.psnr(textured, watermark.embed(textured)) >= 42.0  # the RMS cap holds on texture


@pytest.mark.parametrize("seed", SEEDS)
def test_detected_after_h264_crf28_and_after_2x_downscale(tmp_path, seed):
    marked = watermark.embed(flatland(seed))
    assert watermark.detect(marked).present
    stored = reencode(tmp_path, marked, crf=18)  # as write_with_provenance stores it
    assert watermark.detect(reencode(tmp_path, stored, crf=28)).present
    assert watermark.detect(downscale2(stored)).present


@pytest.mark.parametrize("seed", range(2))
def test_detected_on_noise_like_content_without_a_static_background(tmp_path, seed):
    """Every pixel changes every frame, so a host estimate that assumes a static background fails."""
    stored = reencode(tmp_path, watermark.embed(random_field(seed)), crf=18)
    assert watermark.detect(stored).z > watermark.THRESHOLD + 2
    assert watermark.detect(downscale2(stored)).present


def test_small_clips_are_detected():
    clip = flatland(1, width=32, height=32, num_frames=5)
    marked = watermark.embed(clip)
    assert watermark.detect(marked).present and watermark.detect(downscale2(marked)).present
    assert not watermark.detect(clip).present


@pytest.mark.parametrize("seed", SEEDS)
def test_unmarked_clips_and_other_keys_are_not_detected(tmp_path, seed):
    frames = flatland(100 + seed)
    assert not watermark.detect(frames).present
    assert not watermark.detect(reencode(tmp_path, frames, crf=28)).present
    other = watermark.embed(frames, key=12345)
    assert watermark.detect(other, key=12345).present and not watermark.detect(other).present


def test_z_score_is_calibrated_on_unmarked_video():
    """Under 'no mark' z is a Rademacher sum over unit norm: mean ~0, spread ~1, on any content."""
    rng = np.random.default_rng(0)
    zs = [watermark.detect(rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)).z for _ in range(40)]
    zs += [watermark.detect(random_field(100 + k)).z for k in range(20)]
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
