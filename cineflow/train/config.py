"""Typed configuration of a DiT training run (`cineflow train CONFIG`).

A YAML file maps onto `TrainConfig` through `cineflow.config.from_dict`, so a misspelt key is an error,
never a silent default. The DiT starts from a named preset (`dit_preset`) and the `dit:` mapping overrides
single fields of it; `resolve_train_config` does that and checks cross-component consistency. The resolved
config (every field, preset expanded) is written next to every checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from cineflow.config import DiTConfig, TextConfig, VAEConfig, apply_overrides, from_dict, to_dict

DATA_SOURCES = ("flatland", "dataset", "latents")
PRECISIONS = ("bf16", "fp32")


@dataclass(frozen=True)
class DataConfig:
    """Where training clips come from. Flatland is an infinite seeded stream: clip k = f(seed, k)."""

    source: str = "flatland"  # flatland | dataset (CSV/JSONL path,text) | latents (a `cineflow data` cache)
    path: str | None = None  # the dataset file or latent cache folder (not used for flatland)
    seed: int = 0  # stream seed; also seeds the per-sample noise and timesteps
    width: int = 64
    height: int = 64
    num_frames: int = 17  # 4k + 1 for the causal VAE
    fps: int = 8


@dataclass(frozen=True)
class HeldoutConfig:
    """The held-out loss (`cineflow.train.heldout`): clips the run never trains on, in `data`'s geometry.

    `source`/`path`/`seed` name them as `data` names its own; the default, Flatland stream 1, is unseen by
    any run on stream 0 or on a cache of it (`cineflow world sample` is stream 0 unless told otherwise).
    Stream clips are clean renders; a run on a cache of `world sample` files (read back from mp4) is best
    held out on a cache of more such files, so that both sets went through the codec.
    """

    every: int = 0  # evaluate every N steps and at the last (0: never)
    batches: int = 2  # global batches (batch_size x grad_accum x ranks clips) in each set (held-out, seen)
    source: str = "flatland"  # flatland | dataset | latents, as data.source
    path: str | None = None  # the dataset file or latent cache (not used for flatland)
    seed: int = 1  # the Flatland stream; also seeds the fixed timesteps and noise


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up, then constant, then (optionally) a linear cool-down; global-norm clipping.

    The cool-down starts at the absolute step `decay_start` (not relative to `max_steps`, so a run trained in
    legs with `--max-steps N` keeps one schedule) and reaches `lr * min_lr_ratio` after `decay_steps` steps.
    """

    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    warmup_steps: int = 100
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    decay_start: int | None = None  # None: constant after warm-up
    decay_steps: int = 1000
    min_lr_ratio: float = 0.0


@dataclass(frozen=True)
class EMAConfig:
    """EMA of the weights with a warmed-up decay: min(decay, (1 + n) / (10 + n)) after n updates.

    A fixed 0.999 over ~600 steps still holds about half of the initial weights (MEASURED.md), so the
    early EMA follows the model closely and only later averages over ~1/(1-decay) steps.
    """

    decay: float = 0.999
    warmup: bool = True
    every: int = 1  # update the EMA every N optimizer steps


