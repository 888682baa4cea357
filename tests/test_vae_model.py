"""The causal video VAE: shapes, causality, latent scaling inside encode/decode, save/load."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from cineflow.config import VAEConfig
from cineflow.models.vae import VideoVAE, fold_space_time, load_vae, save_vae, unfold_space_time

pytestmark = pytest.mark.usefixtures("one_thread")

DEBUG = VAEConfig(latent_channels=4, base_channels=4, channel_mult=(1, 2, 2))
SHORTCUTS = dataclasses.replace(DEBUG, shortcuts=True)  # DC-AE-style parameter-free shortcuts


def make_vae(cfg: VAEConfig = DEBUG, seed: int = 0) -> VideoVAE:
    """A random-init VAE whose zero-initialised convolutions get noise too, so every path carries signal."""
    torch.manual_seed(seed)
    vae = VideoVAE(cfg).eval()
    with torch.no_grad():
        for p in vae.parameters():
            if p.ndim == 5 and not p.any():
                p.normal_(0, 0.05)
    return vae


def video(t: int, h: int = 16, w: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 3, t, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("cfg", [DEBUG, SHORTCUTS], ids=["plain", "shortcuts"])
@pytest.mark.parametrize(("t", "h", "w"), [(1, 16, 16), (5, 16, 32), (9, 24, 16)])
def test_latent_and_video_shapes(t: int, h: int, w: int, cfg: VAEConfig) -> None:
    vae = make_vae(cfg)
    with torch.no_grad():
        z = vae.encode(video(t, h, w))
        assert tuple(z.shape) == (1, *vae.latent_shape(t, h, w)) == (1, 4, 1 + (t - 1) // 4, h // 8, w // 8)
        assert tuple(vae.decode(z).shape) == (1, 3, t, h, w)


@pytest.mark.parametrize("cfg", [DEBUG, SHORTCUTS], ids=["plain", "shortcuts"])
def test_encoder_and_decoder_are_causal(cfg: VAEConfig) -> None:
    vae = make_vae(cfg)
    x = video(9)
    with torch.no_grad():
        z = vae.encode(x)
        z_head = vae.encode(x[:, :, :5])  # frames 0-4 -> latent frames 0-1, whatever comes after
        z_image = vae.encode(x[:, :, :1])  # an image is a 1-frame video
        assert torch.allclose(z[:, :, :2], z_head, atol=1e-5)
        assert torch.allclose(z[:, :, :1], z_image, atol=1e-5)
        y = vae.decode(z)
        assert torch.allclose(y[:, :, :5], vae.decode(z[:, :, :2]), atol=1e-5)
        # and the future does matter: the last latent frame changes when the last frames change
        x2 = x.clone()
        x2[:, :, 5:] = -x2[:, :, 5:]
        assert not torch.allclose(vae.encode(x2)[:, :, 2], z[:, :, 2], atol=1e-3)


def test_scale_and_shift_are_applied_inside() -> None:
    plain = make_vae()
    scaled = make_vae(dataclasses.replace(DEBUG, scale=2.0, shift=0.5))
    x = video(5)
    with torch.no_grad():
        z_plain, z_scaled = plain.encode(x), scaled.encode(x)
        assert torch.allclose(z_scaled, (z_plain - 0.5) * 2.0, atol=1e-5)
        assert torch.allclose(scaled.decode(z_scaled), plain.decode(z_plain), atol=1e-5)


def test_sample_draws_from_the_posterior() -> None:
    vae = make_vae()
    x = video(5)
    with torch.no_grad():
        mean = vae.encode(x)
        a = vae.encode(x, sample=True, generator=torch.Generator().manual_seed(3))
        b = vae.encode(x, sample=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.allclose(a, mean, atol=1e-4)


def test_training_forward_returns_reconstruction_and_posterior() -> None:
    vae = make_vae().train()
    x = video(5)
    recon, mean, logvar = vae(x, torch.Generator().manual_seed(0))
    assert recon.shape == x.shape and mean.shape == logvar.shape == (1, 4, 2, 2, 2)
    recon.abs().mean().backward()
    assert all(p.grad is not None for p in vae.parameters())


@pytest.mark.parametrize(
    ("size", "match"),
    [((4, 16, 16), "num_frames"), ((5, 12, 16), "height and width"), ((0, 16, 16), "num_frames")],
)
def test_bad_sizes_raise_clear_errors(size: tuple[int, int, int], match: str) -> None:
    vae = make_vae()
    with pytest.raises(ValueError, match=match):
        vae.encode(torch.zeros(1, 3, *size))


def test_bad_configs_raise() -> None:
    with pytest.raises(ValueError, match="spatial_down"):
        VideoVAE(dataclasses.replace(DEBUG, spatial_down=16))
    with pytest.raises(ValueError, match="temporal_down"):
        VideoVAE(dataclasses.replace(DEBUG, temporal_down=8))
    with pytest.raises(ValueError, match="latents"):
        make_vae().decode(torch.zeros(1, 3, 1, 2, 2))
    with pytest.raises(ValueError, match="decoder_base_channels"):
        VideoVAE(dataclasses.replace(DEBUG, decoder_base_channels=0))
    with pytest.raises(ValueError, match=r"shortcuts need 64 .* next width 20"):
        VideoVAE(dataclasses.replace(SHORTCUTS, channel_mult=(1, 2, 5)))
    with pytest.raises(ValueError, match="multiple of latent_channels"):
        VideoVAE(dataclasses.replace(SHORTCUTS, latent_channels=3))


@pytest.mark.parametrize("temporal", [False, True])
def test_space_time_folding_is_invertible_and_keeps_frame_zero_alone(temporal: bool) -> None:
    x = video(9)  # (1, 3, 9, 16, 16)
    folded = fold_space_time(x, temporal, first_chunk=True)
    assert folded.shape == ((1, 24, 5, 8, 8) if temporal else (1, 12, 9, 8, 8))
    assert torch.equal(unfold_space_time(folded, temporal, first_chunk=True), x)
    rest = x[:, :, 1:]  # a later chunk: 8 frames pair up as (0, 1), (2, 3), ...
    assert torch.equal(unfold_space_time(fold_space_time(rest, temporal, False), temporal, False), rest)
    if temporal:  # cell 0 holds frame 0 twice; cell 1 holds frames 1 and 2, not frame 0
        assert torch.equal(folded[:, :4, 0], folded[:, 4:8, 0])
        assert torch.equal(folded[0, 0, 1, 0, 0], x[0, 0, 1, 0, 0])
        assert torch.equal(folded[0, 4, 1, 0, 0], x[0, 0, 2, 0, 0])


def test_save_load_round_trip(tmp_path) -> None:
    vae = make_vae(dataclasses.replace(DEBUG, scale=1.7, shift=-0.2))
    save_vae(vae, tmp_path / "vae")
    assert sorted(p.name for p in (tmp_path / "vae").iterdir()) == [
        "config.json",
        "diffusion_pytorch_model.safetensors",
    ]
    loaded = load_vae(tmp_path / "vae")
    assert loaded.cfg == vae.cfg
    x = video(5)
    with torch.no_grad():
        assert torch.equal(loaded.encode(x), vae.encode(x))
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        load_vae(tmp_path / "missing")


def test_resized_decoder_round_trips_and_old_folders_still_load(tmp_path) -> None:
    cfg = dataclasses.replace(DEBUG, decoder_base_channels=6, decoder_res_blocks=1, scale=1.3)
    vae = make_vae(cfg)
    assert vae.decoder.conv_out.conv.in_channels == 6
    assert [len(level) for level in vae.decoder.levels] == [1, 1, 1]
    save_vae(vae, tmp_path / "resized")
    loaded = load_vae(tmp_path / "resized")
    assert loaded.cfg == cfg
    x = video(5)
    with torch.no_grad():
        z = vae.encode(x)
        assert torch.equal(loaded.decode(z), vae.decode(z))
    # A folder written before the decoder fields existed loads as the encoder's mirror image
    old = make_vae()
    save_vae(old, tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["decoder_base_channels"], config["decoder_res_blocks"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    loaded_old = load_vae(tmp_path / "old")
    assert loaded_old.cfg == DEBUG
    assert [len(level) for level in loaded_old.decoder.levels] == [DEBUG.num_res_blocks + 1] * 3
    with torch.no_grad():
        assert torch.equal(loaded_old.decode(old.encode(x)), old.decode(old.encode(x)))
    assert load_vae().cfg.decoder_res_blocks == 7  # the bundled VAE carries the third decoder leg
