"""Latent cache: entries match the encoders, resume skips done work, stale caches are refused or rebuilt."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cineflow import io
from cineflow.cli import main
from cineflow.config import TextConfig, VAEConfig
from cineflow.data.cache import Geometry, LatentCache, build_cache, cache_key
from cineflow.models.text import load_text_encoder
from cineflow.models.vae import VideoVAE, save_vae

GEOMETRY = Geometry(num_frames=5, height=16, width=16)


def tiny_vae(seed: int = 0) -> VideoVAE:
    torch.manual_seed(seed)
    return VideoVAE(VAEConfig(latent_channels=4, base_channels=8, channel_mult=(1, 1, 1))).eval()


def text_encoder():
    return load_text_encoder(TextConfig(name="random", dim=32))


@pytest.fixture
def dataset_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        io.write_video(tmp_path / f"{name}.mkv", rng.integers(0, 255, (5, 16, 16, 3), dtype=np.uint8), fps=8)
    (tmp_path / "bad.mp4").write_bytes(b"")
    lines = ["path,text", "a.mkv,a red ball", "bad.mp4,broken", "b.mkv,a blue box", "c.mkv,a green star"]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "data.csv"


def test_entries_hold_the_encoders_outputs(dataset_file: Path, tmp_path: Path) -> None:
    vae, text = tiny_vae(), text_encoder()
    result = build_cache(dataset_file, tmp_path / "cache", vae, text, GEOMETRY, batch_size=2)
    assert (result.encoded, result.reused) == (3, 0)
    assert [(s.index, s.reason) for s in result.skipped] == [(1, "empty_file")]
    cache = LatentCache(tmp_path / "cache")
    assert len(cache) == 3 and cache.geometry == GEOMETRY
    item = cache[1]
    assert item.text == "a blue box"
    video = io.to_tensor(io.read_video(dataset_file.parent / "b.mkv").frames)[None]  # (1, 3, 5, 16, 16)
    with torch.no_grad():
        expected = vae.encode(video)[0]  # (4, 2, 2, 2)
    assert item.latents.shape == (4, 2, 2, 2)
    torch.testing.assert_close(item.latents, expected, atol=1e-5, rtol=1e-4)
    emb = text.encode(["a blue box"])
    n = int(emb.mask[0].sum())
    assert item.tokens.shape == (n, 32) and bool(item.mask.all())
    torch.testing.assert_close(item.pooled, emb.pooled[0])


def test_resume_reuses_finished_entries(dataset_file: Path, tmp_path: Path) -> None:
    vae, text = tiny_vae(), text_encoder()
    build_cache(dataset_file, tmp_path / "cache", vae, text, GEOMETRY)
    entries = sorted((tmp_path / "cache" / "entries").iterdir())
    entries[0].unlink()  # as if the run had stopped before this entry
    manifest = json.loads((tmp_path / "cache" / "cache.json").read_text())
    (tmp_path / "cache" / "cache.json").write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(ValueError, match="did not finish"):
        LatentCache(tmp_path / "cache")
    again = build_cache(dataset_file, tmp_path / "cache", vae, text, GEOMETRY)
    assert (again.encoded, again.reused) == (1, 2)
    assert len(LatentCache(tmp_path / "cache")) == 3


def test_a_replaced_video_gets_a_new_entry(dataset_file: Path, tmp_path: Path) -> None:
    vae, text = tiny_vae(), text_encoder()
    build_cache(dataset_file, tmp_path / "cache", vae, text, GEOMETRY)
    io.write_video(dataset_file.parent / "c.mkv", np.zeros((5, 16, 16, 3), np.uint8), fps=8)
    again = build_cache(dataset_file, tmp_path / "cache", vae, text, GEOMETRY)
    assert (again.encoded, again.reused) == (1, 2)


def test_a_new_decoder_keeps_the_key() -> None:
    """Only the encoder decides the latents: retraining the decoder must not make a cache stale."""
    text, vae = text_encoder(), tiny_vae(0)
    other = tiny_vae(1)
    other.encoder.load_state_dict(vae.encoder.state_dict())  # same encoder, another decoder
    assert cache_key(other, text, GEOMETRY)["key"] == cache_key(vae, text, GEOMETRY)["key"]


def test_a_field_added_later_at_its_old_value_keeps_the_key() -> None:
    """A VAEConfig field added later (`shortcuts`) at its old-behaviour value leaves the key as it was, so
    caches made before the field existed stay valid."""
    assert "shortcuts" not in cache_key(tiny_vae(0), text_encoder(), GEOMETRY)["vae_config"]
    with_shortcuts = tiny_vae(0)
    with_shortcuts.cfg = dataclasses.replace(with_shortcuts.cfg, shortcuts=True)
    assert cache_key(with_shortcuts, text_encoder(), GEOMETRY)["vae_config"]["shortcuts"] is True


def test_stale_cache_is_refused_then_rebuilt(dataset_file: Path, tmp_path: Path) -> None:
    text = text_encoder()
    build_cache(dataset_file, tmp_path / "cache", tiny_vae(0), text, GEOMETRY)
    other = tiny_vae(1)  # different weights, same config
    assert cache_key(other, text, GEOMETRY)["key"] != LatentCache(tmp_path / "cache").key
    with pytest.raises(ValueError, match=r"stale cache.*encoder_sha256"):
        build_cache(dataset_file, tmp_path / "cache", other, text, GEOMETRY)
    with pytest.raises(ValueError, match=r"stale cache.*geometry"):
        build_cache(dataset_file, tmp_path / "cache", tiny_vae(0), text, Geometry(5, 32, 32))
    rebuilt = build_cache(dataset_file, tmp_path / "cache", other, text, GEOMETRY, rebuild=True)
    assert (rebuilt.encoded, rebuilt.reused) == (3, 0)
    assert (
        cache_key(other, text, Geometry(5, 16, 16, 8))["key"]
        == cache_key(other, text, Geometry(5, 16, 16, 8.0))["key"]
    )
    cache = LatentCache(tmp_path / "cache", expect_key=cache_key(other, text, GEOMETRY)["key"])
    assert len(cache) == 3 and len(list((tmp_path / "cache" / "entries").iterdir())) == 3
    with pytest.raises(ValueError, match="stale"):
        LatentCache(tmp_path / "cache", expect_key="0" * 64)


def test_refuses_a_folder_that_is_not_a_cache(dataset_file: Path, tmp_path: Path) -> None:
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a latent cache"):
        build_cache(dataset_file, tmp_path / "precious", tiny_vae(), text_encoder(), GEOMETRY, rebuild=True)
    assert (tmp_path / "precious" / "notes.txt").is_file()


def test_cli_cache_latents_with_a_vae_folder(dataset_file: Path, tmp_path: Path, capsys) -> None:
    save_vae(tiny_vae(), tmp_path / "vae")
    args = [
        "data",
        "cache-latents",
        str(dataset_file),
        "--out",
        str(tmp_path / "c"),
        "--model",
        str(tmp_path / "vae"),
    ]
    args += ["--text", "random", "--num-frames", "5", "--height", "16", "--width", "16"]
    assert main(args) == 0
    assert "3 entries" in capsys.readouterr().out
    assert main([*args[:-6], "--num-frames", "6", "--height", "16", "--width", "16"]) == 2
    assert "num_frames" in capsys.readouterr().err