@dataclass(frozen=True)
class TrainConfig:
    """One training run. `batch_size` is per rank and per micro-step: global batch = batch * accum * ranks."""

    dit_preset: str = "tiny"
    dit: dict[str, Any] = field(default_factory=dict)  # field overrides of the preset, e.g. {depth: 4}
    vae: str = "default"  # a VAE folder, "default" (the bundled one) or "random" (tests: VAEConfig below)
    vae_config: VAEConfig = field(default_factory=VAEConfig)  # only for vae: random
    text: TextConfig = field(default_factory=TextConfig)
    data: DataConfig = field(default_factory=DataConfig)
    heldout: HeldoutConfig = field(default_factory=HeldoutConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    ema: EMAConfig = field(default_factory=EMAConfig)
    batch_size: int = 8
    grad_accum: int = 1
    max_steps: int = 1000  # optimizer steps
    precision: str = "bf16"  # bf16 autocast (AMX on CPU, tensor cores on GPU) or fp32
    activation_checkpointing: bool = False  # recompute each block in backward: less memory, ~1.3x compute
    parallel: str = "ddp"  # with several ranks: ddp (replicate) or fsdp (shard params, grads, optimizer)
    text_dropout: float = 0.1  # probability a caption is replaced by "" (the unconditional prompt for CFG)
    cond_prob: float = 0.0  # probability a sample's first latent frames are given clean (i2v, extension)
    seed: int = 0  # model initialisation
    # A model folder (or a run's `model/`) whose `transformer/` weights start the DiT instead of `seed`'s
    # random init: fine-tuning, or moving a DiT to a new latent space. `--resume` still wins.
    init_from: str | None = None
    log_every: int = 10
    sample_every: int = 0  # write sample videos every N steps (0: only at the end)
    sample_prompts: tuple[str, ...] = ("a red ball moves to the right", "a blue square falls and bounces")
    sample_steps: int = 20
    sample_guidance: float = 4.0
    checkpoint_every: int = 100
    keep_last: int = 3
    device: str = "auto"  # auto | cpu | cuda
    # CPU threads per process (None: torch's default). Beside another job on a small machine, 1 is faster:
    # the threads of one op wait on each other at every barrier (measured: 18 s a step with 2 threads next
    # to one other process, 2.5 s with 1; docs/training.md)
    threads: int | None = None


def load_train_config(data: dict[str, Any], overrides: list[str] | None = None) -> TrainConfig:
    """YAML data + `key=value` overrides -> a checked TrainConfig."""
    cfg = from_dict(TrainConfig, apply_overrides(data, overrides or []))
    check_train_config(cfg)
    return cfg


def dit_config(cfg: TrainConfig) -> DiTConfig:
    """The preset named by `cfg.dit_preset` with `cfg.dit` applied, checked strictly."""
    from cineflow.models.dit import PRESETS

    if cfg.dit_preset not in PRESETS:
        raise ValueError(f"dit_preset: unknown preset {cfg.dit_preset!r}; choose from {', '.join(PRESETS)}")
    base = to_dict(PRESETS[cfg.dit_preset])
    return from_dict(DiTConfig, {**base, **cfg.dit})


def check_train_config(cfg: TrainConfig) -> None:
    """Range checks that the dataclasses cannot express; each error names the key and the range."""
    _need(cfg.data.source in DATA_SOURCES, f"data.source: choose from {', '.join(DATA_SOURCES)}")
    _need(cfg.data.source == "flatland" or bool(cfg.data.path), "data.path: required for this data.source")
    h = cfg.heldout
    _need(h.every >= 0 and h.batches >= 1, "heldout.every: must be >= 0; heldout.batches: >= 1")
    _need(h.source in DATA_SOURCES, f"heldout.source: choose from {', '.join(DATA_SOURCES)}")
    _need(h.source == "flatland" or bool(h.path), "heldout.path: required for this heldout.source")
    same_stream = h.source == cfg.data.source == "flatland" and h.seed == cfg.data.seed
    same_file = h.source == cfg.data.source != "flatland" and h.path == cfg.data.path
    _need(not (h.every and (same_stream or same_file)), "heldout: names the training data, not unseen clips")
    _need(cfg.precision in PRECISIONS, f"precision: choose from {', '.join(PRECISIONS)}")
    _need((cfg.data.num_frames - 1) % 4 == 0, "data.num_frames: must be 4k + 1 (1, 5, 9, 13, 17, ...)")
    _need(cfg.data.width >= 16 and cfg.data.height >= 16, "data.width/height: must be >= 16")
    for key in ("batch_size", "grad_accum", "max_steps", "log_every", "checkpoint_every", "keep_last"):
        _need(getattr(cfg, key) >= 1, f"{key}: must be >= 1")
    _need(cfg.sample_every >= 0, "sample_every: must be >= 0")
    _need(0.0 <= cfg.text_dropout <= 1.0, "text_dropout: must be in [0, 1] (1 trains a text-blind control)")
    _need(0.0 <= cfg.cond_prob <= 1.0, "cond_prob: must be in [0, 1]")
    _need(0.0 <= cfg.ema.decay < 1.0 and cfg.ema.every >= 1, "ema.decay: in [0, 1); ema.every: >= 1")
    _need(cfg.optim.lr > 0 and math.isfinite(cfg.optim.lr), "optim.lr: must be a positive number")
    _need(cfg.optim.warmup_steps >= 0 and cfg.optim.grad_clip >= 0, "optim.warmup_steps/grad_clip: >= 0")
    _need(cfg.optim.decay_start is None or cfg.optim.decay_start >= 0, "optim.decay_start: >= 0 (or null)")
    _need(cfg.optim.decay_steps >= 1, "optim.decay_steps: must be >= 1")
    _need(0.0 <= cfg.optim.min_lr_ratio <= 1.0, "optim.min_lr_ratio: must be in [0, 1]")
    _need(cfg.device in ("auto", "cpu", "cuda"), "device: choose from auto, cpu, cuda")
    _need(cfg.parallel in ("ddp", "fsdp"), "parallel: choose from ddp, fsdp")
    _need(cfg.threads is None or cfg.threads >= 1, "threads: must be >= 1 (or null: torch's default)")
    unknown = sorted(set(cfg.dit) - {f.name for f in dataclasses.fields(DiTConfig)})
    _need(not unknown, f"dit: unknown keys {unknown}")


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)
