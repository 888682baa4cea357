"""Captions from the scene graph: what a clip shows, in many words, and the claims those words make.

`claims_from_scene` gives everything a perfect caption states about a clip. `describe` writes one caption
through randomly chosen sentence frames (`TEMPLATES`) and synonyms (`lexicon`), and returns with it the
claims it actually made: a caption may leave out a size, a speed, the background or an event, and the
claims it returns say None (or omit the event) exactly there. `parse.parse_prompt(text)` returns those
same claims, which the tests check over many scenes and both splits.

Templates and synonyms are split into "train" and "heldout" (docs/captions.md lists both): captions with
`split="heldout"` use only held-out sentence frames, so a model trained on training captions can be
tested on paraphrases it has never seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from cineflow.world import lexicon, vocab
from cineflow.world.scene import Annotations, Claims, EventClaim, ObjectClaim, SceneSpec

SPLITS = ("train", "heldout")
MAX_WORDS = 60  # MiniLM reads 256 tokens; Flatland captions stay far below
PAIR_EVENTS = ("collide", "touch_change", "occlude")
_NO_SPEED = ("still", "fall")  # a still object has no speed; a falling one is driven by gravity alone


@dataclass(frozen=True)
class Template:
    """A sentence frame. `text` is a str.format pattern; its slots are filled by the caption writer."""

    id: str
    split: str
    text: str


def _family(*items: tuple[str, str, str]) -> tuple[Template, ...]:
    return tuple(Template(*item) for item in items)


# Slots: np (noun phrase), vp (verb phrase), be (is/are), appear, pron (it/they), a/b (object references),
# verb, mutual, front, behind, change, color, persist, event, bg, noun, floor, cam_vp.
TEMPLATES: dict[str, tuple[Template, ...]] = {
    "clause": _family(
        ("clause.plain", "train", "{np} {vp}"),
        ("clause.there_is", "train", "there {be} {np} that {vp}"),
        ("clause.we_see", "heldout", "we see {np}; {pron} {vp}"),
        ("clause.watch", "heldout", "watch {np} as {pron} {vp}"),
        ("clause.appears", "heldout", "{np} {appear} and {vp}"),
    ),
    "image": _family(  # an object of a 1-frame clip, which shows no motion
        ("image.there_is", "train", "there {be} {np}"),
        ("image.shown", "train", "{np} {be} shown"),
        ("image.pictured", "train", "{np} {be} pictured"),
        ("image.we_see", "heldout", "we see {np}"),
        ("image.visible", "heldout", "{np} {be} visible"),
    ),
    "join": _family(
        ("join.sentence", "train", "{a}. {b}"),
        ("join.while", "train", "{a} while {b}"),
        ("join.and", "train", "{a}, and {b}"),
        ("join.meanwhile", "heldout", "{a}. meanwhile, {b}"),
        ("join.same_time", "heldout", "{a}, and at the same time {b}"),
        ("join.semicolon", "heldout", "{a}; {b}"),
    ),
    "self": _family(
        ("self.and", "train", "{vp} and {event}"),
        ("self.before", "heldout", "{vp} before {pron} {event}"),
    ),
    "collide": _family(
        ("collide.verb", "train", "{a} {verb} {b}"),
        ("collide.mutual", "train", "{a} and {b} {mutual}"),
        ("collide.between", "heldout", "there is a collision between {a} and {b}"),
        ("collide.eventually_verb", "heldout", "eventually, {a} {verb} {b}"),
        ("collide.eventually_mutual", "heldout", "{a} and {b} eventually {mutual}"),
    ),
    "touch_change": _family(
        ("touch.and_turns", "train", "{a} {verb} {b} and {ref_b} {change} {color}{persist}"),
        ("touch.which", "train", "{a} {verb} {b}, which {change} {color}{persist}"),
        ("touch.when", "heldout", "when {a} {verb} {b}, {ref_b} {change} {color}{persist}"),
        ("touch.turning_it", "heldout", "{a} {verb} {b}, turning it {color}"),
    ),
    "occlude": _family(
        ("occlude.front", "train", "{a} {front} {b}"),
        ("occlude.behind", "train", "{b} {behind} {a}"),
        ("occlude.hidden", "heldout", "{b} is briefly hidden behind {a}"),
        ("occlude.briefly_front", "heldout", "briefly, {a} {front} {b}"),
        ("occlude.briefly_behind", "heldout", "{b} briefly {behind} {a}"),
    ),
    "background": _family(
        ("bg.suffix", "train", " on a {bg} {noun}{floor}"),
        ("bg.prefix", "train", "on a {bg} {noun}{floor}, "),
        ("bg.sentence", "train", "the {noun} is {bg}{floor}"),
        ("bg.floor", "train", " on a {bg} floor"),
        ("bg.set_against", "heldout", "the scene is set against a {bg} {noun}{floor}"),
        ("bg.colored", "heldout", "the {noun} is colored {bg}{floor}"),
    ),
    "camera": _family(
        ("camera.the", "train", "the {cam_noun} {cam_vp}"),
        ("camera.while", "train", " while the {cam_noun} {cam_vp}"),
        ("camera.as", "heldout", "as this happens, the camera {cam_vp}"),
        ("camera.shot", "heldout", "it is shot with a camera that {cam_vp}"),
    ),
}
# Frames that are appended to the last object clause rather than written as their own sentence.
_SUFFIX = {"bg.suffix", "bg.floor", "camera.while"}


@dataclass(frozen=True)
class Description:
    """A caption and what it states. `claims.objects[k]` is spec object `order[k]` (text order)."""

    text: str
    claims: Claims
    order: tuple[int, ...]
    templates: tuple[str, ...]  # ids of the sentence frames used


# ---------------------------------------------------------------------------------------------------
# 1. Claims of a scene


def scene_events(spec: SceneSpec, annotations: Annotations) -> list[tuple[EventClaim, str | None]]:
    """Distinct events that happened, in order of first occurrence, each with its new colour (touches).

    A collision between two objects that also touch-changed is left out: "the red ball hits the blue
    box and the box turns red" states the contact once, as the touch. An image (1 frame) shows none.
    """
    if spec.num_frames == 1:
        return []
    seen: dict[EventClaim, str | None] = {}
    for event in sorted(annotations.events, key=lambda e: e.frame):
        objects = tuple(sorted(event.objects)) if event.kind == "collide" else tuple(event.objects)
        claim = EventClaim(event.kind, objects)
        new_color = event.detail.get("new_color") or spec.objects[objects[-1]].becomes
        seen[claim] = new_color if event.kind == "touch_change" else None
    touched = {frozenset(c.objects) for c in seen if c.kind == "touch_change"}
    return [(c, col) for c, col in seen.items() if not (c.kind == "collide" and set(c.objects) in touched)]


def canonical_events(events: Iterable[EventClaim]) -> tuple[EventClaim, ...]:
    """Events without repeats, in a fixed order (kind as in vocab.EVENTS, then objects)."""
    return tuple(sorted(set(events), key=lambda e: (vocab.EVENTS.index(e.kind), e.objects)))


def claims_from_scene(spec: SceneSpec, annotations: Annotations) -> Claims:
    """The claims of a perfect caption: every object in spec order, the world around it, every event.

    A 1-frame clip (an image) shows no motion, camera move or event, so it claims none.
    """
    image = spec.num_frames == 1
    events = scene_events(spec, annotations)
    final = {c.objects[1]: col for c, col in events if c.kind == "touch_change"}
    objects = tuple(
        ObjectClaim(
            color=o.color,
            shape=o.shape,
            size=o.size,
            motion=None if image else o.motion,
            speed=None if image or o.motion in _NO_SPEED else o.speed,
            final_color=final.get(i),
        )
        for i, o in enumerate(spec.objects)
    )
    return Claims(
        objects=objects,
        background=spec.background,
        floor=spec.floor,
        camera=None if image else spec.camera,
        events=canonical_events(c for c, _ in events),
    )


# ---------------------------------------------------------------------------------------------------
# 2. What to mention: the plan of a caption


@dataclass(frozen=True)
class _Level:
    """How much a caption may say; captions too long for MAX_WORDS are rewritten at the next level."""

    extras: bool  # background, a static camera, sizes that do not tell objects apart
    short: bool  # only the shortest frames and synonyms
    self_events: bool  # bounces
    side_events: bool  # collisions and occlusions (touches are always said)
    speed: bool


_LEVELS = (
    _Level(extras=True, short=False, self_events=True, side_events=True, speed=True),
    _Level(extras=False, short=False, self_events=True, side_events=True, speed=True),
    _Level(extras=False, short=True, self_events=True, side_events=True, speed=True),
    _Level(extras=False, short=True, self_events=False, side_events=True, speed=False),
    _Level(extras=False, short=True, self_events=False, side_events=False, speed=False),
)


@dataclass
class _Unit:
    """One noun phrase of the caption: a single object or a group of identical ones (spec indices)."""

    members: list[int]
    claim: ObjectClaim
    self_events: list[str]  # bounce_wall / bounce_floor, stated in the verb phrase


def _plan_events(events, rng: np.random.Generator, level: _Level) -> list[tuple[EventClaim, str | None]]:
    keep = {"collide": 0.9, "occlude": 0.8, "touch_change": 1.0, "bounce_wall": 0.5, "bounce_floor": 0.8}
    if not level.side_events:
        keep.update(collide=0.0, occlude=0.0)
    if not level.self_events:
        keep.update(bounce_wall=0.0, bounce_floor=0.0)
    return [(c, col) for c, col in events if rng.random() < keep[c.kind]]


def _plan_units(full: Claims, mentioned, rng: np.random.Generator, level: _Level) -> list[_Unit]:
    """Choose what each object's phrase says, and group identical objects ("two red balls")."""
    in_pairs = {i for c, _ in mentioned if c.kind in PAIR_EVENTS for i in c.objects}
    selfs = {i: sorted(c.kind for c, _ in mentioned if c.kind not in PAIR_EVENTS and c.objects == (i,))
             for i in range(len(full.objects))}  # fmt: skip
    touched = {c.objects[1]: col for c, col in mentioned if c.kind == "touch_change"}
    order = [int(i) for i in rng.permutation(len(full.objects))]
    units: list[_Unit] = []
    for i in order:
        o = full.objects[i]
        # a twin: an identical object, with the same bounces and no part in a pair event
        twin = next((u for u in units if full.objects[u.members[0]] == o and selfs[u.members[0]] == selfs[i]
                     and {i, u.members[0]}.isdisjoint(in_pairs)), None)  # fmt: skip
        if twin is not None and rng.random() < 0.8:
            twin.members.append(i)
            continue
        # the size matters when it tells this object from another of its colour and shape
        matters = any(p.color == o.color and p.shape == o.shape and p.size != o.size for p in full.objects)
        say_size = matters or (level.extras and rng.random() < 0.4)
        say_speed = (
            o.speed is not None and level.speed and rng.random() < (0.25 if o.speed == "normal" else 0.85)
        )
        claim = ObjectClaim(
            color=o.color,
            shape=o.shape,
            size=o.size if say_size else None,
            motion=o.motion,
            speed=o.speed if say_speed else None,
            final_color=touched.get(i),
        )
        units.append(_Unit([i], claim, selfs[i]))
    return units


