"""Latent cache: VAE latents and text embeddings of a dataset on disk, so DiT training skips both encoders.

Layout of a cache folder:

    cache.json           the key, what it was computed from, and (once complete) the list of entries
    entries/<id>.safetensors   latents [c, t, h, w], tokens [L, D], mask [L], pooled [D]; caption in metadata

The key is a SHA-256 over the VAE encoder's weights and the encoder-side config (a retrained decoder
keeps the latents, so it keeps the cache), the text encoder's config (and weights, when they are
not a packaged model), the clip geometry and this format's version. A cache whose key differs from the
models at hand is stale: building into it is refused unless asked to rebuild, which empties it first.
An entry's id hashes its row (path, caption) and the video file's size and modification time, so an edited
row or replaced video gets a new entry. Entries are written atomically and skipped when present, so an
interrupted build resumes; `cache.json` lists the entries only when the build has finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from cineflow.atomic import atomic_save_safetensors, atomic_write_text
from cineflow.config import to_dict
from cineflow.data.dataset import VideoDataset, failure_reason
from cineflow.data.table import Issue

FORMAT_VERSION = 2  # 2: the key covers the encoder only (1: the whole VAE)
# VAEConfig fields added after caches existed, at the value that builds what older VAEs were: left out of the
# key at that value, so a cache made before the field existed stays valid.
NEWER_FIELDS: dict[str, Any] = {"shortcuts": False}
MANIFEST = "cache.json"


@dataclass(frozen=True)
class Geometry:
    """The clip every row is cut to before encoding."""

    num_frames: int = 17
    height: int = 64
    width: int = 64
    fps: float | None = None  # None: each video's own rate

    def __post_init__(self) -> None:
        # 8 and 8.0 must give the same cache key (it hashes this dataclass as JSON).
        if self.fps is not None:
            object.__setattr__(self, "fps", float(self.fps))


@dataclass
class CachedItem:
    latents: torch.Tensor  # [c, t, h, w], scaled as the VAE's encode returns them
    tokens: torch.Tensor  # [L, D], L = this caption's own token count
    mask: torch.Tensor  # bool [L]
    pooled: torch.Tensor  # [D]
    text: str


@dataclass(frozen=True)
class BuildResult:
    folder: Path
    key: str
    encoded: int  # entries computed in this run
    reused: int  # entries found from an earlier (interrupted) run
    skipped: list[Issue]  # rows that could not be used, with reasons


def state_sha256(module: torch.nn.Module) -> str:
    """SHA-256 of a module's tensors (names, dtypes, shapes and bytes) in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def cache_key(vae: torch.nn.Module, text_encoder: torch.nn.Module, geometry: Geometry) -> dict[str, Any]:
    """What the cache depends on, and its hash under "key".

    Only what decides the latents counts: the encoder's weights and the encoder-side config (the latent
    scale and shift included), not the decoder, so a VAE whose decoder was retrained on the same latent
    space keeps its caches and the DiTs trained on them.
    """
    text_cfg = to_dict(text_encoder.cfg)
    packaged = text_cfg.get("name") == "minilm"  # weights come from a pinned package, not from us
    vae_cfg = {
        k: v
        for k, v in to_dict(vae.cfg).items()
        if not k.startswith("decoder_") and not (k in NEWER_FIELDS and v == NEWER_FIELDS[k])
    }
    parts = {
        "format": FORMAT_VERSION,
        "encoder_sha256": state_sha256(vae.encoder),
        "vae_config": vae_cfg,
        "text_config": text_cfg,
        "text_sha256": None if packaged else state_sha256(text_encoder),
        "geometry": asdict(geometry),
    }
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return {"key": key, **parts}


def build_cache(
    file: str | os.PathLike[str],
    out: str | os.PathLike[str],
    vae: torch.nn.Module,
    text_encoder: torch.nn.Module,
    geometry: Geometry | None = None,
    *,
    batch_size: int = 4,
    rebuild: bool = False,
    seed: int = 0,
) -> BuildResult:
    """Encode every usable row of `file` into the cache folder `out` (see the module docstring)."""
    geometry = geometry or Geometry()
    if batch_size < 1:
        raise ValueError(f"--batch-size: must be >= 1, got {batch_size}")
    out = Path(out)
    identity = cache_key(vae, text_encoder, geometry)
    _claim(out, identity, rebuild)
    g = geometry
    dataset = VideoDataset(
        file, num_frames=g.num_frames, height=g.height, width=g.width, fps=g.fps, seed=seed
    )
    skipped = list(dataset.report.issues)
    done: list[dict[str, Any]] = []
    todo: list[tuple[int, str]] = []
    for i, entry in enumerate(dataset.entries):
        entry_id = _entry_id(entry.row.path, entry.row.text, entry.file)
        done.append({"id": entry_id, "row": entry.row.index, "path": entry.row.path, "text": entry.row.text})
        if not (out / "entries" / f"{entry_id}.safetensors").is_file():
            todo.append((i, entry_id))
    failed: set[str] = set()
    for start in range(0, len(todo), batch_size):
        failed |= _encode_batch(dataset, todo[start : start + batch_size], out, vae, text_encoder, skipped)
    entries = [d for d in done if d["id"] not in failed]
    if not entries:
        raise ValueError(f"no usable rows to cache; {dataset.report.summary()}")
    manifest = {**identity, "complete": True, "entries": entries, "skipped": [s.to_dict() for s in skipped]}
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1))
    return BuildResult(out, identity["key"], len(todo) - len(failed), len(done) - len(todo), skipped)


