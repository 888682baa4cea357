"""Reading a clip: frames -> camera, tracked objects with attributes and motion, events, background.

This is the oracle's whole perception, independent of any prompt: `observe(frames, fps)` returns a
`Scene` that `checks.py` then compares with claims. Each step lives in its own module (detect, track,
camera, motion); this one joins them and derives the events, which need several tracks at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cineflow.world import physics, vocab
from cineflow.world.oracle import camera as camera_mod
from cineflow.world.oracle import detect, motion
from cineflow.world.oracle.match import Observed
from cineflow.world.oracle.track import HIDDEN, Track, majority, track

CONTACT_SLACK = 0.05  # world units: a frame's travel at fast speed (0.36 / 8 fps) plus rendering blur
OCCLUDED_AREA = 0.85  # a back object shows less than this share of its usual area while covered


@dataclass
class ObjectReading:
    """One tracked object: its attributes, motion and the per-frame data the events need."""

    track: Track
    observed: Observed
    motion: motion.Motion
    path: motion.Path
    area: float  # typical soft area, pixels at zoom 1 (see `_area`)


@dataclass
class Scene:
    """Everything read from one clip."""

    objects: list[ObjectReading]
    camera: camera_mod.Camera
    camera_kind: str
    background: str | None
    floor: bool
    events: list[tuple[str, int, tuple[int, ...]]] = field(default_factory=list)  # (kind, frame, objects)
    size: tuple[int, int] = (0, 0)  # (width, height) pixels
    fps: float = 8.0

    def to_dict(self) -> dict:
        return {
            "background": self.background,
            "floor": self.floor,
            "camera": self.camera_kind,
            "objects": [
                {
                    "color": o.observed.color,
                    "final_color": o.observed.final_color,
                    "shape": o.observed.shape,
                    "size": o.observed.size,
                    "motion": o.motion.primary,
                    "compatible_motions": sorted(o.motion.compatible),
                    "speed": o.observed.speed,
                    "physics": {k: round(v, 4) for k, v in o.motion.physics.items() if math.isfinite(v)},
                    "frames_seen": len(o.track.seen()),
                    "birth": o.track.birth,
                }
                for o in self.objects
            ],
            "events": [{"kind": k, "frame": f, "objects": list(objs)} for k, f, objs in self.events],
        }


def _scene_background(labels: np.ndarray) -> tuple[str | None, bool]:
    """Background colour (most common sky label) and whether a floor band lies along the bottom."""
    n_obj = len(detect.OBJECT_COLORS)
    names = list(detect.SCENE_COLORS)
    first = labels[0]
    counts: dict[str, int] = {}
    for i, name in enumerate(names):
        *_, kind, base = name.split(":")  # "bg:navy", "floor:navy", "mark:bg:navy" (a landmark on the sky)
        if kind == "bg":
            counts[base] = counts.get(base, 0) + int((first == n_obj + i).sum())
    background = max(counts, key=counts.__getitem__) if any(counts.values()) else None
    H = first.shape[0]
    band = first[H - max(1, round(vocab.FLOOR_HEIGHT * H * 0.7)) :]  # the floor's lower rows in frame 0
    scene = band >= n_obj
    is_floor = np.isin(band, [n_obj + i for i, n in enumerate(names) if "floor:" in n])
    floor = bool(scene.any() and is_floor[scene].mean() > 0.6)
    return background, floor


def _area(tr: Track, cam: camera_mod.Camera, t: int) -> float:
    """Soft area of the track's blob in frame t, as it would be at zoom 1."""
    b = tr.blobs[t]
    assert b is not None
    return b.area / float(cam.zoom[t]) ** 2


