"""The prompt parser: text in Flatland's closed vocabulary -> `Claims`.

It reads every caption `captions.describe` writes (both splits) back to the claims it was written from,
and short user prompts such as "two red balls move right" or "a blue square on a gray background, the
camera pans left". The grammar (docs/captions.md) is small on purpose:

- the text is cut into the longest phrases `lexicon.build_phrases()` knows; any other word is reported
  in `Claims.unknown_words`, never dropped silently;
- a noun phrase `[a|the|two|the second] [size] [colour] shape` introduces objects ("a", a number) or
  refers back to one ("the", an ordinal), matching the attributes it names;
- verb phrases (motion, speed, "bounces", colour change) apply to the focus: the last subject, or
  subjects joined by "and" ("a ball and a box move left");
- contact and occlusion verbs relate the focus to the next noun phrase; a colour change of an object
  that was touched in the same sentence makes the contact a touch_change.
"""

from __future__ import annotations

import re
from functools import cache
from itertools import combinations

from cineflow.world import lexicon, vocab
from cineflow.world.captions import canonical_events
from cineflow.world.scene import Claims, EventClaim, ObjectClaim

_DIGITS = {"1": "one", "2": "two", "3": "three", "4": "four"}
_SENTENCE_END = {".", ";", ":", "!", "?"}
_OBJECT_FIELDS = ("color", "shape", "size", "motion", "speed", "final_color")
_NOUNS = ("shape", "shapes", "noun", "nouns")
# After an unknown word in a noun phrase, these keep the phrase open: the unknown word was an adjective
# ("a red shiny ball"). Anything else closes it: the unknown word was its noun ("a red dragon and a ball").
_NP_GOES_ON = ("color", "size", *_NOUNS)


@cache
def _phrases() -> tuple[dict[tuple[str, ...], lexicon.Sense], int]:
    table = lexicon.build_phrases()
    return table, max(len(k) for k in table)