def _claim(out: Path, identity: dict[str, Any], rebuild: bool) -> None:
    """Make `out` a cache for `identity`: new, the same key (resume), or stale (refused unless rebuild)."""
    manifest = out / MANIFEST
    if manifest.is_file():
        old = json.loads(manifest.read_text())
        if old.get("key") != identity["key"]:
            if not rebuild:
                changed = [k for k in identity if k != "key" and old.get(k) != identity[k]]
                raise ValueError(
                    f"--out {out}: a stale cache (built from a different {', '.join(changed)}); "
                    "pass --rebuild to empty it and build again, or choose another folder"
                )
            shutil.rmtree(out / "entries", ignore_errors=True)
    elif out.exists() and any(out.iterdir()):
        raise ValueError(f"--out {out}: the folder is not empty and is not a latent cache")
    (out / "entries").mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest, json.dumps({**identity, "complete": False}, indent=1))


def _entry_id(path: str, text: str, file: Path) -> str:
    stat = file.stat()
    return hashlib.sha256(f"{path}\0{text}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:24]


@torch.no_grad()
def _encode_batch(dataset, batch, out, vae, text_encoder, skipped: list[Issue]) -> set[str]:
    """Encode one batch and write its entries; returns the ids of rows that failed to load."""
    device = next(vae.parameters()).device
    videos, texts, ids, failed = [], [], [], set()
    for i, entry_id in batch:
        entry = dataset.entries[i]
        try:
            videos.append(dataset.load(entry, dataset.buckets[i], i))  # (3, T, H, W)
        except (ValueError, OSError) as e:
            skipped.append(Issue(entry.row.index, entry.row.path, failure_reason(e), str(e)))
            failed.add(entry_id)
            continue
        texts.append(entry.row.text)
        ids.append(entry_id)
    if not ids:
        return failed
    latents = vae.encode(torch.stack(videos).to(device)).float().cpu()  # (B, c, t, h, w)
    emb = text_encoder.encode(texts)
    for b, entry_id in enumerate(ids):
        n = int(emb.mask[b].sum())
        tensors = {
            "latents": latents[b].contiguous(),
            "tokens": emb.tokens[b, :n].float().cpu().contiguous(),  # (L, D)
            "mask": emb.mask[b, :n].cpu().to(torch.uint8).contiguous(),
            "pooled": emb.pooled[b].float().cpu().contiguous(),
        }
        atomic_save_safetensors(tensors, out / "entries" / f"{entry_id}.safetensors", {"text": texts[b]})
    return failed


class LatentCache:
    """A finished cache folder as a sequence of `CachedItem`s, in dataset order."""

    def __init__(self, folder: str | os.PathLike[str], expect_key: str | None = None) -> None:
        self.folder = Path(folder)
        manifest = self.folder / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(f"{self.folder}: not a latent cache (no {MANIFEST})")
        data = json.loads(manifest.read_text())
        if not data.get("complete"):
            raise ValueError(f"{self.folder}: the build did not finish; run cache-latents again to resume")
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"{self.folder}: format {data.get('format')}; this code reads {FORMAT_VERSION}")
        if expect_key is not None and data["key"] != expect_key:
            raise ValueError(f"{self.folder}: stale (key {data['key'][:12]}, expected {expect_key[:12]})")
        self.key: str = data["key"]
        self.geometry = Geometry(**data["geometry"])
        self.entries: list[dict[str, Any]] = data["entries"]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> CachedItem:
        from safetensors import safe_open

        entry = self.entries[index]
        path = self.folder / "entries" / f"{entry['id']}.safetensors"
        with safe_open(path, framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
            text = f.metadata()["text"]
        return CachedItem(
            tensors["latents"], tensors["tokens"], tensors["mask"].bool(), tensors["pooled"], text
        )
