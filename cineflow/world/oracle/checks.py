"""Claims against what was observed: one `Check` per claim, plus permanence, in a `Report`.

Claimed objects are matched to tracked ones by the assignment that agrees on most attributes (match.py);
each stated attribute of each object, the background, floor, camera and every stated event then becomes a
check with a reason a person can read; a full scene description (`exact_count`) also may not show a colour
it never names. Permanence is always checked, whatever the prompt says: no object
may vanish (leave no trace while neither off screen, hidden nor shrunk away) or appear from nothing.
"""

from __future__ import annotations

from cineflow.world.oracle.match import Observed, assign
from cineflow.world.oracle.observe import ObjectReading, Scene
from cineflow.world.oracle.report import Check, Report
from cineflow.world.oracle.track import MISSING
from cineflow.world.scene import Claims, EventClaim, ObjectClaim

_ORDERED = ("touch_change", "occlude")  # events whose object order matters (toucher/touched, front/back)


def describe(claim: ObjectClaim) -> str:
    """A short noun phrase for a claimed object: 'small red ball'."""
    words = [claim.size, claim.color, {"circle": "ball"}.get(claim.shape or "", claim.shape)]
    return " ".join(w for w in words if w) or "object"


def _object_checks(
    i: int, claim: ObjectClaim, obs: ObjectReading | None, seen: list[Observed]
) -> list[Check]:
    label = f"object {i} ({describe(claim)})"
    if obs is None:
        found = ", ".join(f"{o.color} {o.shape}" for o in seen) or "nothing"
        return [Check(f"{label}: present", False, f"no tracked object left to match; seen: {found}")]
    o, motion = obs.observed, obs.motion
    checks = [Check(f"{label}: present", True, f"matched track {o.track}")]
    if claim.color is not None:
        checks.append(
            Check(f"{label}: color", o.color == claim.color, f"starts {o.color}", claim.color, o.color)
        )
    if claim.shape is not None:
        if o.shape is None:
            checks.append(Check(f"{label}: shape", True, "never seen whole: shape not verifiable"))
        else:
            ok = o.shape == claim.shape
            checks.append(Check(f"{label}: shape", ok, f"seen as {o.shape}", claim.shape, o.shape))
    if claim.size is not None:
        checks.append(Check(f"{label}: size", o.size == claim.size, f"seen as {o.size}", claim.size, o.size))
    if claim.motion is not None:
        ok = claim.motion in motion.compatible
        also = sorted(motion.compatible - {motion.primary})
        why = f"moves as {motion.primary}" + (f" (also consistent with {', '.join(also)})" if also else "")
        checks.append(Check(f"{label}: motion", ok, why, claim.motion, motion.primary))
    if claim.speed is not None:
        why = f"speed reads as {o.speed or 'none (not moving)'}"
        checks.append(Check(f"{label}: speed", o.speed == claim.speed, why, claim.speed, o.speed or "none"))
    if claim.final_color is not None:
        checks.append(_final_color(label, claim.final_color, obs))
    return checks


def _final_color(label: str, want: str, obs: ObjectReading) -> Check:
    """The colour it ends with, and that the change persists (no flicker back)."""
    colors = [c for c in obs.track.colors() if c is not None]
    if want not in colors:
        return Check(f"{label}: becomes {want}", False, f"never {want}; ends {obs.observed.final_color}")
    after = colors[colors.index(want) :]
    reverted = [c for c in after if c != want]
    if reverted:
        return Check(
            f"{label}: becomes {want}", False, f"turns {want} but does not stay: later {reverted[0]}"
        )
    return Check(f"{label}: becomes {want}", True, f"turns {want} and stays {want} to the end")


