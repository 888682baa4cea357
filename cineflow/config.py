"""Typed configuration: one dataclass per component, presets as a flat dict, strict loading.

Unknown keys are errors (a misspelt key must never silently take its default). Each component gets only
its own config; the resolved config is written next to every checkpoint and output.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


@dataclass(frozen=True)
class VAEConfig:
    """Causal video VAE (models/vae.py).

    The encoder folds `patch_size` x `patch_size` pixels into channels, then halves the frame between
    consecutive levels, so `spatial_down` must equal `patch_size * 2 ** (len(channel_mult) - 1)`; the last
    log2(`temporal_down`) of those transitions also halve time (causally: T = 1 + 4k -> 1 + k).
    """

    in_channels: int = 3
    latent_channels: int = 16
    base_channels: int = 16
    channel_mult: tuple[int, ...] = (1, 2, 4)  # one entry per resolution level
    num_res_blocks: int = 1  # per level in the encoder; the decoder has one more
    patch_size: int = 2  # pixels folded into channels before the first convolution
    temporal_down: int = 4  # frames per latent frame after frame 0 (causal: T = 1 + 4k -> 1 + k)
    spatial_down: int = 8
    scale: float = 1.0  # latent = (mean - shift) * scale, applied inside encode/decode
    shift: float = 0.0
    # A decoder retrained on a frozen latent space may be wider or deeper than the encoder's mirror image.
    decoder_base_channels: int | None = None  # None: base_channels
    decoder_res_blocks: int | None = None  # per level; None: num_res_blocks + 1
    # Parameter-free shortcuts around every down/upsampling and the latent ends (DC-AE's residual
    # autoencoding): space/time folded into channels and averaged, or channels repeated and unfolded.
    shortcuts: bool = False


@dataclass(frozen=True)
class DiTConfig:
    """Video DiT (models/dit.py)."""

    in_channels: int = 16  # = VAE latent channels
    patch_size: tuple[int, int, int] = (1, 2, 2)  # (pt, ph, pw)
    hidden_size: int = 384
    depth: int = 8
    num_heads: int = 6
    mlp_ratio: float = 4.0
    text_dim: int = 384  # MiniLM hidden size
    max_boxes: int = 0  # box tokens per sample (0: no box attention)
    freq_dim: int = 256  # sinusoidal features of the timestep before its MLP
    rope_theta: float = 10000.0
    # "full": every block attends over all spacetime tokens. "factorized" (opt-in, Latte-style): even blocks
    # attend within a frame, odd blocks across frames at one position; same weights, a different function.
    attention: str = "full"


@dataclass(frozen=True)
class TextConfig:
    """Frozen text encoder (models/text.py). `name` is 'minilm' (the packaged model) or 'random' (tests)."""

    name: str = "minilm"
    max_length: int = 64
    dim: int = 384


@dataclass(frozen=True)
class ServeConfig:
    """HTTP API and web page (serve/). Limits are enforced before any work is queued."""

    host: str = "127.0.0.1"  # loopback unless asked: the API runs a model on request
    port: int = 8000
    model: str | None = None  # model folder; None = the bundled model
    data_dir: str = "cineflow-serve"  # SQLite job store, outputs, uploads
    api_keys: tuple[str, ...] = ()  # empty: no authentication
    max_queue: int = 16  # queued jobs beyond this -> 429 with Retry-After
    job_timeout_s: float = 600.0
    max_body_bytes: int = 12 * 2**20  # whole request, uploads included
    max_upload_bytes: int = 10 * 2**20  # one input_reference image
    max_image_pixels: int = 4096 * 4096  # Pillow decompression-bomb guard
    max_side: int = 512  # width/height a client may ask for
    max_frames: int = 121  # 15 s at 8 fps on a CPU server
    fps: int = 8


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass `cls` from a dict, recursing into nested dataclasses; unknown keys are errors."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown keys {unknown}; known keys are {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        kwargs[key] = _coerce(hints[key], value, f"{cls.__name__}.{key}")
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value)
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list | tuple):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return tuple(_coerce(inner, v, where) for v in value)
    if hint is float and isinstance(value, int):
        return float(value)
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as plain JSON-ready data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))


def load_yaml(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file as a dict. `base: OTHER.yaml` (relative to this file) starts from that config: this
    file's keys replace the base's and sections (mappings) merge key by key, so a variant names only what
    differs."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must be a mapping at the top level")
    if "base" not in data:
        return data
    base = data.pop("base")
    if not isinstance(base, str):
        raise ValueError(f"{path}: base must be a config file name, got {base!r}")
    base_path = (path.parent / base).resolve()
    if base_path in _seen or base_path == path.resolve():
        raise ValueError(f"{path}: base {base!r} makes a cycle")
    return _merge(load_yaml(base_path, (*_seen, path.resolve())), data)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both else value
    return out


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key.sub=value` overrides (values parsed as YAML) to a nested dict, returning a new dict."""
    out = json.loads(json.dumps(data))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set: expected key=value, got {item!r}")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set: {key!r}: {part!r} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return out
