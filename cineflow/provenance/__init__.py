"""Provenance on every output: an invisible watermark in the pixels and a signed C2PA manifest.

    write_with_provenance("out.mp4", frames, fps, manifest)   # mark, write, sign
    report = verify("out.mp4")                                 # report.ok: ours and intact

The two layers answer different questions. The C2PA manifest says exactly what made the file (model,
config and weights hashes, seed, prompt hash, time) and breaks on any change to the bytes; the watermark
says only "made by cineflow" but lives in the pixels, so it survives re-encoding, rescaling and the loss
of the metadata (`watermark.py`). A file is ours and intact when both hold.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cineflow.provenance import c2pa_sign, watermark
from cineflow.provenance.c2pa_sign import ManifestCheck
from cineflow.provenance.watermark import Detection

__all__ = ["VerifyReport", "generation_manifest", "verify", "write_with_provenance"]

WATERMARK_SCHEME = "cineflow-luma-spread-v3"


@dataclass
class VerifyReport:
    """`ok` when the file carries a valid manifest of ours and the watermark is present."""

    path: str
    manifest: ManifestCheck
    watermark: Detection | None  # None when the pixels could not be read
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.manifest.valid and self.watermark is not None and self.watermark.present

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "manifest": self.manifest.to_dict(),
            "watermark": None if self.watermark is None else self.watermark.to_dict(),
            **({"error": self.error} if self.error else {}),
        }


def generation_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The assertion we sign: the caller's manifest with a raw prompt hashed, the time and the mark added."""
    out = dict(manifest)
    for key in ("prompt", "negative_prompt"):
        if key in out:  # the manifest is public: keep only a hash of what the user typed
            out[f"{key}_sha256"] = hashlib.sha256(str(out.pop(key)).encode()).hexdigest()
    out.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    out["watermark"] = {"scheme": WATERMARK_SCHEME, "key": f"{watermark.KEY:#x}"}
    try:
        return json.loads(json.dumps(out, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"manifest: must be JSON-serialisable data: {e}") from e


def write_with_provenance(
    path: str | os.PathLike[str], frames: np.ndarray, fps: float, manifest: dict[str, Any], *, crf: int = 18
) -> None:
    """Watermark uint8 [T, H, W, 3] `frames`, write them with `cineflow.io.write_video`, and sign the file.

    The file appears at `path` only once it is marked and signed (temporary files in the same folder,
    then `os.replace`). Suffixes: .mp4 .gif .png (manifest embedded), .webm .mkv (sidecar `NAME.c2pa`).
    """
    from cineflow.io import write_video

    p = Path(path)
    c2pa_sign.media_type(p)  # reject an unsupported suffix before any work
    generation = generation_manifest(manifest)
    marked = watermark.embed(np.asarray(frames))
    if not p.parent.is_dir():
        raise FileNotFoundError(f"{p}: the folder {p.parent} does not exist")
    unsigned = _temp_path(p, "unsigned")
    signed = _temp_path(p, "signed")
    try:
        write_video(unsigned, marked, fps, crf=crf)
        if p.suffix.lower() in c2pa_sign.DETACHED:
            c2pa_sign.sign(unsigned, p, generation, title=p.name)  # sidecar bound to these bytes
            final = unsigned
        else:
            c2pa_sign.sign(unsigned, signed, generation, title=p.name)
            final = signed
        os.chmod(final, 0o644)  # mkstemp made it private; an output file is meant to be shared
        os.replace(final, p)
    finally:
        unsigned.unlink(missing_ok=True)
        signed.unlink(missing_ok=True)


def verify(path: str | os.PathLike[str]) -> VerifyReport:
    """Check a file's C2PA manifest and look for the watermark in its pixels."""
    from cineflow.io import read_video

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such file")
    manifest = c2pa_sign.read(p)
    try:
        detection = watermark.detect(read_video(p).frames)
    except (ValueError, OSError) as e:
        return VerifyReport(path=str(p), manifest=manifest, watermark=None, error=f"pixels: {e}")
    return VerifyReport(path=str(p), manifest=manifest, watermark=detection)


def _temp_path(p: Path, tag: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{p.stem}.{tag}.", suffix=p.suffix, dir=p.parent)
    os.close(fd)
    return Path(name)
