"""Generate + score: each case's frames from a source (a model, or the world's own render), judged by the
oracle against the claims parsed from the case's prompt, tallied per check category.

Sources are callables `case -> frames uint8 [T, H, W, 3]`:
- `ground_truth`: the case's scene rendered by the world: the ceiling, what a perfect model would score
  (below 1 only where the oracle or the parser are wrong);
- `VAERoundTrip(folder)`: that render encoded and decoded by a model's VAE: the VAE ceiling, what a perfect
  DiT on this VAE's latents would score (the ceiling minus what the VAE loses);
- `ModelSource(folder)`: a model folder through `Pipeline`: the model under test, or the floor (a model
  trained with the same recipe and its text always dropped, so it sees no prompt); `FrameCache` keeps
  its videos on disk so that a long run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cineflow.eval.stats import Rate, Tally
from cineflow.eval.suites import Case
from cineflow.world import physics, render
from cineflow.world.oracle import score

Source = Callable[[Case], np.ndarray]
STRIP_FRAMES = 5  # frames kept per case for the report's frame strip

_OBJECT_CHECK = re.compile(r"^object \d+ \(.*\): (present|color|shape|size|motion|speed|becomes \w+)$")


def category(check_name: str) -> str:
    """The category a check of the oracle's report counts in: 'color', 'count', 'event_collide', ..."""
    m = _OBJECT_CHECK.match(check_name)
    if m:
        return m.group(1).split()[0]  # "becomes red" -> "becomes"
    if check_name == "objects: count":
        return "count"
    if check_name == "objects: no unclaimed color":
        return "color"
    if check_name.startswith("permanence:"):
        return "permanence"
    if check_name.startswith("event "):
        return "event_" + check_name.split()[1]
    return check_name  # background, floor, camera


def ground_truth(case: Case) -> np.ndarray:
    """The case's scene as the world renders it: uint8 [T, H, W, 3]."""
    return render.render(case.spec, physics.simulate(case.spec))


class VAERoundTrip:
    """The VAE ceiling as a source: each case's ground-truth render through a VAE, encode (posterior mean)
    then decode, as a pipeline decodes; `folder` is a model folder (its `vae/`) or a VAE folder."""

    def __init__(self, folder: str | Path) -> None:
        from cineflow.models.vae import load_vae

        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"model or VAE folder not found: {folder}")
        self.folder = folder / "vae" if (folder / "vae").is_dir() else folder
        self.vae = load_vae(self.folder)

    def info(self) -> dict:
        from cineflow.pipeline import hash_files

        digest = hash_files(sorted(self.folder.glob("*.safetensors")))
        return {
            "what": "ground-truth renders after a round trip through the model's VAE (encode + decode)",
            "path": str(self.folder.resolve()),
            "weights_sha256": digest,
        }

    def __call__(self, case: Case) -> np.ndarray:
        import torch

        from cineflow.io import from_tensor, to_tensor
        from cineflow.models.vae import check_video_size
        from cineflow.pipeline import decode_tiling

        frames = ground_truth(case)  # (T, H, W, 3)
        check_video_size(self.vae.cfg, *frames.shape[:3])  # a size the VAE cannot take is an error here
        with torch.inference_mode():
            z = self.vae.encode(to_tensor(frames)[None])  # (1, c, t, h, w)
            video = self.vae.decode(z, **decode_tiling(z.shape))  # (1, 3, T, H, W)
        return from_tensor(video[0])


