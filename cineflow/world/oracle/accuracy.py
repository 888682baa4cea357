"""How often the oracle is right: ground-truth clips through H.264, read back, compared per attribute.

Clip k uses the world's scenario k mod len(SCENARIOS), so every motion, event and camera move is covered
in equal measure. Tracks are matched to annotated objects by their pixel centres over the frames where
both are visible (best assignment over all permutations), and each attribute is scored on that match.
`benchmarks/oracle_accuracy.py` prints the result; a small run of it is a test.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
from collections import defaultdict

import numpy as np

from cineflow.world import vocab
from cineflow.world.oracle.checks import _event_check, check
from cineflow.world.oracle.observe import Scene, observe
from cineflow.world.oracle.track import MISSING
from cineflow.world.sample import SCENARIOS
from cineflow.world.scene import Annotations, SceneSpec

VISIBLE = 0.3  # an annotated object counts as there in a frame when this much of it is visible
TARGETS = {
    "color": 0.995,
    "count": 0.99,
    "motion": 0.99,
    "events": 0.99,
    "false_vanished": 0.005,  # at most
    "rejection": 0.95,
}


# A motion no clip of the truth's class can be mistaken for (so a pass is the oracle's error), and a shape.
OPPOSITE_MOTION = {
    "still": "left",
    "left": "right",
    "right": "left",
    "up": "down",
    "down": "up",
    "up_left": "down_right",
    "down_right": "up_left",
    "up_right": "down_left",
    "down_left": "up_right",
    "bounce": "still",
    "fall": "up",
    "orbit": "still",
    "spin": "grow",
    "grow": "shrink",
    "shrink": "grow",
}
OTHER_SHAPE = {"circle": "square", "square": "triangle", "triangle": "star", "star": "circle"}


def h264_roundtrip(frames: np.ndarray, fps: int, crf: int) -> np.ndarray:
    """Encode frames uint8 [T, H, W, 3] with libx264 yuv420p at `crf` in memory and decode them back."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf)}
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    buf.seek(0)
    with av.open(buf) as inp:
        return np.stack([f.to_ndarray(format="rgb24") for f in inp.decode(video=0)])


def match_truth(scene: Scene, annotations: Annotations) -> list[int | None]:
    """For each annotated object, the index of the observed object that follows it (None if none does)."""
    T = len(annotations.frames)
    N, M = len(annotations.frames[0]), len(scene.objects)
    cost = np.full((N, M), math.inf)
    for i in range(N):
        for j, obj in enumerate(scene.objects):
            d = []
            for t in range(T):
                state, blob = annotations.frames[t][i], obj.track.blobs[t]
                if blob is not None and state.visible >= VISIBLE:
                    d.append(math.hypot(blob.center[0] - state.center[0], blob.center[1] - state.center[1]))
            if d:
                cost[i, j] = float(np.mean(d))
    best: tuple[float, list[int | None]] = (math.inf, [None] * N)
    k = min(N, M)
    for rows in itertools.combinations(range(N), k):
        for cols in itertools.permutations(range(M), k):
            c = [cost[r, q] for r, q in zip(rows, cols, strict=True)]
            total = sum(x if math.isfinite(x) else 1e6 for x in c) + 1e6 * (N - k)
            if total < best[0]:
                mapping: list[int | None] = [None] * N
                for r, q, x in zip(rows, cols, c, strict=True):
                    mapping[r] = q if math.isfinite(x) else None
                best = (total, mapping)
    return best[1]