def _path(tr: Track, cam: camera_mod.Camera, fps: float, shape: str) -> motion.Path:
    """World-space path over the frames where the object is whole enough to locate."""
    seen = tr.seen()
    clean_areas = [_area(tr, cam, t) for t in seen if tr.blobs[t].clean]  # type: ignore[union-attr]
    typical = float(np.median(clean_areas)) if clean_areas else max(_area(tr, cam, t) for t in seen)
    frames = []
    for t in seen:
        b = tr.blobs[t]
        assert b is not None
        whole = 0.85 * typical <= _area(tr, cam, t) <= 1.2 * typical
        if not b.touches_edge and (b.clean or whole):
            frames.append(t)
    if len(frames) < 2:  # always in contact or at the edge: use what there is
        frames = seen
    order = detect.SHAPE_ORDER[shape]
    rows = []
    for t in frames:
        b = tr.blobs[t]
        assert b is not None
        x, y = cam.to_world(t, b.center)
        angle = b.phases[order - 3] if order else math.nan
        rows.append((t / fps, x, y, b.radius / cam.scale(t), angle, float(b.clean)))
    a = np.array(rows)
    return motion.Path(
        times=a[:, 0],
        xy=a[:, 1:3],
        radius=a[:, 3],
        angle=a[:, 4],
        frames=np.array(frames),
        clean=a[:, 5] > 0,
        period=360.0 / order if order else 0.0,
        at_edge=any(tr.blobs[t].touches_edge for t in seen),  # type: ignore[union-attr]
    )


def _read_object(tr: Track, cam: camera_mod.Camera, fps: float, walls, ground: float) -> ObjectReading:
    seen = tr.seen()
    blobs = [tr.blobs[t] for t in seen]
    whole = [b for b in blobs if b is not None and b.clean]
    clean = whole or [b for b in blobs if b is not None]
    # Shape is only read from whole views; an object never seen whole keeps a best guess for its path.
    best_guess = majority([b.shape for b in clean]) or "circle"
    shape = best_guess if whole else None
    colors = [b.color for b in blobs if b is not None]
    path = _path(tr, cam, fps, best_guess)
    mot = motion.classify(path, walls, ground)
    # Size is the object's base size: its first whole frames, zoom undone (grow/shrink change it later).
    early = [b.radius / cam.scale(t) for t in seen if (b := tr.blobs[t]) is not None and b.clean][:3]
    early = early or [float(r) for r in path.radius[:3]]
    diameter = 2 * float(np.median(early))
    size = min(vocab.SIZES, key=lambda s: abs(math.log(max(diameter, 1e-6) / vocab.SIZES[s])))
    observed = Observed(
        track=tr.id,
        color=majority(colors[:3]) or colors[0],
        final_color=majority(colors[-3:]) or colors[-1],
        shape=shape,
        size=size,
        motion=mot.primary,
        speed=mot.speed,
    )
    area = float(np.median([_area(tr, cam, t) for t in seen if tr.blobs[t] in clean]))
    return ObjectReading(track=tr, observed=observed, motion=mot, path=path, area=area)


def _world_center(o: ObjectReading, cam: camera_mod.Camera, t: int) -> tuple[float, float] | None:
    b = o.track.blobs[t]
    return None if b is None else cam.to_world(t, b.center)


def _reach(a: ObjectReading, b: ObjectReading) -> float:
    """Centre distance at which the world's contact discs of a and b touch (physics.CONTACT)."""
    return physics.CONTACT[a.observed.shape or "square"] * _r(a) + physics.CONTACT[
        b.observed.shape or "square"
    ] * _r(b)


def _positions(o: ObjectReading, cam: camera_mod.Camera) -> np.ndarray:
    """World centre per frame [T, 2]: seen frames as seen, frames between two sightings interpolated
    (where a hidden object must have been), NaN before the first and after the last."""
    T = len(cam.zoom)
    seen = o.track.seen()
    known = np.array([_world_center(o, cam, t) for t in seen])  # (K, 2)
    out = np.full((T, 2), np.nan)
    span = np.arange(seen[0], seen[-1] + 1)
    for axis in range(2):
        out[span, axis] = np.interp(span, seen, known[:, axis])
    return out


def _closest(a: ObjectReading, b: ObjectReading, cam: camera_mod.Camera) -> float:
    """Smallest centre distance over the clip, hidden stretches interpolated: one passing behind the other
    comes far closer than two bodies that rebound at contact."""
    d = np.linalg.norm(_positions(a, cam) - _positions(b, cam), axis=1)  # (T,)
    return float(np.nanmin(d)) if np.isfinite(d).any() else math.inf