class ModelSource:
    """A model folder as a source: frames generated for each case's prompt, geometry and seed."""

    def __init__(
        self, folder: str | Path, *, steps: int | None = None, guidance: float | None = None
    ) -> None:
        from cineflow.pipeline import Pipeline

        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"model folder not found: {folder}")
        self.folder = folder
        self.pipe = Pipeline.from_pretrained(folder)
        self.steps, self.guidance = steps, guidance

    def info(self) -> dict:
        cfg = self.pipe.config
        return {
            "path": str(self.folder.resolve()),
            "weights_sha256": self.pipe.weights_sha256(),
            "num_inference_steps": self.steps or cfg.num_inference_steps,
            "guidance_scale": cfg.guidance_scale if self.guidance is None else self.guidance,
            "solver": cfg.solver,
        }

    def key(self, case: Case) -> str:
        """sha256 of everything the frames of `case` depend on: weights, prompt, noise seed, geometry and
        sampler settings."""
        spec = case.spec
        what = {
            **self.info(),
            "path": None,  # the same weights elsewhere are the same model
            "prompt": case.prompt,
            "seed": case.gen_seed,
            "geometry": [spec.num_frames, spec.height, spec.width, spec.fps],
        }
        return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()

    def __call__(self, case: Case) -> np.ndarray:
        import warnings

        spec = case.spec
        # sizes the model cannot take are snapped; the report records the shape it gave
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self.pipe(
                case.prompt,
                num_frames=spec.num_frames,
                height=spec.height,
                width=spec.width,
                num_inference_steps=self.steps,
                guidance_scale=self.guidance,
                seed=case.gen_seed,
                fps=spec.fps,
                progress=False,
            )
        return out.frames


class FrameCache:
    """A model source whose frames are kept on disk by `key(case)`, so that an interrupted or repeated run
    generates each video once. The oracle is cheap and is always re-run on the kept frames."""

    def __init__(self, source: ModelSource, folder: str | Path) -> None:
        self.source, self.folder = source, Path(folder)
        self.hits = 0

    def __call__(self, case: Case) -> np.ndarray:
        path = self.folder / f"{self.source.key(case)[:32]}.npz"
        if path.is_file():
            self.hits += 1
            with np.load(path) as data:
                return data["frames"]
        frames = self.source(case)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{path.name}.", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, frames=frames)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        return frames


@dataclass
class CaseResult:
    """One case judged on one source's frames."""

    case_id: str
    passed: bool
    checks: list[dict]  # {"name", "category", "pass", "reason"} (+ "claimed", "seen" for attributes)
    shape: tuple[int, ...]  # frames [T, H, W, 3] as the source gave them
    strip: np.ndarray = field(repr=False)  # uint8 [H, k*W, 3]: up to STRIP_FRAMES frames side by side

    def to_dict(self) -> dict:
        return {"id": self.case_id, "pass": self.passed, "shape": list(self.shape), "checks": self.checks}


def judge(case: Case, frames: np.ndarray) -> CaseResult:
    """Score `frames` against the case's claims. Every object of the scene is named in the prompt, so the
    count must match exactly (a fifth ball is as wrong as a missing one)."""
    report = score(frames, case.claims, case.spec.fps, exact_count=True)
    checks = [{**c.to_dict(), "category": category(c.name)} for c in report.checks]
    return CaseResult(case.id, report.passed, checks, tuple(frames.shape), strip(frames))


def strip(frames: np.ndarray, k: int = STRIP_FRAMES) -> np.ndarray:
    """Up to `k` evenly spaced frames of uint8 [T, H, W, 3], side by side: uint8 [H, k*W, 3]."""
    idx = np.unique(np.linspace(0, len(frames) - 1, min(k, len(frames))).round().astype(int))
    return np.concatenate(list(frames[idx]), axis=1)


def accuracy(cases: list[Case], results: list[CaseResult]) -> dict[str, Rate]:
    """Per-category accuracy over every check of every case, plus `case` (all checks of a case pass),
    `case[split]` where the cases come in several caption splits, and `events` over all event kinds."""
    tally = Tally()
    splits = {c.split for c in cases}
    for case, result in zip(cases, results, strict=True):
        tally.add("case", result.passed)
        if len(splits) > 1:
            tally.add(f"case[{case.split}]", result.passed)
        for check in result.checks:
            tally.add(check["category"], check["pass"])
            if check["category"].startswith("event_"):
                tally.add("events", check["pass"])
    return tally.rates()


def evaluate(cases: list[Case], source: Source) -> tuple[list[CaseResult], float]:
    """Judge every case on `source`'s frames; returns the results and the seconds it took."""
    start = time.perf_counter()
    results = [judge(case, source(case)) for case in cases]
    return results, time.perf_counter() - start
