"""Causal video VAE: video [B, 3, T, H, W] in [-1, 1] <-> latents [B, c, 1 + (T - 1) // 4, H // 8, W // 8].

Causal in time: every temporal convolution pads on the left only, so latent frame 0 sees frame 0 alone and an
image is a 1-frame video (T = 1 + 4k frames -> 1 + k latent frames). Normalisation is per pixel (RMS over
channels) and there is no attention, so nothing mixes frames except causal convolutions: that is what lets
`vae_tiling` encode and decode any length chunk by chunk, carrying each convolution's last input frames
(`cache`) from one chunk to the next, with the same result as in one piece.

Layout (default config, 17x64x64 clip):
  encoder  fold 2x2 pixels -> [12, 17, 32, 32] -> level 0 (16 ch) -> down 2x2x2 -> level 1 (32 ch, 9x16x16)
           -> down 2x2x2 -> level 2 (64 ch, 5x8x8) -> mean, logvar [16, 5, 8, 8]
  decoder  the mirror image; temporal upsampling emits 1 frame for latent frame 0 and 2 for the others.

`encode`/`decode` apply the latent scale and shift (stored in the config); no caller sees them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cineflow.atomic import atomic_save_safetensors, atomic_write_text
from cineflow.config import VAEConfig, from_dict, to_dict

# A chunk's causal context: each temporal convolution's last input frames, keyed by the module.
Cache = dict[nn.Module, torch.Tensor]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"


# 1. Layers --------------------------------------------------------------------------------------------------


class CausalConv3d(nn.Module):
    """3D convolution padded in time on the left only (first frame replicated), in space on both sides.

    With a `cache`, the left context is the previous chunk's last input frames instead of the replicated
    first frame, so a video processed chunk by chunk gives the same output as in one piece.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, t_stride: int = 1, s_stride: int = 1) -> None:
        super().__init__()
        self.t_pad = kernel - 1  # replicated first frames on the first chunk
        self.t_ctx = kernel - t_stride  # input frames that the next chunk needs as its left context
        self.s_pad = kernel // 2
        self.conv = nn.Conv3d(c_in, c_out, kernel, stride=(t_stride, s_stride, s_stride))

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        """x [B, C, T, H, W] -> [B, C', T', H', W']."""
        if self.t_pad > 0:
            past = cache.get(self) if cache is not None else None
            if past is None:
                past = x[:, :, :1].expand(-1, -1, self.t_pad, -1, -1)
            x = torch.cat([past.to(x.dtype), x], dim=2)
            if cache is not None:
                cache[self] = x[:, :, x.shape[2] - self.t_ctx :].detach()
        x = F.pad(x, (self.s_pad,) * 4)
        return self.conv(x)


class ChannelRMSNorm(nn.Module):
    """RMS norm over channels at each pixel and frame: local in space and time, so tiling stays exact."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, C, T, H, W] -> same shape."""
        rms = x.float().pow(2).mean(dim=1, keepdim=True).add(self.eps).rsqrt()
        return (x.float() * rms).to(x.dtype) * self.weight


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.norm1 = ChannelRMSNorm(c_in)
        self.conv1 = CausalConv3d(c_in, c_out)
        self.norm2 = ChannelRMSNorm(c_out)
        self.conv2 = CausalConv3d(c_out, c_out)
        self.skip = nn.Conv3d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        """x [B, C, T, H, W] -> [B, C', T, H, W]."""
        h = self.conv1(F.silu(self.norm1(x)), cache)
        h = self.conv2(F.silu(self.norm2(h)), cache)
        return self.skip(x) + h


