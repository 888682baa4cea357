"""Chunked (time) and tiled (space) encode/decode for the causal video VAE: memory bounded by the chunk and
tile, not by the video.

Time: the video is cut into chunks of whole latent frames (the first chunk holds frame 0 plus 4(k - 1) frames,
the others 4k frames). Every causal convolution keeps its last input frames in a cache that the next chunk
reads as its left padding, so chunked results equal the one-piece result (up to float rounding).

Space: overlapping tiles, each encoded or decoded (chunk by chunk) on its own, blended with linear ramps
across the overlaps. Convolutions near a tile's edge see zero padding instead of the neighbouring pixels;
the blend gives the outer part of each overlap zero weight, so the result equals the untiled one wherever
the model's receptive field fits in that margin, and is close to it otherwise (a trained model looks less
far than its receptive field: measured figures in docs/vae.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from cineflow.models.vae import Cache, VideoVAE


def encode_moments(
    vae: VideoVAE, video: torch.Tensor, chunk_frames: int | None, tile_size: int | None, tile_overlap: int
) -> torch.Tensor:
    """video [B, 3, T, H, W] -> moments [B, 2c, t, H/s, W/s]; `tile_size`/`tile_overlap` in pixels."""
    s, r = vae.cfg.spatial_down, vae.cfg.temporal_down
    if tile_size is not None:
        _check_tiles(tile_size, tile_overlap, s, "pixels")

    def encode_tile(x: torch.Tensor) -> torch.Tensor:
        if chunk_frames is None:
            return vae.encoder(x)
        _check_chunk(chunk_frames)
        cache: Cache = {}
        bounds = _chunk_bounds(x.shape[2], first=1 + r * (chunk_frames - 1), rest=r * chunk_frames)
        return torch.cat([vae.encoder(x[:, :, a:b], cache) for a, b in bounds], dim=2)

    return blend_tiles(video, encode_tile, tile_size, tile_overlap, 1 / s)


def decode_tiled(
    vae: VideoVAE, z: torch.Tensor, chunk_frames: int | None, tile_size: int | None, tile_overlap: int
) -> torch.Tensor:
    """Unscaled latents [B, c, t, h, w] -> video [B, 3, 1 + r(t - 1), s·h, s·w]; tiles in latent pixels."""
    if tile_size is not None:
        _check_tiles(tile_size, tile_overlap, 1, "latent pixels")

    def decode_tile(x: torch.Tensor) -> torch.Tensor:
        if chunk_frames is None:
            return vae.decoder(x)
        _check_chunk(chunk_frames)
        cache: Cache = {}
        bounds = _chunk_bounds(x.shape[2], first=chunk_frames, rest=chunk_frames)
        return torch.cat([vae.decoder(x[:, :, a:b], cache) for a, b in bounds], dim=2)

    return blend_tiles(z, decode_tile, tile_size, tile_overlap, vae.cfg.spatial_down)


def blend_tiles(
    x: torch.Tensor,
    fn: Callable[[torch.Tensor], torch.Tensor],
    tile: int | None,
    overlap: int,
    factor: float,
) -> torch.Tensor:
    """Apply `fn` ([B, C, T, h, w] -> [B, C', T', h·factor, w·factor]) tile by tile and blend the results.

    x [B, C, T, H, W]; tiles are `tile` x `tile` input pixels overlapping by `overlap`; each output tile is
    weighted by a ramp that falls linearly to zero across the overlap, and the weighted sum is renormalised.
    """
    H, W = x.shape[-2:]
    if tile is None or max(H, W) <= tile:
        return fn(x)
    out = weight = None
    for y0 in (ys := _tile_starts(H, tile, overlap)):
        for x0 in (xs := _tile_starts(W, tile, overlap)):
            y = fn(x[..., y0 : y0 + tile, x0 : x0 + tile])  # (B, C', T', th, tw)
            if out is None:
                shape = (*y.shape[:3], round(H * factor), round(W * factor))
                out = torch.zeros(shape, dtype=torch.float32, device=y.device)
                weight = torch.zeros(shape[-2:], dtype=torch.float32, device=y.device)
            th, tw = y.shape[-2:]
            o = round(overlap * factor)
            wy = _ramp(th, o, lead=y0 > ys[0], trail=y0 < ys[-1])
            wx = _ramp(tw, o, lead=x0 > xs[0], trail=x0 < xs[-1])
            w = (wy[:, None] * wx[None, :]).to(y.device)  # (th, tw)
            oy, ox = round(y0 * factor), round(x0 * factor)
            out[..., oy : oy + th, ox : ox + tw] += y.float() * w
            weight[oy : oy + th, ox : ox + tw] += w
    return (out / weight).to(x.dtype)


def _tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Starts of tiles of length `tile`, `tile - overlap` apart, the last one flush with the end."""
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile + 1, tile - overlap))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def _ramp(n: int, overlap: int, lead: bool, trail: bool) -> torch.Tensor:
    """[n] blend weights of one tile along one axis.

    On a side shared with a neighbour the weight is 0 over the outer 3/8 of the overlap (where the zero
    padding at the tile's edge changes the convolutions), rises linearly across the middle quarter and is 1
    beyond; the neighbour's ramp is the mirror image, so the two sum to 1. A side on the frame's border keeps
    weight 1. Tiles are exact where the model's receptive field is within that 3/8 margin.
    """
    i = torch.arange(n, dtype=torch.float32)
    rise = max(overlap // 4, 1)
    margin = (overlap - rise) // 2
    up = ((i - margin + 0.5) / rise).clamp(0.0, 1.0)
    w = torch.ones(n)
    if lead:
        w = torch.minimum(w, up)
    if trail:
        w = torch.minimum(w, up.flip(0))
    return w


def _chunk_bounds(n: int, first: int, rest: int) -> list[tuple[int, int]]:
    """[(start, end)] frame ranges: one of `first` frames, then `rest` frames each (the last may be short)."""
    bounds = [(0, min(first, n))]
    while bounds[-1][1] < n:
        a = bounds[-1][1]
        bounds.append((a, min(a + rest, n)))
    return bounds


def _check_chunk(chunk_frames: int) -> None:
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames: latent frames per chunk must be >= 1, got {chunk_frames}")


def _check_tiles(tile: int, overlap: int, multiple: int, unit: str) -> None:
    if tile < multiple or tile % multiple or overlap % multiple or not 0 <= overlap < tile:
        raise ValueError(
            f"tile_size/tile_overlap: need multiples of {multiple} {unit} with 0 <= overlap < tile, "
            f"got tile_size={tile}, tile_overlap={overlap}"
        )
