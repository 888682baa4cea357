"""Chunked (time) and tiled (space) encode/decode match the one-piece result on a random-init model."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from cineflow.config import VAEConfig
from cineflow.models.vae_tiling import blend_tiles
from tests.test_vae_model import DEBUG, SHORTCUTS, make_vae, video


@pytest.mark.parametrize("cfg", [DEBUG, SHORTCUTS], ids=["plain", "shortcuts"])
@pytest.mark.parametrize("chunk", [1, 2])
def test_chunked_encode_and_decode_equal_one_piece(chunk: int, cfg: VAEConfig) -> None:
    vae = make_vae(cfg)
    x = video(13)  # 4 latent frames: chunks of 1 and 2 latent frames (first chunk 1 or 5 frames)
    with torch.no_grad():
        z = vae.encode(x)
        y = vae.decode(z)
        assert (vae.encode(x, chunk_frames=chunk) - z).abs().max() < 1e-5
        assert (vae.decode(z, chunk_frames=chunk) - y).abs().max() < 1e-5


@pytest.mark.parametrize("cfg", [DEBUG, SHORTCUTS], ids=["plain", "shortcuts"])
def test_spatial_tiles_match_untiled(cfg: VAEConfig) -> None:
    # No residual blocks at the levels: a receptive field small enough for tiles to cover it at a test's size
    vae = make_vae(dataclasses.replace(cfg, num_res_blocks=0))
    x = video(5, 192, 192)
    with torch.no_grad():
        z = vae.encode(x)
        y = vae.decode(z)
        z_tiled = vae.encode(x, tile_size=128, tile_overlap=96, chunk_frames=1)
        y_tiled = vae.decode(z, tile_size=20, tile_overlap=16, chunk_frames=1)
    assert (z_tiled - z).abs().mean() <= 1e-3
    assert (y_tiled - y).abs().mean() <= 1e-3
    assert z.abs().mean() > 0.05 and y.abs().mean() > 0.05  # a real signal, not a trivially small one


def test_small_overlap_is_only_approximate() -> None:
    # The same comparison with a thin overlap must show the tile seams: the test above can fail.
    vae = make_vae()
    x = video(1, 64, 64)
    with torch.no_grad():
        z = vae.encode(x)
        assert (vae.encode(x, tile_size=32, tile_overlap=8) - z).abs().mean() > 1e-3


def test_blend_weights_sum_to_one() -> None:
    x = torch.randn(1, 2, 3, 40, 56)
    for tile, overlap in [(16, 8), (24, 16), (32, 4)]:
        assert torch.allclose(blend_tiles(x, lambda t: t, tile, overlap, 1), x, atol=1e-6)


def test_bad_tiles_raise() -> None:
    vae = make_vae()
    with pytest.raises(ValueError, match="tile_size"):
        vae.encode(video(1, 32, 32), tile_size=12, tile_overlap=4)
    with pytest.raises(ValueError, match="tile_size"):
        vae.decode(torch.zeros(1, 4, 1, 4, 4), tile_size=2, tile_overlap=2)
    with pytest.raises(ValueError, match="chunk_frames"):
        vae.encode(video(5), chunk_frames=0)