def tokenize(text: str) -> list[str]:
    """Lower-case words and punctuation marks; "doesn't" -> "does not", hyphens split words."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"n't\b", " not", text)
    text = re.sub(r"'s\b", "", text)
    return [_DIGITS.get(t, t) for t in re.findall(r"[a-z]+|[0-9]+|[.,;:!?]", text.replace("-", " "))]


def segment(text: str) -> list[tuple[str, lexicon.Sense | None]]:
    """Cut text into the longest known phrases; unknown words come back with sense None."""
    table, longest = _phrases()
    words, out, i = tokenize(text), [], 0
    while i < len(words):
        if words[i] in _SENTENCE_END or words[i] == ",":
            out.append((words[i], lexicon.Sense("stop", words[i])))
            i += 1
            continue
        for n in range(min(longest, len(words) - i), 0, -1):
            sense = table.get(tuple(words[i : i + n]))
            if sense is not None:
                out.append((" ".join(words[i : i + n]), sense))
                i += n
                break
        else:
            out.append((words[i], None))
            i += 1
    return out


class _Reader:
    """The parser's state while it reads one text, phrase by phrase."""

    def __init__(self) -> None:
        self.objects: list[dict] = []
        self.events: list[EventClaim] = []
        self.world: dict = {"background": None, "floor": None, "camera": None}
        self.unknown: list[str] = []
        self.focus: list[int] | str = []  # object indices, or "camera"
        self.open_subject = False  # the focus is a subject with no verb yet ("a and b" may coordinate)
        self.after_and = False
        self.pending: tuple[str, list[int]] | None = None  # a relation waiting for its second object
        self.change = False  # a colour-change verb waits for its colour
        self.pan = False  # "pans" waits for its direction
        self.contacts: list[tuple[int, int]] = []  # contacts in this sentence, (subject, object)
        self.np: dict = {}  # the noun phrase being read: field -> value
        self.np_words: dict[str, str] = {}  # field -> the words that said it

    # --- noun phrases -------------------------------------------------------------------------------

    def hold(self, key: str, value, phrase: str) -> None:
        """Keep a word of the noun phrase being read until its noun arrives."""
        self.np[key], self.np_words[key] = value, phrase

    def noun(self, shape: str | None, plural: bool) -> None:
        np, self.np, self.np_words = self.np, {}, {}
        attrs = {k: np[k] for k in ("color", "shape", "size") if np.get(k)} | (
            {"shape": shape} if shape else {}
        )
        count = np.get("number") or (2 if plural else 1)
        chosen: list[int] = []
        if np.get("det") == "the" or "ordinal" in np:
            matches = [i for i, o in enumerate(self.objects) if all(o[k] == v for k, v in attrs.items())]
            if "ordinal" in np:
                chosen = matches[np["ordinal"] - 1 : np["ordinal"]]
            elif len(matches) >= count:
                chosen = matches[:count]
        if not chosen:
            new = dict.fromkeys(_OBJECT_FIELDS) | attrs
            new.update({k: np[k] for k in ("motion", "speed") if k in np})
            chosen = [len(self.objects) + k for k in range(count)]
            self.objects.extend(dict(new) for _ in range(count))
        self.relate(chosen)

    def relate(self, chosen: list[int]) -> None:
        """Place a finished noun phrase: the second object of a pending relation, or a subject."""
        if self.pending is not None:
            kind, firsts = self.pending
            if kind == "mutual":
                firsts = firsts + chosen
                self.pending = ("mutual", firsts) if len(firsts) < 2 else None
                if len(firsts) >= 2:
                    self.collide_all(firsts)
            else:
                self.pending = None
                for a in firsts:
                    for b in (b for b in chosen if b != a):
                        self.add_relation(kind, a, b)
            self.focus, self.open_subject = chosen, False
        elif self.after_and and self.open_subject and isinstance(self.focus, list):
            self.focus = self.focus + chosen
        else:
            self.focus, self.open_subject = chosen, True
        self.after_and = False

    def add_relation(self, kind: str, a: int, b: int) -> None:
        if kind == "contact":
            self.contacts.append((a, b))
            self.events.append(EventClaim("collide", (min(a, b), max(a, b))))
        elif kind == "occlude_front":
            self.events.append(EventClaim("occlude", (a, b)))
        else:  # occlude_behind: the subject passes behind the object, which is in front
            self.events.append(EventClaim("occlude", (b, a)))

    def collide_all(self, members: list[int]) -> None:
        for a, b in combinations(sorted(set(members)), 2):
            self.add_relation("contact", a, b)

    def flush(self) -> None:
        """End a noun phrase that never reached its noun. Without a determiner its attributes describe
        the focus ("the ball is red"). A phrase whose noun was an unknown word ("a huge dragon") is
        dropped whole: the noun is reported, its known adjectives are not, and they describe no object."""
        np, words, self.np, self.np_words = self.np, self.np_words, {}, {}
        if "unknown_noun" in np:
            return
        orphaned = "det" in np or "number" in np or "ordinal" in np
        for key in ("color", "size", "motion", "speed"):
            if key not in np:
                continue
            targets = self.targets()
            if not orphaned and targets and all(self.objects[i][key] in (None, np[key]) for i in targets):
                for i in targets:
                    self.objects[i][key] = np[key]
            else:
                self.unknown.append(words[key])

    # --- verb phrases -------------------------------------------------------------------------------

    def targets(self) -> list[int]:
        return self.focus if isinstance(self.focus, list) else []

    def motion(self, value: str, phrase: str) -> None:
        if self.focus == "camera" or self.pan:
            self.camera_move(value, phrase)
            return
        for i in self.targets():
            self.objects[i]["motion"] = value
        self.open_subject = False

    def camera_move(self, value: str, phrase: str) -> None:
        names = {"still": "static", "static": "static", "static_camera": "static",
                 "left": "pan_left", "right": "pan_right"}  # fmt: skip
        camera = names.get(value, value if value in vocab.CAMERAS else None)
        if camera is None:
            self.unknown.append(phrase)  # a camera does not move up, spin or fall in Flatland
        else:
            self.world["camera"] = camera
        self.pan, self.focus, self.open_subject = False, "camera", False

    def bounce(self) -> None:
        """Bare "bounces": on the floor after a fall, off a wall during another motion, else the motion."""
        for i in self.targets():
            motion = self.objects[i]["motion"]
            if motion is None:
                self.objects[i]["motion"] = "bounce"
            else:
                kind = "bounce_floor" if motion == "fall" else "bounce_wall"
                self.events.append(EventClaim(kind, (i,)))
        self.open_subject = False

    def recolor(self, color: str) -> None:
        """The focus ends with `color`; a contact in this sentence caused it (touch_change)."""
        self.change = False
        for i in self.targets():
            self.objects[i]["final_color"] = color
            for a, b in self.contacts:
                if i in (a, b):
                    other = a if b == i else b
                    collide = EventClaim("collide", (min(a, b), max(a, b)))
                    if collide in self.events:
                        self.events.remove(collide)
                    self.events.append(EventClaim("touch_change", (other, i)))

    def end_sentence(self) -> None:
        self.flush()
        self.pending, self.change, self.pan = None, False, False
        self.contacts, self.open_subject, self.after_and = [], False, False

    # --- one phrase ---------------------------------------------------------------------------------

    def read(self, phrase: str, sense: lexicon.Sense | None) -> None:
        if sense is None:
            self.unknown.append(phrase)
            if self.np:  # maybe the noun of the phrase being read: decided by the next word
                self.np["unknown_noun"] = phrase
            return
        kind, value = sense.kind, sense.value
        if "unknown_noun" in self.np and kind not in _NP_GOES_ON:
            self.flush()
        if kind in ("det", "indef", "number", "ordinal", "size") or (kind == "color" and not self.change):
            key = "det" if kind == "indef" else kind
            self.hold(key, "the" if kind == "det" else "a" if kind == "indef" else value, phrase)
        elif kind in _NOUNS:
            self.noun(value, plural=kind in ("shapes", "nouns"))
        elif kind == "speed" and self.np:  # "a fast ball"
            self.hold("speed", value, phrase)
        elif kind in ("motion", "bounce") and self.np:  # "a falling star", "a bouncing ball"
            self.hold("motion", value or "bounce", phrase)
        elif kind == "bg_noun" and "color" in self.np:
            backgrounds = ", ".join(vocab.BACKGROUNDS)
            raise ValueError(
                f"prompt: {self.np['color']!r} is an object colour; backgrounds are {backgrounds}"
            )
        elif kind == "stop" and value in _SENTENCE_END:
            self.end_sentence()
        elif kind == "stop":
            self.comma()
        else:
            if kind != "pronoun" and not (kind == "filler" and phrase == "and"):
                self.flush()
            self.act(phrase, kind, value)

    def comma(self) -> None:
        self.flush()
        self.after_and = True

    def act(self, phrase: str, kind: str, value) -> None:
        """Phrases that are not part of a noun phrase."""
        if kind == "filler":
            self.after_and = phrase == "and" or self.after_and
        elif kind == "color":
            self.recolor(value)
        elif kind == "speed":
            if not self.targets():  # "the camera pans left slowly": Flatland cameras have one speed
                self.unknown.append(phrase)
            for i in self.targets():
                self.objects[i]["speed"] = value
        elif kind == "motion":
            self.motion(value, phrase)
        elif kind == "bounce":
            self.bounce()
        elif kind == "self_event":
            self.events.extend(EventClaim(value, (i,)) for i in self.targets())
        elif kind == "cam_move":
            self.pan = value == "pan"
            if not self.pan:
                if value != "static" or self.focus == "camera":
                    self.camera_move(value, phrase)
                else:  # "stays still" said of an object
                    self.motion("still", phrase)
        elif kind == "camera":
            self.focus, self.open_subject = "camera", False
        elif kind in ("contact", "occlude_front", "occlude_behind"):
            self.pending, self.open_subject = (kind, self.targets()), False
        elif kind == "collide_mutual":
            if self.open_subject and len(self.targets()) >= 2:
                self.collide_all(self.targets())
            else:
                self.pending = ("mutual", self.targets() if self.open_subject else [])
            self.open_subject = False
        elif kind in ("change", "persist"):
            self.change = True
        elif kind == "bg_color":
            self.world["background"] = value
        elif kind in ("floor", "no_floor"):
            self.world["floor"] = kind == "floor"

    def claims(self) -> Claims:
        objects = tuple(ObjectClaim(**o) for o in self.objects)
        unknown = tuple(dict.fromkeys(self.unknown))
        return Claims(objects, **self.world, events=canonical_events(self.events), unknown_words=unknown)