def _event_check(event: EventClaim, mapping: list[int | None], scene: Scene) -> Check:
    name = f"event {event.kind} {list(event.objects)}"
    ids = [mapping[k] if k < len(mapping) else None for k in event.objects]
    if any(i is None for i in ids):
        return Check(name, False, "an object of this event was not found")
    want = tuple(ids)
    for kind, frame, objs in scene.events:
        if kind != event.kind:
            continue
        same = objs == want if kind in _ORDERED else sorted(objs) == sorted(want)
        if same:
            return Check(name, True, f"seen at frame {frame}")
    seen = sorted({k for k, _, o in scene.events if set(o) & set(want)}) or ["nothing"]
    return Check(name, False, f"not seen; these objects show: {', '.join(seen)}")


def _permanence(scene: Scene) -> list[Check]:
    vanished = []
    for n, o in enumerate(scene.objects):
        frames = [t for t, s in enumerate(o.track.state) if s == MISSING]
        if frames:
            vanished.append(f"object {n} ({o.observed.color} {o.observed.shape}) at frame {frames[0]}")
    appeared = [
        f"object {n} ({o.observed.color} {o.observed.shape}) at frame {o.track.start}"
        for n, o in enumerate(scene.objects)
        if o.track.birth == "appeared"
    ]
    return [
        Check(
            "permanence: nothing vanishes",
            not vanished,
            "vanished: " + "; ".join(vanished) if vanished else "every object is seen, hidden or off screen",
        ),
        Check(
            "permanence: nothing appears from nothing",
            not appeared,
            "appeared: " + "; ".join(appeared)
            if appeared
            else "every object is there from the start or enters",
        ),
    ]


def _unclaimed_colors(claims: Claims, seen: list[Observed], mapping: list[int | None]) -> Check:
    """A full scene description names every object, so a colour it never names is wrong however many
    claimed colours are also on screen: an object matched to no claim must not show a colour that no
    claim states (as a start or an end colour). Without this, a field of blobs of every colour passes
    each object's colour check, since the matching always finds a blob of the claimed colour."""
    named = {c.color for c in claims.objects} | {c.final_color for c in claims.objects}
    matched = set(mapping)
    extra = sorted({o.color for n, o in enumerate(seen) if n not in matched and o.color not in named})
    if extra:
        return Check("objects: no unclaimed color", False, "unclaimed objects in " + ", ".join(extra))
    return Check("objects: no unclaimed color", True, "every color on screen is a claimed one")


def check(scene: Scene, claims: Claims, *, exact_count: bool = False) -> Report:
    """Compare a read scene with claims. `exact_count`: the claims list every object (a full scene
    description) rather than the ones a caption chose to mention."""
    seen = [o.observed for o in scene.objects]
    mapping = assign(claims.objects, seen)
    checks: list[Check] = []
    n_claimed, n_seen = len(claims.objects), len(scene.objects)
    if n_claimed:
        ok = n_seen == n_claimed if exact_count else n_seen >= n_claimed
        want = f"{n_claimed}" if exact_count else f"at least {n_claimed}"
        checks.append(Check("objects: count", ok, f"{n_seen} objects seen, {want} claimed"))
        if exact_count and any(c.color is not None for c in claims.objects):
            checks.append(_unclaimed_colors(claims, seen, mapping))
    for i, claim in enumerate(claims.objects):
        obs = scene.objects[mapping[i]] if mapping[i] is not None else None  # type: ignore[index]
        checks += _object_checks(i, claim, obs, seen)
    if claims.background is not None:
        ok = scene.background == claims.background
        checks.append(Check("background", ok, f"background reads as {scene.background}"))
    if claims.floor is not None:
        ok = scene.floor == claims.floor
        checks.append(Check("floor", ok, "a floor band is seen" if scene.floor else "no floor band is seen"))
    if claims.camera is not None:
        ok = scene.camera_kind == claims.camera
        checks.append(Check("camera", ok, f"camera reads as {scene.camera_kind}"))
    checks += [_event_check(e, mapping, scene) for e in claims.events]
    checks += _permanence(scene)
    observed = scene.to_dict()
    observed["matching"] = mapping
    return Report(
        checks, partial=bool(claims.unknown_words), unknown_words=claims.unknown_words, observed=observed
    )
