"""Text-to-video pipeline: text encoder + video DiT + flow sampler + VAE, shaped like diffusers.

    pipe = Pipeline.from_pretrained()            # the bundled model, or a folder
    out = pipe("a red ball bounces", num_frames=17, seed=0)
    out.frames                                    # uint8 [T, H, W, 3]
    out.save("ball.mp4")

A model folder (DESIGN section 3):

    model_index.json            component names + the pipeline's defaults (`PipelineConfig`)
    vae/                        config.json + diffusion_pytorch_model.safetensors
    transformer/                config.json + diffusion_pytorch_model.safetensors
    text_encoder/               config.json (+ model.safetensors for a random test encoder; MiniLM is
                                named in config.json and loaded from its package, never copied)

Weights are read only from safetensors. Every argument of `__call__` is checked before anything is
allocated; sizes and frame counts the model cannot take are snapped to the nearest valid ones with a warning.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cineflow import __version__
from cineflow.atomic import atomic_save_safetensors
from cineflow.config import DiTConfig, TextConfig, VAEConfig, from_dict, to_dict
from cineflow.world import vocab

BUNDLED = Path(__file__).parent / "assets" / "default"
MODEL_INDEX = "model_index.json"
WEIGHTS = "diffusion_pytorch_model.safetensors"
TEXT_WEIGHTS = "model.safetensors"
COMPONENTS = {
    "vae": ["cineflow.models.vae", "VideoVAE"],
    "transformer": ["cineflow.models.dit", "VideoDiT"],
    "text_encoder": ["cineflow.models.text", "TextEncoder"],
}
SOLVERS = ("euler", "heun")  # names in cineflow.diffusion.sampling.SOLVERS
MAX_STEPS = 1000
MAX_GUIDANCE = 100.0

StepCallback = Callable[["Pipeline", int, float, dict[str, Any]], Any]


@dataclass(frozen=True)
class PipelineConfig:
    """Defaults of a model folder: what the model was trained for and how it samples best."""

    fps: int = vocab.DEFAULT_FPS
    num_frames: int = vocab.DEFAULT_FRAMES
    height: int = vocab.DEFAULT_SIZE[1]
    width: int = vocab.DEFAULT_SIZE[0]
    num_inference_steps: int = 20
    guidance_scale: float = 4.0
    solver: str = "euler"  # euler | heun

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ValueError(f"pipeline.solver: choose from {', '.join(SOLVERS)}, got {self.solver!r}")


@dataclass
class PipelineOutput:
    """Generated frames, uint8 [T, H, W, 3], and what it takes to write and attribute them."""

    frames: np.ndarray
    fps: float
    manifest: dict[str, Any] = field(default_factory=dict)
    adjustments: list[str] = field(default_factory=list)  # sizes snapped to what the model accepts

    def save(self, path: str | os.PathLike[str], *, crf: int = 18) -> None:
        """Write .mp4 (H.264 yuv420p), .gif, .webm, or .png (1 frame), with provenance when available."""
        try:
            from cineflow.provenance import write_with_provenance
        except ImportError:  # the provenance module is optional until it lands
            from cineflow.io import write_video

            write_video(path, self.frames, self.fps, crf=crf)
            return
        write_with_provenance(path, self.frames, self.fps, self.manifest)


class Pipeline:
    """vae + transformer + text_encoder, and the sampling loop that joins them."""

    def __init__(self, vae, transformer, text_encoder, config: PipelineConfig | None = None) -> None:
        self.vae = vae.eval()
        self.transformer = transformer.eval()
        self.text_encoder = text_encoder
        self.config = config or PipelineConfig()
        self.name = "cineflow"
        self._weights_sha256: str | None = None

    # ------------------------------------------------------------------ folders

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str] | None = None) -> Pipeline:
        """Load a model folder; None loads the bundled model at `cineflow/assets/default/`."""
        from cineflow.models.dit import VideoDiT
        from cineflow.models.vae import load_vae

        root = Path(path) if path is not None else BUNDLED
        if path is None and not (root / MODEL_INDEX).is_file():
            raise FileNotFoundError(
                f"no bundled model at {root}; pass a model folder (--model DIR), or train one with "
                "`cineflow train configs/tiny.yaml --out runs/tiny` (it is written to runs/tiny/model)"
            )
        index = _read_index(root)
        vae = load_vae(root / "vae")
        dit_cfg = from_dict(DiTConfig, _read_json(root / "transformer" / "config.json"))
        transformer = VideoDiT(dit_cfg)
        load_weights(transformer, root / "transformer" / WEIGHTS)
        text_encoder = _load_text_encoder(root / "text_encoder")
        config = from_dict(PipelineConfig, index.get("pipeline", {}))
        pipe = cls(vae, transformer, text_encoder, config)
        # "runs/tiny/model" -> "tiny/model": a training run's final folder is always named model
        pipe.name = "/".join(root.resolve().parts[-2:]) if path is not None else "cineflow-default"
        pipe._weights_sha256 = hash_files(sorted(root.glob("*/*.safetensors")))
        return pipe

    @classmethod
    def from_configs(
        cls,
        vae: VAEConfig,
        transformer: DiTConfig,
        text_encoder: TextConfig,
        config: PipelineConfig | None = None,
        seed: int = 0,
    ) -> Pipeline:
        """A randomly initialised pipeline (seeded): the starting point of training, and of tests."""
        from cineflow.models.dit import VideoDiT
        from cineflow.models.text import load_text_encoder
        from cineflow.models.vae import VideoVAE

        torch.manual_seed(seed)
        return cls(VideoVAE(vae), VideoDiT(transformer), load_text_encoder(text_encoder), config)

    def save_pretrained(self, path: str | os.PathLike[str]) -> None:
        """Write the model folder atomically: built in a temp folder beside `path`, then renamed."""
        from cineflow.models.vae import save_vae

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-", dir=path.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private (0700); a model folder is for every user to read
        index = {"_class_name": "Pipeline", "_cineflow_version": __version__, **COMPONENTS}
        index["pipeline"] = to_dict(self.config)
        _write_json(tmp / MODEL_INDEX, index)
        save_vae(self.vae, tmp / "vae")
        (tmp / "transformer").mkdir()
        _write_json(tmp / "transformer" / "config.json", to_dict(self.transformer.cfg))
        atomic_save_safetensors(_contiguous(self.transformer.state_dict()), tmp / "transformer" / WEIGHTS)
        (tmp / "text_encoder").mkdir()
        text_cfg: TextConfig = self.text_encoder.cfg
        _write_json(tmp / "text_encoder" / "config.json", to_dict(text_cfg))
        if text_cfg.name != "minilm":  # a packaged encoder is named, never copied
            text_state = _contiguous(self.text_encoder.state_dict())
            atomic_save_safetensors(text_state, tmp / "text_encoder" / TEXT_WEIGHTS)
        if path.exists():
            old = path.with_name(f".old-{path.name}-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)

    def to(self, device: str | torch.device) -> Pipeline:
        """Move every component to `device` (e.g. "cuda"); returns self, as diffusers does."""
        for module in (self.vae, self.transformer, self.text_encoder):
            module.to(device)
        return self

    # ------------------------------------------------------------------ geometry

    def snap(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, list[str]]:
        """The nearest (frames, height, width) the VAE and DiT accept (ties: the larger), and a message for
        each change."""
        vae_cfg = self.vae.cfg
        pt, ph, pw = self.transformer.cfg.patch_size
        frame_step = vae_cfg.temporal_down * pt
        notes = []
        frames = 1 + max(0, _round_half_up((num_frames - 1) / frame_step)) * frame_step
        if frames != num_frames:
            notes.append(f"num_frames {num_frames} -> {frames} (the model takes 1 + {frame_step}k frames)")
        sizes = []
        for name, value, patch in (("height", height, ph), ("width", width, pw)):
            multiple = vae_cfg.spatial_down * patch
            snapped = min(max(multiple, multiple * _round_half_up(value / multiple)), vocab.MAX_SIDE)
            if snapped != value:
                notes.append(f"{name} {value} -> {snapped} (the model takes multiples of {multiple})")
            sizes.append(snapped)
        return frames, sizes[0], sizes[1], notes

    def max_frames(self, fps: float) -> int:
        return int(vocab.MAX_SECONDS * fps) + 1

    # ------------------------------------------------------------------ generation

    @torch.no_grad()
    def __call__(
        self,
        prompt: str,
        negative_prompt: str | None = None,
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        seed: int = 0,
        conditions: list | None = None,
        boxes: list | None = None,
        callback_on_step_end: StepCallback | None = None,
        fps: float | None = None,
        progress: bool = True,
    ) -> PipelineOutput:
        """Generate one video for `prompt`. Unset sizes and settings take the model folder's defaults.

        callback_on_step_end(pipe, step, t, state) is called after each solver step with the step index,
        the time t just reached (1 = noise, 0 = data) and state {"latents": [1, c, t, h, w]}. To cancel,
        raise from it: the exception propagates and nothing is decoded.
        """
        from tqdm.auto import tqdm

        from cineflow.diffusion import sampling
        from cineflow.io import from_tensor, to_tensor

        # 1. Check every input before allocating anything
        cfg = self.config
        fps = cfg.fps if fps is None else fps
        num_frames = cfg.num_frames if num_frames is None else num_frames
        height = cfg.height if height is None else height
        width = cfg.width if width is None else width
        steps = cfg.num_inference_steps if num_inference_steps is None else num_inference_steps
        guidance = cfg.guidance_scale if guidance_scale is None else guidance_scale
        _check_text("prompt", prompt)
        if negative_prompt is not None:
            _check_text("negative_prompt", negative_prompt, allow_empty=True)
        _check_number("fps", fps, 1, 240)
        _check_int("num_frames", num_frames, 1, self.max_frames(fps))
        _check_int("height", height, vocab.MIN_SIDE, vocab.MAX_SIDE)
        _check_int("width", width, vocab.MIN_SIDE, vocab.MAX_SIDE)
        _check_int("num_inference_steps", steps, 1, MAX_STEPS)
        _check_number("guidance_scale", guidance, 0.0, MAX_GUIDANCE)
        _check_int("seed", seed, 0, 2**63 - 1)
        if callback_on_step_end is not None and not callable(callback_on_step_end):
            raise ValueError("callback_on_step_end: must be callable(pipe, step, t, state) or None")
        if boxes:
            raise ValueError("boxes: this model has no box attention (transformer max_boxes=0); pass None")
        num_frames, height, width, notes = self.snap(num_frames, height, width)
        prefix = _condition_prefix(conditions, num_frames, height, width, self.vae.cfg.temporal_down, notes)
        for note in notes:
            warnings.warn(f"snapped {note}", stacklevel=2)

        # 2. Text: the prompt, and the negative prompt ("" by default) for classifier-free guidance
        device = self.device
        use_cfg = guidance != 1.0
        texts = [prompt, negative_prompt or ""] if use_cfg else [prompt]
        emb = self.text_encoder.encode(texts)
        tokens, mask, pooled = (x.to(device) for x in (emb.tokens, emb.mask, emb.pooled))

        # 3. Noise in latent space, seeded on the CPU so a seed means the same video on every device
        shape = self.latent_shape(num_frames, height, width)
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(shape, generator=generator).to(device)  # (1, c, t, h, w)
        x_cond = cond_mask = None
        if prefix is not None:  # given frames are encoded and held clean (t = 0) by the solver
            z = self.vae.encode(to_tensor(prefix)[None].to(device, self.vae_dtype)).float()  # (1, c, k, h, w)
            x_cond = torch.zeros_like(x)
            x_cond[:, :, : z.shape[2]] = z
            cond_mask = torch.zeros(1, shape[2], dtype=torch.bool, device=device)
            cond_mask[:, : z.shape[2]] = True

        # 4. Integrate the flow ODE from t=1 (noise) to t=0 (data), guidance in the sampler
        sigmas = sampling.sigmas_for_tokens(steps, self.num_tokens(shape), device=device)
        velocity = sampling.classifier_free_guidance(
            self._text_model(tokens[:1], mask[:1], pooled[:1]),
            self._text_model(tokens[1:], mask[1:], pooled[1:]) if use_cfg else None,
            guidance,
        )
        bar = tqdm(total=steps, desc="generate", unit="step", disable=not progress, leave=False)

        def on_step(i: int, t: float, latents: torch.Tensor) -> None:
            bar.update(1)
            if callback_on_step_end is not None:
                callback_on_step_end(self, i, t, {"latents": latents})

        try:
            solver = sampling.SOLVERS[cfg.solver]
            # (1, c, t, h, w), condition frames held at x_cond
            x = solver(velocity, x, sigmas, x_cond=x_cond, cond_mask=cond_mask, callback=on_step)
        finally:
            bar.close()

        # 5. Decode to pixels
        video = self.vae.decode(x.to(self.vae_dtype), **decode_tiling(x.shape))  # (1, 3, T, H, W) in [-1, 1]
        frames = from_tensor(video[0].float().cpu())
        manifest = self.manifest(prompt, negative_prompt, seed, steps, guidance, frames.shape)
        return PipelineOutput(frames=frames, fps=float(fps), manifest=manifest, adjustments=notes)

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int, int]:
        vae_cfg = self.vae.cfg
        return (
            1,
            self.transformer.cfg.in_channels,
            1 + (num_frames - 1) // vae_cfg.temporal_down,
            height // vae_cfg.spatial_down,
            width // vae_cfg.spatial_down,
        )

    def num_tokens(self, shape: tuple[int, ...]) -> int:
        """Spacetime tokens of one latent sample: what the schedule's shift depends on."""
        pt, ph, pw = self.transformer.cfg.patch_size
        return (shape[2] // pt) * (shape[3] // ph) * (shape[4] // pw)

    def _text_model(self, tokens: torch.Tensor, mask: torch.Tensor, pooled: torch.Tensor):
        """The transformer as the sampler's model(x, t), conditioned on one encoded prompt."""

        def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.transformer(x, t, tokens, mask, pooled)

        return velocity

    # ------------------------------------------------------------------ attribution

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @property
    def vae_dtype(self) -> torch.dtype:
        return next(self.vae.parameters()).dtype

    def weights_sha256(self) -> str:
        if self._weights_sha256 is None:
            digest = hashlib.sha256()
            for module in (self.vae, self.transformer):
                for key, value in sorted(module.state_dict().items()):
                    digest.update(key.encode())
                    digest.update(value.detach().float().cpu().numpy().tobytes())
            self._weights_sha256 = digest.hexdigest()
        return self._weights_sha256

    def manifest(self, prompt, negative_prompt, seed, steps, guidance, shape) -> dict[str, Any]:
        """What a generated file says about where it came from (the prompt only as a hash)."""
        config = {"transformer": to_dict(self.transformer.cfg), "pipeline": to_dict(self.config)}
        return {
            "generator": f"cineflow {__version__}",
            "model": self.name,
            "weights_sha256": self.weights_sha256(),
            "config_sha256": _sha256_json(config),
            "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(),
            "negative_prompt_sha256": hashlib.sha256((negative_prompt or "").encode()).hexdigest(),
            "seed": seed,
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "frames": int(shape[0]),
            "height": int(shape[1]),
            "width": int(shape[2]),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


# ---------------------------------------------------------------------- decoding


CHUNK_LATENT_FRAMES = 8  # 33 video frames per chunk
TILE_LATENT_PIXELS = 64  # 512 video pixels per tile side


def decode_tiling(shape: tuple[int, ...]) -> dict[str, int]:
    """VAE decode arguments that bound memory for long or large videos and change nothing for short ones.

    Chunking in time is exact (causal convolutions carry their context from chunk to chunk); spatial tiles
    blend overlaps and are close to, not equal to, one-piece decoding, so they start only past 512 pixels.
    """
    _, _, t, h, w = shape
    args = {}
    if t > CHUNK_LATENT_FRAMES:
        args["chunk_frames"] = CHUNK_LATENT_FRAMES
    if max(h, w) > TILE_LATENT_PIXELS:
        args["tile_size"] = TILE_LATENT_PIXELS
    return args


# ---------------------------------------------------------------------- input checks


def _condition_prefix(
    conditions: Any, num_frames: int, height: int, width: int, temporal_down: int, notes: list[str]
) -> np.ndarray | None:
    """The frames a generation must start with, uint8 [k, H, W, 3], or None; checked, nothing encoded.

    The causal VAE encodes a prefix of 1 + 4j frames exactly as it would inside the whole video, so a prefix
    is what can be held clean: an image (image-to-video) or a video (extension forward). Frames of another
    size are scaled to cover the output and centre-cropped, with a note.
    """
    if conditions is None or (isinstance(conditions, list | tuple) and not conditions):
        return None
    usage = (
        "conditions: give [{'image': uint8 [H, W, 3]}] or [{'video': uint8 [T, H, W, 3]}] (optionally with "
        "'kind' and 'frame': 0): the first frames of the video"
    )
    if (
        not isinstance(conditions, list | tuple)
        or len(conditions) != 1
        or not isinstance(conditions[0], dict)
    ):
        raise ValueError(usage)
    cond = conditions[0]
    kinds = [k for k in ("image", "video") if k in cond]
    if len(kinds) != 1 or set(cond) - {"image", "video", "kind", "frame"}:
        raise ValueError(f"{usage}; got keys {sorted(cond)}")
    kind = kinds[0]
    if cond.get("kind", kind) != kind or cond.get("frame", 0) != 0:
        raise ValueError(f"{usage}; only frame 0 (a prefix) is supported, got {cond.get('frame')}")
    frames = np.asarray(cond[kind])
    if kind == "image":
        frames = frames[None]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(
            f"conditions: the {kind} must be uint8 RGB, got {frames.dtype} {list(np.shape(cond[kind]))}"
        )
    k = frames.shape[0]
    if (k - 1) % temporal_down or k >= num_frames:
        raise ValueError(
            f"conditions: a video prefix has 1 + {temporal_down}j frames, fewer than num_frames "
            f"({num_frames}); got {k}"
        )
    if frames.shape[1:3] != (height, width):
        from cineflow.io import resize

        notes.append(
            f"conditions {kind} {frames.shape[2]}x{frames.shape[1]} -> {width}x{height} (cover, crop)"
        )
        frames = resize(frames, height, width)
    return frames


def _round_half_up(x: float) -> int:
    # Ties go to the larger size (Python's round() sends them to the even one).
    return math.floor(x + 0.5)


def _check_text(name: str, value: Any, allow_empty: bool = False) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{name}: must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name}: must not be empty or whitespace")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name}: must be an integer in {low}..{high}, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name}: must be in {low}..{high}, got {value}")


