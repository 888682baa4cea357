"""Tracking: per-frame blobs -> object tracks, with every absence explained or flagged.

Objects in Flatland move a few pixels a frame, so association is greedy on a cost that adds the distance
to a constant-velocity prediction (in object radii), a penalty for a colour change (allowed: a touched
object takes another colour) and a penalty for a change of area. What makes the tracker an oracle of
*permanence* is what it does with a track that finds no blob:

- **offscreen**: its predicted disc is at or past the frame border (it left, or the camera moved);
- **hidden**: its predicted disc overlaps another blob (occluded, or merged with a same-coloured object);
- **tiny**: it was shrinking and had become too small to detect;
- **faint**: pixels of its colour are where it should be, too few to make a blob (a codec at a low bit
  rate can wash a small object out for a frame);
- **missing**: neither. A missing frame followed by no reappearance is a vanished object.

A track that starts after frame 0 is likewise *entered* (at the border), *emerged* (from behind or out
of another blob) or *appeared* (from nothing: a permanence failure). A blob found split in two by an
object in front of it is merged back into one observation.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from cineflow.world.oracle.detect import OBJECT_COLORS, Blob

SEEN, HIDDEN, OFFSCREEN, TINY, FAINT, MISSING = "seen", "hidden", "offscreen", "tiny", "faint", "missing"
COLOR_CHANGE_COST = 1.2  # in radii of distance: a touched object may change colour, but rarely
GATE = 3.5  # largest cost (in radii) at which a blob continues a track
SHAPE_CHANGE_COST = 0.5  # a clean blob of another shape is unlikely to be the same object
MERGED_AREA = 1.5  # a blob this much larger than the object's usual area holds a neighbour too
FAINT_PIXELS = 2  # object-coloured pixels at the predicted place that make an absence "faint", not missing
REACQUIRE_GATE = 0.35  # fraction of the frame's longer side a hidden/offscreen track may drift


@dataclass
class Track:
    """One object through the clip. `blobs[t]` is its observation in frame t (None when not seen)."""

    id: int
    start: int
    blobs: list[Blob | None]
    state: list[str]  # per frame: "" before start, else SEEN / HIDDEN / OFFSCREEN / MISSING
    birth: str = "initial"  # initial / entered / emerged / appeared
    notes: list[str] = field(default_factory=list)

    def seen(self) -> list[int]:
        return [t for t, b in enumerate(self.blobs) if b is not None]

    def last_seen(self, before: int) -> int | None:
        for t in range(before - 1, -1, -1):
            if self.blobs[t] is not None:
                return t
        return None

    def radius(self) -> float:
        """Typical radius: the median over clean observations (all observations when none is clean)."""
        obs = [b for b in self.blobs if b is not None]
        clean = [b.radius for b in obs if b.clean] or [b.radius for b in obs]
        clean.sort()
        return clean[len(clean) // 2]

    def colors(self) -> list[str | None]:
        return [None if b is None else b.color for b in self.blobs]

    def vanished_at(self) -> int | None:
        """First frame of a final run of MISSING frames (never seen again), or None."""
        last = self.seen()[-1]
        after = self.state[last + 1 :]
        if MISSING in after:
            return last + 1 + after.index(MISSING)
        return None


def _reliable(track: Track, before: int) -> list[int]:
    """Frames before `before` where the track's blob is the object alone (not merged with a neighbour)."""
    areas = [b.area for b in track.blobs[:before] if b is not None and not b.crowded]
    typical = sorted(areas)[len(areas) // 2] if areas else None
    return [
        t
        for t, b in enumerate(track.blobs[:before])
        if b is not None and (typical is None or b.area < MERGED_AREA * typical)
    ]


def _predict(track: Track, t: int) -> tuple[float, float] | None:
    """Constant-velocity guess from the last two reliable observations (a merged blob's centre is not the
    object's, and a velocity through it would send the track after its neighbour)."""
    frames = _reliable(track, t)
    if not frames:
        s = track.last_seen(t)
        return None if s is None else track.blobs[s].center  # type: ignore[union-attr]
    s = frames[-1]
    cx, cy = track.blobs[s].center  # type: ignore[union-attr]
    if len(frames) < 2 or s - frames[-2] > 3:
        return cx, cy
    p = frames[-2]
    px, py = track.blobs[p].center  # type: ignore[union-attr]
    vx, vy = (cx - px) / (s - p), (cy - py) / (s - p)
    return cx + vx * (t - s), cy + vy * (t - s)


def _cost(track: Track, pred: tuple[float, float], blob: Blob, t: int) -> float:
    frames = _reliable(track, t) or [track.last_seen(t)]
    last = track.blobs[frames[-1]]  # type: ignore[index]
    assert last is not None
    scale = max(last.radius, 2.0)
    dist = math.hypot(blob.center[0] - pred[0], blob.center[1] - pred[1]) / scale
    color = 0.0 if blob.color == last.color else COLOR_CHANGE_COST
    area = 0.5 * abs(math.log(max(blob.area, 1.0) / max(last.area, 1.0)))
    known = majority([b.shape for b in track.blobs[:t] if b is not None and b.clean])
    shape = SHAPE_CHANGE_COST if blob.clean and known is not None and blob.shape != known else 0.0
    return dist + color + area + shape


def _merge(a: Blob, b: Blob) -> Blob:
    """One observation from two pieces of one object (cut in two by something in front of it)."""
    w = a.area + b.area
    center = (
        (a.center[0] * a.area + b.center[0] * b.area) / w,
        (a.center[1] * a.area + b.center[1] * b.area) / w,
    )
    box = (min(a.box[0], b.box[0]), min(a.box[1], b.box[1]), max(a.box[2], b.box[2]), max(a.box[3], b.box[3]))
    big = a if a.area >= b.area else b
    return dataclasses.replace(big, area=w, center=center, box=box, crowded=True)


def _absence(
    pred: tuple[float, float],
    last: tuple[float, float],
    radius: float,
    blobs: list[Blob],
    width: int,
    height: int,
) -> tuple[str, int | None]:
    """Why a track found no blob: predicted off screen, or behind/inside another blob where it was
    predicted or where it was last seen (a hidden object's motion is a guess), else missing. With HIDDEN,
    the index of the blob that covers it."""
    x, y = pred
    if x < radius or y < radius or x > width - radius or y > height - radius:
        return OFFSCREEN, None
    for j, b in enumerate(blobs):
        for px, py in (pred, last):
            if math.hypot(b.center[0] - px, b.center[1] - py) < radius + b.radius:
                return HIDDEN, j
    return MISSING, None


def _birth(blob: Blob, others: list[Blob]) -> str:
    if blob.touches_edge:
        return "entered"
    if blob.crowded or any(
        math.hypot(o.center[0] - blob.center[0], o.center[1] - blob.center[1]) < o.radius + blob.radius
        for o in others
        if o is not blob
    ):
        return "emerged"
    return "appeared"


def track(
    detections: list[list[Blob]], width: int, height: int, min_area: float, labels: np.ndarray | None = None
) -> list[Track]:
    """Link per-frame blobs into tracks. detections[t] lists frame t's blobs; min_area as in detect;
    labels (int8 [T, H, W] from detect.classify_pixels), when given, let a faint object be told from a
    missing one."""
    T = len(detections)
    tracks: list[Track] = []
    for t, blobs in enumerate(detections):
        # 1. Assignment of blobs to live tracks at the least total cost
        preds = {tr.id: _predict(tr, t) for tr in tracks}
        costs = {
            (tr.id, j): c
            for tr in tracks
            if preds[tr.id] is not None
            for j, b in enumerate(blobs)
            if (c := _cost(tr, preds[tr.id], b, t)) <= GATE  # type: ignore[arg-type]
        }
        owner = _assign(costs)  # blob index -> track id
        taken = set(owner.values())
        by_id = {tr.id: tr for tr in tracks}
        for j, tid in owner.items():
            by_id[tid].blobs[t] = blobs[j]
        # 2. Leftover blobs: a second piece of an assigned object, a lost track found again, or a new object
        for j, b in enumerate(blobs):
            if j in owner:
                continue
            host = _split_host(b, [tr for tr in tracks if tr.blobs[t] is not None], t)
            if host is not None:
                host.blobs[t] = _merge(host.blobs[t], b)  # type: ignore[arg-type]
                continue
            lost = _reacquire(b, [tr for tr in tracks if tr.id not in taken], preds, t, max(width, height))
            if lost is not None:
                lost.blobs[t] = b
                taken.add(lost.id)
                continue
            new = Track(id=len(tracks), start=t, blobs=[None] * T, state=[""] * T)
            new.blobs[t] = b
            new.birth = "initial" if t == 0 else _birth(b, blobs)
            tracks.append(new)
            taken.add(new.id)
        # 3. Explain every live track that found nothing
        for tr in tracks:
            if tr.blobs[t] is not None:
                tr.state[t] = SEEN
            elif tr.start < t:
                last = tr.blobs[tr.last_seen(t)].center  # type: ignore[union-attr]
                pred = preds.get(tr.id) or last
                tr.state[t], cover = _absence(pred, last, tr.radius(), blobs, width, height)
                if tr.state[t] == MISSING and _shrunk(tr, t, min_area):
                    tr.state[t] = TINY
                elif tr.state[t] == MISSING and labels is not None and _faint(tr, t, pred, labels[t]):
                    tr.state[t] = FAINT
                if cover is not None:
                    _mark_crowded(tracks, blobs[cover], t)
    return _drop_artefacts(tracks)


def _assign(costs: dict[tuple[int, int], float]) -> dict[int, int]:
    """Blob -> track pairs of least total cost, each used once; a pair left out costs GATE (so a pairing
    is made whenever it is cheaper than leaving both unmatched). Exhaustive for the few objects of a
    Flatland scene, greedy (cheapest pair first) beyond that."""
    tids = sorted({tid for tid, _ in costs})
    blobs = sorted({j for _, j in costs})
    if len(tids) > 6 or len(blobs) > 6:
        owner: dict[int, int] = {}
        for (tid, j), _ in sorted(costs.items(), key=lambda kv: kv[1]):
            if j not in owner and tid not in owner.values():
                owner[j] = tid
        return owner
    best: tuple[float, dict[int, int]] = (math.inf, {})

    def search(i: int, used: frozenset[int], total: float, pairs: dict[int, int]) -> None:
        nonlocal best
        if total >= best[0]:
            return
        if i == len(tids):
            best = (total, dict(pairs))
            return
        search(i + 1, used, total + GATE, pairs)  # track i takes no blob
        for j in blobs:
            c = costs.get((tids[i], j))
            if c is not None and j not in used:
                pairs[j] = tids[i]
                search(i + 1, used | {j}, total + c, pairs)
                del pairs[j]

    search(0, frozenset(), 0.0, {})
    return best[1]


def _faint(tr: Track, t: int, pred: tuple[float, float], labels: np.ndarray) -> bool:
    """Whether a few pixels of the track's colour lie within its radius of where it should be."""
    color = tr.blobs[tr.last_seen(t)].color  # type: ignore[union-attr]
    H, W = labels.shape
    r = tr.radius()
    ys, xs = np.mgrid[0:H, 0:W] + 0.5
    near = (xs - pred[0]) ** 2 + (ys - pred[1]) ** 2 <= r * r
    return int((near & (labels == OBJECT_COLORS.index(color))).sum()) >= FAINT_PIXELS


def _mark_crowded(tracks: list[Track], blob: Blob, t: int) -> None:
    """The blob covering a hidden object holds (or hides) two objects: neither its centre nor its shape
    is its own object's alone."""
    for tr in tracks:
        if tr.blobs[t] is blob:
            tr.blobs[t] = dataclasses.replace(blob, crowded=True)


def _shrunk(tr: Track, t: int, min_area: float) -> bool:
    """Whether the track was last seen small and shrinking: it went below what detection can see."""
    areas = [b.area for b in tr.blobs[:t] if b is not None][-3:]
    return len(areas) == 3 and areas[0] > areas[1] > areas[2] and areas[2] < 4 * min_area


def _split_host(blob: Blob, hosts: list[Track], t: int) -> Track | None:
    for tr in hosts:
        own = tr.blobs[t]
        if own is None or own.color != blob.color:
            continue
        if math.hypot(own.center[0] - blob.center[0], own.center[1] - blob.center[1]) < 2.2 * tr.radius():
            return tr
    return None


def _reacquire(blob: Blob, lost: list[Track], preds: dict, t: int, side: int) -> Track | None:
    best, best_d = None, REACQUIRE_GATE * side
    for tr in lost:
        s = tr.last_seen(t)
        if s is None or tr.blobs[s].color != blob.color:  # type: ignore[union-attr]
            continue
        # where it was predicted, or where it was last seen: hidden, it may have turned (a bounce behind
        # something) or stopped
        d = min(
            math.hypot(blob.center[0] - p[0], blob.center[1] - p[1])
            for p in (preds[tr.id], tr.blobs[s].center)
        )  # type: ignore[union-attr]
        if d < best_d:
            best, best_d = tr, d
    return best


def _drop_artefacts(tracks: list[Track]) -> list[Track]:
    """Remove tracks seen in at most two frames and never clean: blends where two objects meet."""
    kept = []
    for tr in tracks:
        obs = [b for b in tr.blobs if b is not None]
        if len(obs) <= 2 and not any(b.clean for b in obs) and tr.birth != "initial":
            continue
        kept.append(tr)
    for i, tr in enumerate(kept):
        tr.id = i
    return kept


def majority(values: list[str]) -> str | None:
    """Most common value (first seen wins a tie), None for an empty list."""
    if not values:
        return None
    counts = Counter(values)
    top = max(counts.values())
    return next(v for v in values if counts[v] == top)
