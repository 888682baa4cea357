"""The infinite seeded Flatland stream: clip k of stream `seed` is a pure function of (seed, k).

Each clip draws from its own generator, `np.random.default_rng(np.random.SeedSequence([seed, k]))`, so a
training run resumes at any step by asking for `stream(seed, start=step)`, and two workers can split a
stream by index without sharing state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

import numpy as np

from cineflow.world import physics, render, sample
from cineflow.world.scene import Annotations, SceneSpec


@dataclass(frozen=True)
class Clip:
    """One rendered clip: frames uint8 [T, H, W, 3], its scene, its ground truth and a caption."""

    frames: np.ndarray
    spec: SceneSpec
    annotations: Annotations
    caption: str


def clip_rng(seed: int, index: int) -> np.random.Generator:
    """The generator behind clip `index` of stream `seed`."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index: must be >= 0, got seed={seed}, index={index}")
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def make_clip(seed: int, index: int = 0, *, split: str = "train", **geometry) -> Clip:
    """Clip `index` of stream `seed`. `geometry`: sample_scene's keywords (width, height, fps, num_frames,
    scenario). `split` picks the caption templates ("train" or "heldout")."""
    rng = clip_rng(seed, index)
    spec = sample.sample_scene(rng, seed=seed, **geometry)
    annotations = physics.simulate(spec)
    frames = render.render(spec, annotations)
    return Clip(frames, spec, annotations, _caption(spec, annotations, rng, split))


def stream(seed: int, start: int = 0, **geometry) -> Iterator[Clip]:
    """Clips start, start + 1, ... of stream `seed` (endless)."""
    for index in count(start):
        yield make_clip(seed, index, **geometry)


def _caption(spec: SceneSpec, annotations: Annotations, rng: np.random.Generator, split: str) -> str:
    try:  # the captions module is written in parallel; until it lands, clips carry no caption
        from cineflow.world.captions import caption
    except ImportError:
        return ""
    return caption(spec, annotations, rng, split=split)