def _check_number(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name}: must be a number in [{low:g}, {high:g}], got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name}: must be a finite number in [{low:g}, {high:g}], got {value}")


# ---------------------------------------------------------------------- folder helpers


def _read_index(root: Path) -> dict[str, Any]:
    if not (root / MODEL_INDEX).is_file():
        raise FileNotFoundError(f"model folder {root}: no {MODEL_INDEX} (is this a cineflow model folder?)")
    index = _read_json(root / MODEL_INDEX)
    for name, expected in COMPONENTS.items():
        # Components are fixed classes: a folder names them, it never chooses code to import.
        if index.get(name) != expected:
            raise ValueError(
                f"{root / MODEL_INDEX}: component {name!r} must be {expected}, got {index.get(name)}"
            )
        if not (root / name / "config.json").is_file():
            raise FileNotFoundError(f"model folder {root}: missing {name}/config.json")
    return index


def _load_text_encoder(folder: Path):
    from cineflow.models.text import load_text_encoder

    cfg = from_dict(TextConfig, _read_json(folder / "config.json"))
    encoder = load_text_encoder(cfg)
    if cfg.name != "minilm":
        load_weights(encoder, folder / TEXT_WEIGHTS)
    return encoder


def load_weights(module: torch.nn.Module, path: Path) -> None:
    """Load safetensors `path` into `module` strictly; a missing file or a mismatch is a clear error."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path}")
    try:
        module.load_state_dict(load_file(path), strict=True)
    except RuntimeError as e:  # keys or shapes that this code's architecture does not have
        first = str(e).splitlines()[1:2] or [str(e)]
        raise ValueError(
            f"{path}: the weights do not fit the architecture in its config.json (a model folder from "
            f"another cineflow version?): {first[0].strip()[:300]}"
        ) from e


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().cpu() for k, v in state.items()}


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"not found: {path}")
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _sha256_json(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def hash_files(paths: list[Path]) -> str:
    """SHA-256 over files' names and bytes, in the order given: the weights hash of manifests and reports."""
    digest = hashlib.sha256()
    for p in paths:
        digest.update(p.name.encode())
        digest.update(p.read_bytes())
    return digest.hexdigest()