# ---------------------------------------------------------------------------------------------------
# 3. Writing the words


class _Writer:
    """Picks frames and synonyms for one split, and records the frames it used."""

    def __init__(self, rng: np.random.Generator, split: str, short: bool):
        self.rng, self.split, self.short = rng, split, short
        self.used: list[str] = []

    def word(self, synonyms: lexicon.Synonyms, extra: tuple[str, ...] = ()) -> str:
        train, held = synonyms[0] + extra, synonyms[1]
        if self.short:  # the fewest words, from either list
            pool = train + held if self.split == "heldout" else train
            pool = tuple(p for p in pool if len(p.split()) == min(len(q.split()) for q in pool))
        else:
            pool = held if self.split == "heldout" and held and self.rng.random() < 0.5 else train
        return str(pool[self.rng.integers(len(pool))])

    def frame(self, family: str, only: tuple[str, ...] | None = None) -> Template:
        pool = [t for t in TEMPLATES[family] if t.split == self.split and (only is None or t.id in only)]
        if self.short:  # the fewest words
            pool = [t for t in pool if len(t.text.split()) == min(len(u.text.split()) for u in pool)]
        template = pool[self.rng.integers(len(pool))]
        self.used.append(template.id)
        return template

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)


_NUMBERS = {n: word for word, n in lexicon.NUMBER_WORDS.items()}
_ORDINALS = {n: word for word, n in lexicon.ORDINAL_WORDS.items()}