def parse_prompt(text: str) -> Claims:
    """The claims `text` makes. Words outside the vocabulary are listed in `unknown_words`.

    Raises ValueError (with the vocabulary) when the text names no object.
    """
    reader = _Reader()
    for phrase, sense in segment(text):
        reader.read(phrase, sense)
    reader.end_sentence()
    if len(reader.objects) > vocab.MAX_OBJECTS:
        raise ValueError(
            f"prompt: a scene has 1 to {vocab.MAX_OBJECTS} objects, {text!r} names {len(reader.objects)}"
        )
    if not reader.objects:
        unknown = f" (unknown words: {', '.join(reader.unknown)})" if reader.unknown else ""
        raise ValueError(f"prompt: no object recognised in {text!r}{unknown}.\n{vocabulary_help()}")
    return reader.claims()


def vocabulary_help() -> str:
    """The closed vocabulary in a few lines, for error messages and `--help`."""

    def names(table: dict) -> str:
        return ", ".join(f"{k} = {'/'.join(v[0])}" if v[0] != (k,) else k for k, v in table.items())

    directions = ", ".join(name.replace("_", "-") for name in lexicon.DIRECTION_WORDS)
    return "\n".join([
        "A prompt names 1-4 objects in Flatland's closed vocabulary,"
        " e.g. 'a small green star falls and bounces'.",
        f"  colours: {', '.join(vocab.COLORS)}",
        f"  shapes: {names(lexicon.SHAPE_WORDS)}",
        f"  sizes: {', '.join(vocab.SIZES)}; counts: one to four ('two red balls')",
        f"  motions: moves {directions}; {', '.join(lexicon.MOTION_PHRASES)}",
        f"  speeds: {names(lexicon.SPEED_WORDS)}",
        f"  backgrounds: {', '.join(vocab.BACKGROUNDS)} ('on a gray background', 'with a floor')",
        "  camera: 'the camera pans left/right', 'zooms in/out', 'is static'",
        "  events: 'a hits b', 'a and b collide', 'a touches b and b turns red', 'a passes in front of b',"
        " 'bounces off a wall', 'falls and bounces'",
    ])  # fmt: skip