class Tally:
    """Hit counts per metric: `add(name, ok)`; `rate(name)` is hits / trials."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = defaultdict(int)
        self.trials: dict[str, int] = defaultdict(int)
        self.misses: dict[str, list[str]] = defaultdict(list)

    def add(self, name: str, ok: bool, where: str = "") -> None:
        self.trials[name] += 1
        self.hits[name] += int(ok)
        wrong = ok if name.startswith("false_") else not ok  # false_* count failures, the rest successes
        if wrong and len(self.misses[name]) < 8:
            self.misses[name].append(where)

    def rate(self, name: str) -> float:
        return self.hits[name] / self.trials[name] if self.trials[name] else math.nan


def _score_clip(tally: Tally, where: str, spec: SceneSpec, ann: Annotations, scene: Scene) -> None:
    from cineflow.world.captions import claims_from_scene

    mapping = match_truth(scene, ann)
    T = len(ann.frames)
    there = [max(ann.frames[t][i].visible for t in range(T)) >= VISIBLE for i in range(len(spec.objects))]
    tally.add("count", len(scene.objects) == sum(there), where)
    tally.add("background", scene.background == spec.background, where)
    tally.add("floor", scene.floor == spec.floor, where)
    tally.add("camera", scene.camera_kind == spec.camera, where)
    for i, obj in enumerate(spec.objects):
        if not there[i]:
            continue
        j = mapping[i]
        seen = scene.objects[j] if j is not None else None
        tag = f"{where} obj{i}"
        tally.add("color", seen is not None and seen.observed.color == obj.color, tag)
        tally.add("detected", seen is not None, tag)
        if seen is None:
            continue
        if seen.observed.shape is None:
            tally.add("shape_verifiable", False, tag)
        else:
            tally.add("shape_verifiable", True, tag)
            tally.add("shape", seen.observed.shape == obj.shape, tag)
            tally.add(f"shape_{obj.size}", seen.observed.shape == obj.shape, tag)
        tally.add("size", seen.observed.size == obj.size, tag)
        tally.add("motion", obj.motion in seen.motion.compatible, tag)
        tally.add("motion_strict", obj.motion == seen.motion.primary, tag)
        if obj.motion not in ("still", "fall"):
            tally.add("speed", seen.observed.speed == obj.speed, tag)
        missing = [
            t for t, s in enumerate(seen.track.state) if s == MISSING and ann.frames[t][i].visible > VISIBLE
        ]
        tally.add("false_vanished", bool(missing), f"{tag} frames {missing}")
        tally.add("false_appeared", seen.track.birth == "appeared", tag)
    truth = claims_from_scene(spec, ann)
    for event in truth.events:
        ok = _event_check(event, mapping, scene).passed
        tally.add("events", ok, f"{where} {event.kind}{event.objects}")
        tally.add(f"event_{event.kind}", ok, f"{where} {event.objects}")
    report = check(scene, truth, exact_count=True)
    tally.add(
        "full_claims_pass", report.passed, f"{where} " + "; ".join(c.name for c in report.failed())[:200]
    )
    # Hard negatives: the clip's own full claims with one attribute of one object made false.
    for attr, wrong in (("motion", OPPOSITE_MOTION), ("shape", OTHER_SHAPE)):
        claim = truth.objects[0]
        lie = dataclasses.replace(claim, **{attr: wrong[getattr(claim, attr)]})
        if attr == "motion" and lie.motion in ("still", "fall"):
            lie = dataclasses.replace(lie, speed=None)  # the world gives these no speed
        elif attr == "motion" and lie.speed is None:
            lie = dataclasses.replace(lie, speed=spec.objects[0].speed)
        claims = dataclasses.replace(truth, objects=(lie, *truth.objects[1:]))
        tally.add(f"reject_{attr}", not check(scene, claims, exact_count=True).passed, f"{where} {attr}")


def evaluate(n: int, crf: int | None = 23, seed: int = 0, size: int = 64) -> dict:
    """Run the oracle on `n` ground-truth clips (H.264 at `crf`, or lossless when None); return metrics."""
    from cineflow.world.parse import parse_prompt
    from cineflow.world.stream import make_clip

    tally = Tally()
    clips = []
    for k in range(n):
        scenario = SCENARIOS[k % len(SCENARIOS)]
        clip = make_clip(seed, k, scenario=scenario, width=size, height=size)
        frames = clip.frames if crf is None else h264_roundtrip(clip.frames, clip.spec.fps, crf)
        scene = observe(frames, clip.spec.fps)
        where = f"clip {k} ({scenario})"
        _score_clip(tally, where, clip.spec, clip.annotations, scene)
        clips.append((where, scene, clip.caption))
    # Captions: a clip must pass its own caption and fail another clip's.
    for k, (where, scene, caption) in enumerate(clips):
        tally.add("own_caption_pass", check(scene, parse_prompt(caption)).passed, f"{where}: {caption}")
        other = clips[(k + 1) % len(clips)][2]
        tally.add("rejection", not check(scene, parse_prompt(other)).passed, f"{where}: {other}")
    rates = {name: tally.rate(name) for name in sorted(tally.trials)}
    return {
        "clips": n,
        "crf": crf,
        "seed": seed,
        "size": size,
        "rates": rates,
        "trials": dict(tally.trials),
        "targets": TARGETS,
        "misses": dict(tally.misses),
        "sizes": list(vocab.SIZES),
    }


def meets(rates: dict[str, float], name: str, target: float) -> bool:
    """Whether a rate meets its target (false_* rates are upper bounds)."""
    value = rates.get(name, math.nan)
    return value <= target if name.startswith("false_") else value >= target