def _noun_phrase(w: _Writer, claim: ObjectClaim, count: int = 1, ordinal: int | None = None) -> str:
    """'a small red ball', 'two red boxes'; with `ordinal` a reference ('the red ball' for 0, else
    'the second red ball')."""
    noun = w.word(lexicon.SHAPE_WORDS[claim.shape])
    words = [
        w.word(lexicon.SIZE_WORDS[claim.size]) if claim.size else None,
        w.word(lexicon.COLOR_WORDS[claim.color]) if claim.color else None,
        noun if count == 1 else lexicon.plural_noun(noun),
    ]
    body = " ".join(x for x in words if x)
    if ordinal is not None:
        return f"the {_ORDINALS[ordinal]} {body}" if ordinal else f"the {body}"
    if count == 1:
        return f"an {body}" if body[0] in "aeiou" else f"a {body}"
    return f"{_NUMBERS[count]} {body}"


def _motion(w: _Writer, claim: ObjectClaim, plural: bool) -> str:
    if claim.motion in lexicon.DIRECTION_WORDS:
        phrase = f"{w.word(lexicon.MOVE_VERBS)} {w.word(lexicon.DIRECTION_WORDS[claim.motion])}"
    else:
        phrase = w.word(lexicon.MOTION_PHRASES[claim.motion])
    phrase = lexicon.plural(phrase) if plural else phrase
    if claim.speed is None:
        return phrase
    adverb = w.word(lexicon.SPEED_WORDS[claim.speed])
    if adverb.endswith("ly") and w.chance(0.4):  # "quickly moves left", never "fast moves left"
        return f"{adverb} {phrase}"
    return f"{phrase} {adverb}"