def fold_space_time(x: torch.Tensor, temporal: bool, first_chunk: bool) -> torch.Tensor:
    """[B, C, T, H, W] -> [B, C·r, T', H/2, W/2], r = 4 (8 with `temporal`): each 2x2 (x2 frames) cell in
    channels, channel c·r + (dt·4 + dy·2 + dx).

    In time, cells pair frames (2j - 1, 2j), as `Downsample`'s stride does; frame 0 of a video (the first
    chunk's) has a cell to itself and fills both slots, so T = 1 + 2k -> 1 + k, and a later chunk 2k -> k.
    """
    if temporal:
        if first_chunk:
            x = torch.cat([x[:, :, :1], x], dim=2)  # frame 0 fills both slots of its cell
        B, C, T, H, W = x.shape
        x = x.view(B, C, T // 2, 2, H, W).transpose(2, 3).reshape(B, C * 2, T // 2, H, W)  # (B, 2C, T/2, ..)
    B, C, T, H, W = x.shape
    x = x.view(B, C, T, H // 2, 2, W // 2, 2).permute(0, 1, 4, 6, 2, 3, 5)
    return x.reshape(B, C * 4, T, H // 2, W // 2)


def unfold_space_time(x: torch.Tensor, temporal: bool, first_chunk: bool) -> torch.Tensor:
    """[B, C·r, T, H, W] -> [B, C, T', 2H, 2W], the inverse of `fold_space_time` (frame 0's cell emits one
    frame, its second slot)."""
    B, Cr, T, H, W = x.shape
    C2 = Cr // 4
    x = x.view(B, C2, 2, 2, T, H, W).permute(0, 1, 4, 5, 2, 6, 3).reshape(B, C2, T, 2 * H, 2 * W)
    if not temporal:
        return x
    x = x.view(B, C2 // 2, 2, T, 2 * H, 2 * W).transpose(2, 3).reshape(B, C2 // 2, 2 * T, 2 * H, 2 * W)
    return x[:, :, 1:] if first_chunk else x


def average_channels(x: torch.Tensor, c_out: int) -> torch.Tensor:
    """[B, C, ...] -> [B, c_out, ...]: the mean of each group of C / c_out consecutive channels."""
    B, C = x.shape[:2]
    return x.view(B, c_out, C // c_out, *x.shape[2:]).mean(dim=2)


def repeat_channels(x: torch.Tensor, c_out: int) -> torch.Tensor:
    """[B, C, ...] -> [B, c_out, ...]: each channel repeated c_out / C times in place."""
    return x.repeat_interleave(c_out // x.shape[1], dim=1)


class Downsample(nn.Module):
    """Halve H and W (and T, causally: 1 + 2k -> 1 + k) with one strided causal convolution.

    With `shortcut`, the input folded into channels and averaged down to c_out is added (DC-AE): the
    convolution learns a residual over a parameter-free downsampling.
    """

    def __init__(self, c_in: int, c_out: int, temporal: bool, shortcut: bool = False) -> None:
        super().__init__()
        self.temporal, self.shortcut, self.c_out = temporal, shortcut, c_out
        self.conv = CausalConv3d(c_in, c_out, t_stride=2 if temporal else 1, s_stride=2)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        """x [B, C, T, H, W] -> [B, C', T', H/2, W/2]."""
        first_chunk = cache is None or self.conv not in cache
        h = self.conv(x, cache)
        if not self.shortcut:
            return h
        return h + average_channels(fold_space_time(x, self.temporal, first_chunk), self.c_out)


class Upsample(nn.Module):
    """Double H and W (nearest + conv) and T (channels -> frames), emitting one frame for frame 0.

    Frame 0 of a video is expanded to 1 frame and every later frame to 2 (1 + k -> 1 + 2k), the inverse of
    `Downsample`. Only the chunk that holds frame 0 drops a frame: that is the chunk whose cache is empty.
    """

    def __init__(self, c_in: int, c_out: int, temporal: bool, shortcut: bool = False) -> None:
        super().__init__()
        self.temporal, self.shortcut, self.c_out = temporal, shortcut, c_out
        self.conv = CausalConv3d(c_in, c_out * (2 if temporal else 1))

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        """x [B, C, T, H, W] -> [B, C', T', 2H, 2W]."""
        first_chunk = cache is None or self.conv not in cache
        h = F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")  # (B, C, T, 2H, 2W)
        h = self.conv(h, cache)  # (B, C' * r, T, 2H, 2W)
        if self.temporal:
            B, C2, T, H, W = h.shape
            h = h.view(B, 2, C2 // 2, T, H, W).permute(0, 2, 3, 1, 4, 5).reshape(B, C2 // 2, T * 2, H, W)
            h = h[:, :, 1:] if first_chunk else h  # (B, C', 2T - 1 or 2T, 2H, 2W)
        if not self.shortcut:
            return h
        r = 8 if self.temporal else 4
        return h + unfold_space_time(repeat_channels(x, self.c_out * r), self.temporal, first_chunk)


# 2. Encoder and decoder -------------------------------------------------------------------------------------


def _temporal_levels(cfg: VAEConfig) -> list[bool]:
    """For each level transition, whether it also halves time (the last log2(temporal_down) of them)."""
    n = len(cfg.channel_mult) - 1
    n_t = int(math.log2(cfg.temporal_down))
    return [i >= n - n_t for i in range(n)]


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        ch = [cfg.base_channels * m for m in cfg.channel_mult]
        p = cfg.patch_size
        # 1. Patch folding + stem
        self.conv_in = CausalConv3d(cfg.in_channels * p * p, ch[0])
        # 2. Levels: residual blocks, then a (spatio-temporal) downsample between levels
        self.levels = nn.ModuleList()
        self.downs = nn.ModuleList()
        for i, c in enumerate(ch):
            self.levels.append(nn.ModuleList(ResBlock(c, c) for _ in range(cfg.num_res_blocks)))
            if i < len(ch) - 1:
                self.downs.append(Downsample(c, ch[i + 1], _temporal_levels(cfg)[i], cfg.shortcuts))
        # 3. Middle + output: mean and log-variance
        self.mid = ResBlock(ch[-1], ch[-1])
        self.norm_out = ChannelRMSNorm(ch[-1])
        self.conv_out = CausalConv3d(ch[-1], 2 * cfg.latent_channels)
        self.patch_size = p
        self.shortcuts, self.latent_channels = cfg.shortcuts, cfg.latent_channels

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        """x [B, 3, T, H, W] -> moments [B, 2c, t, H/8, W/8] (mean then logvar along channels)."""
        # 1. Patch folding + stem
        x = fold_patches(x, self.patch_size)  # (B, 3p², T, H/p, W/p)
        h = self.conv_in(x, cache)  # (B, ch0, T, H/p, W/p)
        # 2. Levels
        for i, blocks in enumerate(self.levels):
            for block in blocks:
                h = block(h, cache)
            if i < len(self.downs):
                h = self.downs[i](h, cache)  # (B, ch[i+1], T', H'/2, W'/2)
        # 3. Middle + output
        h = self.norm_out(self.mid(h, cache))
        moments = self.conv_out(F.silu(h), cache)  # (B, 2c, t, h, w)
        if not self.shortcuts:
            return moments
        mean, logvar = moments.chunk(2, dim=1)
        return torch.cat([mean + average_channels(h, self.latent_channels), logvar], dim=1)


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        base, res_blocks = decoder_size(cfg)
        ch = [base * m for m in cfg.channel_mult]
        p = cfg.patch_size
        temporal = _temporal_levels(cfg)
        # 1. Input + middle
        self.conv_in = CausalConv3d(cfg.latent_channels, ch[-1])
        self.mid = ResBlock(ch[-1], ch[-1])
        # 2. Levels from coarse to fine: residual blocks, then an upsample to the next finer level
        self.levels = nn.ModuleList()
        self.ups = nn.ModuleList()
        for i in reversed(range(len(ch))):
            self.levels.append(nn.ModuleList(ResBlock(ch[i], ch[i]) for _ in range(res_blocks)))
            if i > 0:
                self.ups.append(Upsample(ch[i], ch[i - 1], temporal[i - 1], cfg.shortcuts))
        # 3. Output + patch unfolding
        self.norm_out = ChannelRMSNorm(ch[0])
        self.conv_out = CausalConv3d(ch[0], cfg.in_channels * p * p)
        self.patch_size = p
        self.shortcuts, self.latent_width = cfg.shortcuts, ch[-1]

    def forward(self, z: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        """z [B, c, t, h, w] (unscaled) -> video [B, 3, 1 + 4(t - 1), 8h, 8w]."""
        # 1. Input + middle
        h = self.conv_in(z, cache)  # (B, ch[-1], t, h, w)
        if self.shortcuts:
            h = h + repeat_channels(z, self.latent_width)
        h = self.mid(h, cache)
        # 2. Levels
        for i, blocks in enumerate(self.levels):
            for block in blocks:
                h = block(h, cache)
            if i < len(self.ups):
                h = self.ups[i](h, cache)  # (B, ch[i-1], T', 2H', 2W')
        # 3. Output + patch unfolding
        x = self.conv_out(F.silu(self.norm_out(h)), cache)  # (B, 3p², T, H/p, W/p)
        return unfold_patches(x, self.patch_size)  # (B, 3, T, H, W)


def decoder_size(cfg: VAEConfig) -> tuple[int, int]:
    """(base channels, residual blocks per level) of the decoder: the encoder's mirror unless configured."""
    base = cfg.base_channels if cfg.decoder_base_channels is None else cfg.decoder_base_channels
    blocks = cfg.num_res_blocks + 1 if cfg.decoder_res_blocks is None else cfg.decoder_res_blocks
    return base, blocks


def fold_patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """[B, C, T, H, W] -> [B, C·p·p, T, H/p, W/p] (space to depth)."""
    B, C, T, H, W = x.shape
    x = x.view(B, C, T, H // p, p, W // p, p).permute(0, 1, 4, 6, 2, 3, 5)
    return x.reshape(B, C * p * p, T, H // p, W // p)


def unfold_patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """[B, C·p·p, T, h, w] -> [B, C, T, h·p, w·p] (depth to space), the inverse of `fold_patches`."""
    B, Cpp, T, h, w = x.shape
    C = Cpp // (p * p)
    x = x.view(B, C, p, p, T, h, w).permute(0, 1, 4, 5, 2, 6, 3)
    return x.reshape(B, C, T, h * p, w * p)


# 3. The VAE -------------------------------------------------------------------------------------------------


class VideoVAE(nn.Module):
    """Causal video VAE. `forward` is for training (unscaled latents); `encode`/`decode` are for users."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        check_config(cfg)
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """All initialisation in one place.

        Convolutions: Kaiming-uniform-style fan-in scaling (PyTorch's default) with zero bias; the second
        convolution of every residual block is zeroed, so each block starts as the identity and the network
        starts shallow (stable in bf16 from step 0); the encoder's log-variance half starts at zero weight and
        a bias of -6 so that training begins close to a deterministic autoencoder.
        """
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5))
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, ResBlock):
                nn.init.zeros_(m.conv2.conv.weight)
        c = self.cfg.latent_channels
        nn.init.zeros_(self.encoder.conv_out.conv.weight[c:])
        nn.init.constant_(self.encoder.conv_out.conv.bias[c:], -6.0)

    # Shapes -------------------------------------------------------------------------------------------------

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(c, t, h, w) of the latents of a video of that size (raises if the size is not accepted)."""
        check_video_size(self.cfg, num_frames, height, width)
        s = self.cfg.spatial_down
        return (
            self.cfg.latent_channels,
            1 + (num_frames - 1) // self.cfg.temporal_down,
            height // s,
            width // s,
        )

    # Training ---------------------------------------------------------------------------------------------

    def forward(
        self, video: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """video [B, 3, T, H, W] -> (reconstruction [B, 3, T, H, W], mean, logvar [B, c, t, h, w]).

        The latents here are unscaled: scale and shift only matter to users of `encode`/`decode`.
        """
        # 1. Posterior
        mean, logvar = self.encoder(video).chunk(2, dim=1)  # (B, c, t, h, w) each
        logvar = logvar.clamp(-30.0, 20.0)
        # 2. Reparameterised sample -> reconstruction
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        z = mean + (0.5 * logvar).exp() * noise
        return self.decoder(z), mean, logvar

    # Inference: scaled latents, optionally tiled and chunked -----------------------------------------------

    def encode(
        self,
        video: torch.Tensor,
        *,
        sample: bool = False,
        generator: torch.Generator | None = None,
        chunk_frames: int | None = None,
        tile_size: int | None = None,
        tile_overlap: int = 16,
    ) -> torch.Tensor:
        """video [B, 3, T, H, W] in [-1, 1] -> scaled latents [B, c, 1 + (T-1)//4, H//8, W//8].

        `sample` draws from the posterior instead of returning its mean. `chunk_frames` (latent frames per
        chunk) and `tile_size` / `tile_overlap` (pixels) bound memory for long or large videos; see
        `vae_tiling`.
        """
        from cineflow.models.vae_tiling import encode_moments

        check_video_size(self.cfg, video.shape[2], video.shape[3], video.shape[4])
        moments = encode_moments(self, video, chunk_frames, tile_size, tile_overlap)
        mean, logvar = moments.chunk(2, dim=1)  # (B, c, t, h, w) each
        z = mean
        if sample:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            z = mean + (0.5 * logvar.clamp(-30.0, 20.0)).exp() * noise
        return (z - self.cfg.shift) * self.cfg.scale

    def decode(
        self,
        latents: torch.Tensor,
        *,
        chunk_frames: int | None = None,
        tile_size: int | None = None,
        tile_overlap: int = 2,
    ) -> torch.Tensor:
        """Scaled latents [B, c, t, h, w] -> video [B, 3, 1 + 4(t-1), 8h, 8w], clamped to [-1, 1].

        `chunk_frames` (latent frames per chunk) and `tile_size` / `tile_overlap` (in latent pixels) bound
        memory.
        """
        from cineflow.models.vae_tiling import decode_tiled

        if latents.ndim != 5 or latents.shape[1] != self.cfg.latent_channels:
            raise ValueError(
                f"latents: expected [B, {self.cfg.latent_channels}, t, h, w], got {list(latents.shape)}"
            )
        z = latents / self.cfg.scale + self.cfg.shift
        return decode_tiled(self, z, chunk_frames, tile_size, tile_overlap).clamp(-1.0, 1.0)


# 4. Checks, save and load -----------------------------------------------------------------------------------


def check_config(cfg: VAEConfig) -> None:
    levels = len(cfg.channel_mult) - 1
    if cfg.patch_size < 1 or cfg.spatial_down != cfg.patch_size * 2**levels:
        raise ValueError(
            f"VAEConfig: spatial_down ({cfg.spatial_down}) must equal patch_size ({cfg.patch_size}) "
            f"* 2 ** (len(channel_mult) - 1) = {cfg.patch_size * 2**levels}"
        )
    n_t = math.log2(cfg.temporal_down) if cfg.temporal_down >= 1 else -1
    if n_t != int(n_t) or not 0 <= n_t <= levels:
        raise ValueError(
            f"VAEConfig: temporal_down ({cfg.temporal_down}) must be a power of two from 1 to 2 ** {levels}"
        )
    if cfg.num_res_blocks < 0 or cfg.base_channels < 1 or cfg.latent_channels < 1:
        raise ValueError(
            "VAEConfig: num_res_blocks >= 0, base_channels >= 1 and latent_channels >= 1 are required"
        )
    base, blocks = decoder_size(cfg)
    if base < 1 or blocks < 0:
        raise ValueError(
            f"VAEConfig: decoder_base_channels >= 1 and decoder_res_blocks >= 0 are required (or None), "
            f"got {cfg.decoder_base_channels} and {cfg.decoder_res_blocks}"
        )
    if cfg.scale <= 0:
        raise ValueError(f"VAEConfig: scale must be > 0, got {cfg.scale}")
    if cfg.shortcuts:
        _check_shortcut_widths(cfg)


def _check_shortcut_widths(cfg: VAEConfig) -> None:
    """Shortcuts average or repeat whole groups of channels: each level's folded cells must split evenly into
    the next width, and the last width into the latent channels (encoder and decoder alike)."""
    temporal = _temporal_levels(cfg)
    for name, base in (("encoder", cfg.base_channels), ("decoder", decoder_size(cfg)[0])):
        ch = [base * m for m in cfg.channel_mult]
        for i, t in enumerate(temporal):
            folded = ch[i] * (8 if t else 4)  # a fine level's 2x2(x2) cells as channels of the coarse level
            if folded % ch[i + 1]:
                raise ValueError(
                    f"VAEConfig: shortcuts need {folded} ({ch[i]} channels x {folded // ch[i]} cells) to be "
                    f"a multiple of the {name}'s next width {ch[i + 1]}"
                )
        if ch[-1] % cfg.latent_channels:
            raise ValueError(
                f"VAEConfig: shortcuts need the {name}'s last width ({ch[-1]}) to be a multiple of "
                f"latent_channels ({cfg.latent_channels})"
            )


def check_video_size(cfg: VAEConfig, num_frames: int, height: int, width: int) -> None:
    """Raise ValueError unless T = 1 + k·temporal_down and H, W are positive multiples of spatial_down."""
    if num_frames < 1 or (num_frames - 1) % cfg.temporal_down:
        raise ValueError(
            f"num_frames: the causal VAE takes 1 + {cfg.temporal_down}k frames (1, {1 + cfg.temporal_down}, "
            f"{1 + 2 * cfg.temporal_down}, ...), got {num_frames}"
        )
    s = cfg.spatial_down
    if height < s or width < s or height % s or width % s:
        raise ValueError(f"height and width: positive multiples of {s} are accepted, got {height}x{width}")


def save_vae(vae: VideoVAE, folder: str | Path) -> None:
    """Write `config.json` + `diffusion_pytorch_model.safetensors` into `folder`, atomically per file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().float().contiguous().cpu() for k, v in vae.state_dict().items()}
    atomic_save_safetensors(state, folder / WEIGHTS_NAME)
    config = {"_class_name": "VideoVAE", **to_dict(vae.cfg)}
    atomic_write_text(folder / CONFIG_NAME, json.dumps(config, indent=2))


def load_vae(folder: str | Path | None = None, device: str | torch.device = "cpu") -> VideoVAE:
    """Load a VAE saved by `save_vae` (safetensors only). None: the bundled Flatland VAE."""
    from safetensors.torch import load_file

    if folder is None:
        folder = Path(__file__).resolve().parents[1] / "assets" / "default" / "vae"
    folder = Path(folder)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"VAE folder {folder}: missing {name}")
    data = json.loads((folder / CONFIG_NAME).read_text())
    data.pop("_class_name", None)
    vae = VideoVAE(from_dict(VAEConfig, data))
    vae.load_state_dict(load_file(folder / WEIGHTS_NAME, device=str(device)))
    return vae.to(device).eval()
