"""The Flatland benchmark's suites: which scenes each one shows, and the prompt each scene is asked with.

Every case is a ground-truth scene drawn from the world's scenarios (`sample_scene(rng, scenario=...)`),
captioned with the held-out sentence frames (`split="heldout"`), so that a model trained on training
captions is asked in words it has never read. The check is the oracle's report on generated frames
against the claims parsed back from that prompt; the same scene rendered by the world is the ceiling.

The case list is a pure function of (suite, seed, geometry): case k of a suite and seed draws everything
(scene, caption, generation seed) from `default_rng(SeedSequence([crc32(suite), seed, k]))`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cineflow.world import physics, sample, vocab
from cineflow.world.captions import Description, describe
from cineflow.world.parse import parse_prompt
from cineflow.world.scene import Claims, SceneSpec

CAPTION_TRIES = 32  # captions drawn per scene until one states what the suite is about
SCENE_TRIES = 64  # scenes drawn until one has the object count a counting case asks for

# A predicate on a caption's description: does it state what the suite measures?
Wants = Callable[[Description], bool]


@dataclass(frozen=True)
class Suite:
    """One suite. Each seed gives one case per variant (two for paraphrase: one per caption split).

    `variants` are world scenarios, or object counts ("1".."4") for counting; `focus` names the check
    categories (see run.category) the suite is about, listed first in reports.
    """

    name: str
    about: str
    variants: tuple[str, ...]
    focus: tuple[str, ...]
    splits: tuple[str, ...] = ("heldout",)
    num_frames: int | None = None  # None: the clip length asked for; 1 for images
    wants: Wants | None = None


def _states_sizes(d: Description) -> bool:
    return all(o.size is not None for o in d.claims.objects)


def _states_event(kind: str) -> Wants:
    """The caption states an event of this kind."""

    def wants(d: Description) -> bool:
        return any(e.kind == kind for e in d.claims.events)

    return wants


# Variants named after an event: the caption must state that event (captions drop some events at random).
_WANTS: dict[str, Wants] = {
    k: _states_event(k) for k in ("bounce_floor", "bounce_wall", "collide", "occlude")
}

SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite(
            "attributes",
            "colour, shape and size of 1-2 objects, every size stated",
            ("still", "spin", "left", "right", "up", "down"),
            ("color", "shape", "size"),
            wants=_states_sizes,
        ),
        Suite(
            "counting",
            "exactly 1, 2, 3 or 4 objects (the count must match exactly)",
            ("1", "2", "3", "4"),
            ("count", "present", "color", "shape"),
        ),
        Suite(
            "motion",
            "every motion of the vocabulary, with its speed where the caption says it",
            vocab.MOTIONS,
            ("motion", "speed"),
        ),
        Suite(
            "physics",
            "falling under gravity, bouncing off walls and the floor, colliding and rebounding",
            ("fall", "bounce", "bounce_floor", "bounce_wall", "collide"),
            ("motion", "events", "event_bounce_floor", "event_bounce_wall", "event_collide"),
        ),
        Suite(
            "occlusion",
            "one object passes in front of another, which must not vanish (object permanence)",
            ("occlude",) * 4,
            ("event_occlude", "permanence", "count"),
        ),
        Suite(
            "cause_effect",
            "a touch changes the touched object's colour, and the change must last",
            ("touch_change",) * 4,
            ("becomes", "event_touch_change", "permanence"),
        ),
        Suite(
            "camera",
            "camera pans and zooms over calm scenes",
            sample.CAMERA_MOVES,
            ("camera",),
        ),
        Suite(
            "paraphrase",
            "the same scenes captioned with held-out and with training sentence frames",
            ("still", "left", "fall", "orbit", "collide", "occlude", "touch_change", "zoom_in"),
            ("case[heldout]", "case[train]"),
            splits=("heldout", "train"),
        ),
        Suite(
            "images",
            "1-frame clips: objects, colours, shapes and sizes, no motion",
            ("still", "mix", "mix", "spin"),
            ("count", "color", "shape", "size"),
            num_frames=1,
        ),
    )
}


@dataclass(frozen=True)
class Case:
    """One prompt of one suite, with the ground-truth scene it was written from.

    `claims` are parsed back from `prompt` (what the oracle checks); `gen_seed` is the noise seed a model
    is sampled with, so that the whole run is reproducible.
    """

    id: str  # "suite/seed/k" (+ "/split" where a suite asks in more than one split)
    suite: str
    seed: int
    index: int
    variant: str
    split: str
    prompt: str
    templates: tuple[str, ...]  # caption sentence frames used
    spec: SceneSpec
    claims: Claims
    gen_seed: int

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "suite": self.suite,
            "seed": self.seed,
            "index": self.index,
            "variant": self.variant,
            "split": self.split,
            "prompt": self.prompt,
            "templates": list(self.templates),
            "scene": {
                "objects": [o.__dict__ for o in self.spec.objects],
                "background": self.spec.background,
                "floor": self.spec.floor,
                "camera": self.spec.camera,
                "size": [self.spec.width, self.spec.height],
                "num_frames": self.spec.num_frames,
                "fps": self.spec.fps,
            },
            "gen_seed": self.gen_seed,
        }


def case_rng(suite: str, seed: int, index: int) -> np.random.Generator:
    """The generator behind case `index` of `suite` at `seed` (crc32: stable across Python runs)."""
    return np.random.default_rng(np.random.SeedSequence([zlib.crc32(suite.encode()), seed, index]))


def suite_cases(
    name: str,
    seed: int,
    *,
    width: int = vocab.DEFAULT_SIZE[0],
    height: int = vocab.DEFAULT_SIZE[1],
    fps: int = vocab.DEFAULT_FPS,
    num_frames: int = vocab.DEFAULT_FRAMES,
) -> list[Case]:
    """The cases of suite `name` at `seed`: one per variant (per split), in variant order."""
    if name not in SUITES:
        raise ValueError(f"suite: unknown suite {name!r}; choose from {', '.join(SUITES)} or all")
    if seed < 0:
        raise ValueError(f"seed: must be >= 0, got {seed}")
    suite = SUITES[name]
    frames = suite.num_frames or num_frames
    cases = []
    for k, variant in enumerate(suite.variants):
        rng = case_rng(name, seed, k)
        spec = _scene(rng, variant, width=width, height=height, fps=fps, num_frames=frames, seed=seed)
        annotations = physics.simulate(spec)
        gen_seed = int(rng.integers(2**31))
        wants = suite.wants or _WANTS.get(variant)
        for split in suite.splits:
            description = _caption(spec, annotations, rng, split, wants)
            case_id = f"{name}/{seed}/{k}" + (f"/{split}" if len(suite.splits) > 1 else "")
            cases.append(
                Case(
                    id=case_id,
                    suite=name,
                    seed=seed,
                    index=k,
                    variant=variant,
                    split=split,
                    prompt=description.text,
                    templates=description.templates,
                    spec=spec,
                    claims=parse_prompt(description.text),
                    gen_seed=gen_seed,
                )
            )
    return cases


def build_cases(
    names: list[str], seeds: int, *, limit: int | None = None, **geometry
) -> dict[str, list[Case]]:
    """Cases per suite over seeds 0..seeds-1 (seed-major); `limit` keeps the first N of each suite."""
    if seeds < 1:
        raise ValueError(f"seeds: must be >= 1, got {seeds}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit: must be >= 1, got {limit}")
    out = {}
    for name in names:
        cases = [c for seed in range(seeds) for c in suite_cases(name, seed, **geometry)]
        out[name] = cases[:limit] if limit is not None else cases
    return out


def _scene(rng: np.random.Generator, variant: str, **geometry) -> SceneSpec:
    """A scene of scenario `variant`, or for a count ("1".."4") a mixed scene with that many objects."""
    if not variant.isdigit():
        return sample.sample_scene(rng, scenario=variant, **geometry)
    want = int(variant)
    for _ in range(SCENE_TRIES):
        spec = sample.sample_scene(rng, scenario="mix", **geometry)
        if len(spec.objects) == want:
            return spec
    raise RuntimeError(f"no mixed scene with {want} objects in {SCENE_TRIES} draws")  # p < 1e-8


def _caption(spec, annotations, rng: np.random.Generator, split: str, wants: Wants | None) -> Description:
    """A caption in `split`'s frames; with `wants`, the first of CAPTION_TRIES that satisfies it."""
    description = describe(spec, annotations, rng, split=split)
    for _ in range(CAPTION_TRIES - 1):
        if wants is None or wants(description):
            break
        description = describe(spec, annotations, rng, split=split)
    return description