def _verb_phrase(w: _Writer, unit: _Unit) -> str:
    plural = len(unit.members) > 1
    vp = _motion(w, unit.claim, plural)
    for kind in unit.self_events:
        train, held = lexicon.SELF_EVENTS[kind]
        if kind == "bounce_floor" and unit.claim.motion == "fall":
            train += ("bounces",)  # "falls and bounces"
        if unit.claim.motion == "bounce":  # not "bounces around and bounces off a wall"
            train = tuple(p for p in train if "bounce" not in p) or train
        event = w.word((train, held))
        template = w.frame("self")
        vp = template.text.format(
            vp=vp, pron="they" if plural else "it", event=lexicon.plural(event) if plural else event
        )
    return vp


def _clause(w: _Writer, unit: _Unit) -> str:
    n = len(unit.members)
    if unit.claim.motion is None:  # an image
        template = w.frame("image")
        return template.text.format(np=_noun_phrase(w, unit.claim, n), be="is" if n == 1 else "are")
    template = w.frame("clause")
    return template.text.format(
        np=_noun_phrase(w, unit.claim, n),
        vp=_verb_phrase(w, unit),
        be="is" if n == 1 else "are",
        appear="appears" if n == 1 else "appear",
        pron="it" if n == 1 else "they",
    )


def _reference(w: _Writer, claims: list[ObjectClaim], k: int) -> str:
    """The shortest definite description that picks out object k among `claims` (as the parser reads)."""
    fields = [("shape",), ("color", "shape"), ("size", "color", "shape")]
    if not w.short and w.chance(0.5):
        fields = fields[1:]
    own = claims[k]
    for names in fields:
        if any(getattr(own, f) is None for f in names):
            continue
        matches = [j for j, c in enumerate(claims) if all(getattr(c, f) == getattr(own, f) for f in names)]
        ref = ObjectClaim(**{f: getattr(own, f) for f in names})
        if len(matches) == 1:
            return _noun_phrase(w, ref, ordinal=0)
    return _noun_phrase(w, ref, ordinal=matches.index(k) + 1)


def _event_sentence(w: _Writer, event: EventClaim, new_color, claims: list[ObjectClaim]) -> str:
    a, b = (_reference(w, claims, k) for k in event.objects)
    template = w.frame(event.kind)
    color = w.word(lexicon.COLOR_WORDS[new_color]) if new_color else None
    slots = dict(a=a, b=b, color=color, persist="")
    if event.kind == "collide":
        slots.update(verb=w.word(lexicon.COLLIDE_VERBS), mutual=w.word(lexicon.COLLIDE_MUTUAL))
        slots["mutual"] = lexicon.plural(slots["mutual"])
    elif event.kind == "occlude":
        slots.update(front=w.word(lexicon.OCCLUDE_FRONT), behind=w.word(lexicon.OCCLUDE_BEHIND))
    else:
        slots.update(verb=w.word(lexicon.TOUCH_VERBS), change=w.word(lexicon.CHANGE_VERBS))
        slots["ref_b"] = _reference(w, claims, event.objects[1])
        if w.chance(0.3):
            slots["persist"] = f" and {w.word(lexicon.PERSIST_VERBS)} {color}"
    return template.text.format(**slots)


