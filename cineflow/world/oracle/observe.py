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
from cineflow.world.render import UNIT_AREA

CONTACT_SLACK = 0.05  # world units: a frame's travel at fast speed (0.36 / 8 fps) plus rendering blur
OCCLUDED_AREA = 0.85  # a back object shows less than this share of its usual area while covered
DISTORTED = 0.2  # stray harmonic strength of a cut outline (a whole shape keeps under ~0.1)


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


def _whole(tr: Track, cam: camera_mod.Camera) -> list[int]:
    """Frames where the object is seen whole: not cut by the border, and alone or, when next to another
    object, showing its usual area (beside it rather than behind it)."""
    inner = [t for t in tr.seen() if not tr.blobs[t].touches_edge]  # type: ignore[union-attr]
    alone = [_area(tr, cam, t) for t in inner if tr.blobs[t].clean]  # type: ignore[union-attr]
    if alone:
        typical = float(np.median(alone))
    elif inner:  # never alone: occlusion only takes area away, so the usual area is among the larger ones
        typical = float(np.percentile([_area(tr, cam, t) for t in inner], 75))
    else:
        return []
    beside = [
        t for t in inner if not tr.blobs[t].clean and 0.9 * typical <= _area(tr, cam, t) <= 1.12 * typical
    ]  # type: ignore[union-attr]
    if beside:  # ... and with an outline that is not cut (a cut one grows stray harmonics)
        guess = detect.classify_shape(np.mean([tr.blobs[t].harmonics for t in beside], axis=0))  # type: ignore[union-attr]
        beside = [t for t in beside if _distortion(tr.blobs[t], guess) < 0.75 * DISTORTED]  # type: ignore[arg-type]
    return sorted({t for t in inner if tr.blobs[t].clean} | set(beside))  # type: ignore[union-attr]


def _path(
    tr: Track, cam: camera_mod.Camera, fps: float, shape: str, whole: list[int], border: bool = False
) -> motion.Path:
    """World-space path over the frames where the object is whole enough to locate (a centre is still
    good with a little of the object covered); `clean` marks the `whole` frames. With `border`, also the
    frames where it touches the frame border showing nearly all its area: a body reflecting off a wall
    touches the border there, uncut or barely cut, so its centre is still good."""
    seen = tr.seen()
    ref = [_area(tr, cam, t) for t in whole] or [_area(tr, cam, t) for t in seen]
    typical = float(np.median(ref))

    def usable(t: int) -> bool:
        if tr.blobs[t].touches_edge:  # type: ignore[union-attr]
            return border and 0.9 * typical <= _area(tr, cam, t) <= 1.12 * typical
        return t in whole or 0.85 * typical <= _area(tr, cam, t) <= 1.2 * typical

    frames = [t for t in seen if usable(t)]
    if len(frames) < 2:  # always in contact or at the edge: use what there is
        frames = seen
    order = detect.SHAPE_ORDER[shape]
    rows = []
    for t in frames:
        b = tr.blobs[t]
        assert b is not None
        x, y = cam.to_world(t, b.center)
        angle = b.phases[order - 3] if order else math.nan
        radius = math.sqrt(b.area / UNIT_AREA[shape]) / cam.scale(
            t
        )  # the track's shape, not this frame's guess
        rows.append((t / fps, x, y, radius, angle, float(t in whole)))
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
    whole = _whole(tr, cam)
    # Shape is only read from whole views; an object never seen whole keeps a best guess for its path.
    # (from the mean harmonic strengths: steadier than a vote when a small shape's corners are blurred)
    strength = np.mean([tr.blobs[t].harmonics for t in (whole or seen)], axis=0)  # type: ignore[union-attr]
    best_guess = detect.classify_shape(strength, detect.TRACK_ROUND_BELOW)
    path = _path(tr, cam, fps, best_guess, whole)
    mot = motion.classify(path, walls, ground, _path(tr, cam, fps, best_guess, whole, border=True))
    # Size is the object's base size: its first whole frames, zoom undone (grow/shrink change it later);
    # an object never seen whole is at least as large as its largest view.
    radius = [math.sqrt(_area(tr, cam, t) / UNIT_AREA[best_guess]) / cam.short_side for t in (whole or seen)]
    diameter = 2 * (float(np.median(radius[:3])) if whole else max(radius))
    size = min(vocab.SIZES, key=lambda s: abs(math.log(max(diameter, 1e-6) / vocab.SIZES[s])))
    colors = [b.color for t in seen if (b := tr.blobs[t]) is not None]
    observed = Observed(
        track=tr.id,
        color=majority(colors[:3]) or colors[0],
        final_color=majority(colors[-3:]) or colors[-1],
        shape=best_guess if whole else None,
        size=size,
        motion=mot.primary,
        speed=mot.speed,
    )
    area = (
        float(np.median([_area(tr, cam, t) for t in whole]))
        if whole
        else max(_area(tr, cam, t) for t in seen)
    )
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
    """First frame where `back` is covered by `front`: they overlap and `back` loses far more of its area
    (or all of it), or, when no loss can show, `back`'s outline is the one that is cut."""
    sizes_vary = {front.motion.primary, back.motion.primary} & {"grow", "shrink"}  # area says nothing then
    for t in range(len(cam.zoom)):
        pf, fb = _world_center(front, cam, t), front.track.blobs[t]
        if pf is None or fb is None:
            continue
        kept = _area(front.track, cam, t) / front.area  # share of its usual area the front one shows
        bb = back.track.blobs[t]
        if bb is None:
            if (
                back.track.state[t] == HIDDEN
                and _near(back, pf, cam, t, front)
                and (kept > 0.75 or sizes_vary)
            ):
                return t
            continue
        pb = cam.to_world(t, bb.center)
        if not (math.hypot(pf[0] - pb[0], pf[1] - pb[1]) < _r(front) + _r(back) and bb.crowded):
            continue
        lost = _area(back.track, cam, t) / back.area
        if not sizes_vary and lost < OCCLUDED_AREA and kept - lost > 0.15:
            return t
        # Covered the whole time (the two move together), so no loss of area shows: the outline shared
        # by the two belongs to the front one, whose shape stays clean while the back one's is cut.
        cut, clean = _distortion(bb, back.observed.shape), _distortion(fb, front.observed.shape)
        if cut > DISTORTED and cut - clean > DISTORTED / 2:
            return t
    return None


def _distortion(blob: detect.Blob, shape: str | None) -> float:
    """Strength of the harmonics the shape should not have (a cut outline grows them), 0 for a clean one."""
    order = detect.SHAPE_ORDER[shape or blob.shape]
    return float(sum(h for n, h in zip((3, 4, 5), blob.harmonics, strict=True) if n != order))


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
    tracks = track(detections, W, H, detect.min_blob_area(min(W, H)), labels)
    objects = [_read_object(tr, cam, fps, walls, ground) for tr in tracks]
    scene = Scene(objects, cam, cam.kind(fps), background, floor, size=(W, H), fps=fps)
    scene.events = _events(objects, cam)
    return scene