def _contacts(a: ObjectReading, b: ObjectReading, cam: camera_mod.Camera) -> list[int]:
    """Frames where the two objects' contact discs meet (give or take a frame's travel)."""
    reach = _reach(a, b) + CONTACT_SLACK
    out = []
    for t in range(len(cam.zoom)):
        pa, pb = _world_center(a, cam, t), _world_center(b, cam, t)
        if pa is not None and pb is not None and math.hypot(pa[0] - pb[0], pa[1] - pb[1]) <= reach:
            out.append(t)
        elif (pa is None) != (pb is None) and (a.track.state[t] == HIDDEN or b.track.state[t] == HIDDEN):
            out.append(t)  # merged into one blob: they touch
    return out


def _r(o: ObjectReading) -> float:
    return float(np.median(o.path.radius))


def _turns(o: ObjectReading) -> set[int]:
    """Frames at which the object's velocity changes direction (segment boundaries)."""
    segs = motion._segments(o.path)
    return {int(o.path.frames[k0]) for k0, _ in segs[1:]}


def _events(objects: list[ObjectReading], cam: camera_mod.Camera) -> list[tuple[str, int, tuple[int, ...]]]:
    events: list[tuple[str, int, tuple[int, ...]]] = []
    for i, o in enumerate(objects):
        for frame, wall in o.motion.bounces:
            kind = "bounce_floor" if wall == "floor" and o.motion.primary == "fall" else "bounce_wall"
            events.append((kind, frame, (i,)))
    for i, a in enumerate(objects):
        for j, b in enumerate(objects):
            if j <= i:
                continue
            touching = _contacts(a, b, cam)
            if touching:
                first = touching[0]
                turned = (_turns(a) | _turns(b)) & set(range(first - 1, touching[-1] + 3))
                # colliding bodies rebound at contact; one passing over the other (depths differ) does not
                if turned and _closest(a, b, cam) >= 0.7 * _reach(a, b):
                    events.append(("collide", first, (i, j)))
                for toucher, touched in ((a, b), (b, a)):
                    before, after = touched.observed.color, touched.observed.final_color
                    if before != after and after == toucher.observed.color:
                        ids = (objects.index(toucher), objects.index(touched))
                        events.append(("touch_change", first, ids))
            for front, back in ((i, j), (j, i)):
                frame = _occlusion(objects[front], objects[back], cam)
                if frame is not None:
                    events.append(("occlude", frame, (front, back)))
    events.sort(key=lambda e: (e[1], e[0], e[2]))
    return events


def _occlusion(front: ObjectReading, back: ObjectReading, cam: camera_mod.Camera) -> int | None:
    """First frame where `back` is covered by `front`: they overlap and only `back` loses area."""
    for t in range(len(cam.zoom)):
        pf = _world_center(front, cam, t)
        fb = front.track.blobs[t]
        if pf is None or fb is None or _area(front.track, cam, t) < 0.9 * front.area:
            continue
        bb = back.track.blobs[t]
        if bb is None:
            if back.track.state[t] == HIDDEN and _near(back, pf, cam, t, front):
                return t
            continue
        pb = cam.to_world(t, bb.center)
        overlap = math.hypot(pf[0] - pb[0], pf[1] - pb[1]) < _r(front) + _r(back)
        if overlap and bb.crowded and _area(back.track, cam, t) < OCCLUDED_AREA * back.area:
            return t
    return None


def _near(
    back: ObjectReading, pf: tuple[float, float], cam: camera_mod.Camera, t: int, front: ObjectReading
) -> bool:
    s = back.track.last_seen(t)
    if s is None:
        return False
    p = cam.to_world(s, back.track.blobs[s].center)  # type: ignore[union-attr]
    return math.hypot(p[0] - pf[0], p[1] - pf[1]) < _r(front) + _r(back) + CONTACT_SLACK * (t - s + 1)


def observe(frames: np.ndarray, fps: float) -> Scene:
    """Read a clip: frames uint8 [T, H, W, 3] at `fps` -> Scene."""
    _, H, W, _ = frames.shape
    detections, labels = detect.detect(frames)
    cam = camera_mod.estimate(frames, labels)
    background, floor = _scene_background(labels)
    walls = camera_mod.world_walls((W, H))
    ground = camera_mod.ground((W, H), floor)
    tracks = track(detections, W, H, detect.min_blob_area(min(W, H)))
    objects = [_read_object(tr, cam, fps, walls, ground) for tr in tracks]
    scene = Scene(objects, cam, cam.kind(fps), background, floor, size=(W, H), fps=fps)
    scene.events = _events(objects, cam)
    return scene