def _background(w: _Writer, spec: SceneSpec, body: str) -> tuple[Template, str, bool | None]:
    """A phrase naming the background (and the floor, sometimes), and the floor claim it makes."""
    frames = [t.id for t in TEMPLATES["background"]]
    if not spec.floor or "floor" in body:  # "on a black floor" only where there is one, and said once
        frames.remove("bg.floor")
    template = w.frame("background", tuple(frames))
    floor, floor_words = None, ""
    if template.id == "bg.floor":
        floor = True
    elif spec.floor and w.chance(0.8):
        floor, floor_words = True, f" {w.word(lexicon.FLOOR_WORDS)}"
    elif not spec.floor and w.chance(0.3):
        floor, floor_words = False, f" {w.word(lexicon.NO_FLOOR_WORDS)}"
    bg = w.word(lexicon.BACKGROUND_WORDS[spec.background])
    text = template.text.format(bg=bg, noun=w.word(lexicon.BACKGROUND_NOUNS), floor=floor_words)
    return template, text, floor


def _camera(w: _Writer, spec: SceneSpec) -> tuple[Template, str]:
    template = w.frame("camera")
    cam_vp = w.word(lexicon.CAMERA_MOVES[spec.camera])
    return template, template.text.format(cam_noun=w.word(lexicon.CAMERA_NOUNS), cam_vp=cam_vp)


def _write(
    spec: SceneSpec, annotations: Annotations, rng: np.random.Generator, split: str, level: _Level
) -> Description:
    # 1. Decide what to say
    full = claims_from_scene(spec, annotations)
    mentioned = _plan_events(scene_events(spec, annotations), rng, level)
    units = _plan_units(full, mentioned, rng, level)
    order = [i for u in units for i in u.members]
    claims = [u.claim for u in units for _ in u.members]
    at = {spec_index: k for k, spec_index in enumerate(order)}
    # 2. Objects, then interactions in the order they happened
    w = _Writer(rng, split, short=level.short)
    body = _clause(w, units[0])
    for unit in units[1:]:
        body = w.frame("join").text.format(a=body, b=_clause(w, unit))
    events = []
    sentences = []
    for event, new_color in mentioned:
        local = EventClaim(event.kind, tuple(at[i] for i in event.objects))
        if event.kind == "collide":
            local = EventClaim("collide", tuple(sorted(local.objects)))
        events.append(local)
        if event.kind in PAIR_EVENTS:
            sentences.append(_event_sentence(w, local, new_color, claims))
    # 3. The world around them
    background = floor = camera = None
    if level.extras and w.chance(0.6 if spec.floor else 0.5):
        template, text, floor = _background(w, spec, body)
        background = spec.background
        if template.id == "bg.prefix":
            body = text + body
        elif template.id in _SUFFIX:
            body += text
        else:
            sentences.append(text)
    if full.camera not in (None, "static") or (full.camera and level.extras and w.chance(0.25)):
        template, text = _camera(w, spec)
        camera = spec.camera
        if template.id in _SUFFIX:
            body += text
        else:
            sentences.append(text)
    # 4. Sentences: capitalised, full stops
    text = ". ".join(s[0].upper() + s[1:] for s in ". ".join([body, *sentences]).split(". ")) + "."
    said = Claims(tuple(claims), background, floor, camera, canonical_events(events))
    return Description(text, said, tuple(order), tuple(w.used))


def describe(
    spec: SceneSpec, annotations: Annotations, rng: np.random.Generator, split: str = "train"
) -> Description:
    """Write a caption of the clip with `split`'s frames; returns it with the claims it makes.

    Deterministic given the state of `rng` (one number is drawn from it). Captions longer than MAX_WORDS
    are rewritten more compactly (no background, fewer speeds and side events) until they fit.
    """
    if split not in SPLITS:
        raise ValueError(f"split: must be one of {', '.join(SPLITS)}, got {split!r}")
    seed = int(rng.integers(2**63))
    for level in _LEVELS:
        description = _write(spec, annotations, np.random.default_rng(seed), split, level)
        if len(description.text.split()) <= MAX_WORDS:
            break
    return description


def caption(spec: SceneSpec, annotations: Annotations, rng: np.random.Generator, split: str = "train") -> str:
    """A caption of the clip: every object, the events that happened, sometimes the world around them."""
    return describe(spec, annotations, rng, split).text
