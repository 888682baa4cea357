"""The words of Flatland captions: every phrase the caption generator writes and the parser reads.

One table serves both directions, so that the generator can never write a phrase the parser does not
know. Each meaning (a `Sense`) has training phrases and held-out phrases: captions made with
`split="train"` use only the training phrases; `split="heldout"` may also use the held-out ones, which
a model trained on training captions has never seen (the paraphrase-generalisation test).

Phrases are lower-case words separated by single spaces or hyphens (the parser's tokenizer reads a hyphen
as a space). Verb phrases are written in the singular ("moves left");
`plural()` gives the form for a group ("move left"); the parser knows both, and the -ing form that users
write ("a red ball moving left", `gerund()`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cineflow.world import vocab


@dataclass(frozen=True)
class Sense:
    """What a phrase means to the parser. `kind` names the role; `value` is a vocabulary name or a number.

    kinds: color, bg_color, shape, shapes (plural noun), noun (a generic object noun), size, number,
    det (definite "the"), indef ("a"), ordinal, motion, speed, camera (the noun), cam_move, contact,
    collide_mutual, occlude_front, occlude_behind, change, persist, self_event, bounce (bare "bounces"),
    floor, no_floor, bg_noun, pronoun, filler.
    """

    kind: str
    value: str | int | None = None


# A synonym set: (training phrases, held-out phrases). The first training phrase is the canonical one.
Synonyms = tuple[tuple[str, ...], tuple[str, ...]]

SHAPE_WORDS: dict[str, Synonyms] = {
    "circle": (("ball", "circle", "disc", "sphere"), ("orb",)),
    "square": (("square", "box", "block"), ("tile",)),
    "triangle": (("triangle",), ("wedge",)),
    "star": (("star",), ("five-pointed star",)),
}
# Object nouns that name no shape ("a red object moves left").
GENERIC_NOUNS = ("object", "thing", "shape")

COLOR_WORDS: dict[str, Synonyms] = {name: ((name,), ()) for name in vocab.COLORS}
COLOR_WORDS["purple"] = (("purple",), ("violet",))
COLOR_WORDS["cyan"] = (("cyan",), ("aqua",))

BACKGROUND_WORDS: dict[str, Synonyms] = {name: ((name,), ()) for name in vocab.BACKGROUNDS}
BACKGROUND_WORDS["gray"] = (("gray", "grey"), ())
BACKGROUND_NOUNS: Synonyms = (("background",), ("backdrop",))

SIZE_WORDS: dict[str, Synonyms] = {
    "small": (("small", "tiny"), ("little",)),
    "medium": (("medium", "medium-sized"), ("mid-sized",)),
    "large": (("large", "big"), ("huge",)),
}

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4}
ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4}

# Movement verbs carry no meaning of their own: the direction after them does ("slides left").
MOVE_VERBS: Synonyms = (("moves", "slides", "travels", "heads"), ("glides", "drifts"))

_H = {"left": "left", "right": "right"}
_V = {"up": ("up", "upper", "top"), "down": ("down", "lower", "bottom")}


def _straight(word: str, held: tuple[str, ...]) -> Synonyms:
    return ((word, f"to the {word}", f"{word}ward"), held)


def _diagonal(v: str, h: str) -> Synonyms:
    _, adj, noun = _V[v]
    return ((f"{v} and to the {h}", f"{v} and {h}"), (f"toward the {adj} {h}", f"toward the {noun} {h}"))


DIRECTION_WORDS: dict[str, Synonyms] = {
    "left": _straight("left", ("leftwards", "toward the left")),
    "right": _straight("right", ("rightwards", "toward the right")),
    "up": (("up", "upward"), ("upwards", "toward the top")),
    "down": (("down", "downward"), ("downwards", "toward the bottom")),
    **{f"{v}_{h}": _diagonal(v, h) for v in ("up", "down") for h in _H},
}

# Motions that are not a direction; these phrases are complete verb phrases.
MOTION_PHRASES: dict[str, Synonyms] = {
    "still": (("stays still", "sits still", "does not move", "stays put"), ("remains motionless",)),
    "bounce": (("bounces around", "bounces around the frame", "ricochets around"), ("caroms around",)),
    "fall": (("falls", "drops", "falls under gravity"), ("plummets", "tumbles down")),
    "orbit": (("orbits", "circles around", "moves in a circle"), ("loops around", "revolves in a loop")),
    "spin": (("spins", "spins in place", "rotates", "rotates in place"), ("whirls", "twirls in place")),
    "grow": (("grows", "gets bigger", "expands"), ("swells", "inflates")),
    "shrink": (("shrinks", "gets smaller", "contracts"), ("dwindles", "deflates")),
}

SPEED_WORDS: dict[str, Synonyms] = {
    "slow": (("slowly", "at a slow pace"), ("leisurely", "unhurriedly")),
    "normal": (("at a moderate speed", "at a steady pace"), ("at an ordinary pace",)),
    "fast": (("quickly", "fast", "rapidly", "at high speed"), ("swiftly", "briskly")),
}

CAMERA_NOUNS: Synonyms = (("camera", "view"), ())
CAMERA_MOVES: dict[str, Synonyms] = {
    "static": (("stays still", "does not move", "is static"), ("holds steady", "remains fixed")),
    "pan_left": (("pans left", "pans to the left"), ("sweeps left", "sweeps to the left")),
    "pan_right": (("pans right", "pans to the right"), ("sweeps right", "sweeps to the right")),
    "zoom_in": (("zooms in",), ("pushes in", "closes in")),
    "zoom_out": (("zooms out",), ("pulls back", "pulls out")),
}

# Interactions. A contact verb makes a collision, or a touch_change when the touched object's colour
# change follows in the same sentence ("the red ball hits the blue box and the box turns red").
COLLIDE_VERBS: Synonyms = (
    ("collides with", "crashes into", "bumps into", "hits"),
    ("slams into", "runs into"),
)
TOUCH_VERBS: Synonyms = (("touches", "hits", "bumps into", "strikes"), ("brushes against",))
COLLIDE_MUTUAL: Synonyms = (("collide", "bump into each other"), ("run into each other", "smash together"))
CHANGE_VERBS: Synonyms = (("turns", "becomes"), ("changes to", "switches to"))
PERSIST_VERBS: Synonyms = (("stays",), ("remains",))
OCCLUDE_FRONT: Synonyms = (("passes in front of", "moves in front of"), ("crosses in front of",))
OCCLUDE_BEHIND: Synonyms = (("passes behind", "goes behind"), ("slips behind",))
SELF_EVENTS: dict[str, Synonyms] = {
    "bounce_wall": (("bounces off a wall", "hits a wall"), ("rebounds off the side of the frame",)),
    "bounce_floor": (("bounces off the floor", "bounces on landing"), ("rebounds off the bottom",)),
}

FLOOR_WORDS: Synonyms = (("with a floor", "above a darker floor"), ("over a strip of floor",))
NO_FLOOR_WORDS: Synonyms = (("with no floor", "without a floor"), ("with nothing underneath",))

# Phrases the parser accepts for users' prompts but the generator never writes.
PARSER_ONLY: dict[str, Sense] = {
    "an": Sense("indef"),
    "another": Sense("indef"),
    "up left": Sense("motion", "up_left"),
    "up right": Sense("motion", "up_right"),
    "down left": Sense("motion", "down_left"),
    "down right": Sense("motion", "down_right"),
    "still": Sense("motion", "still"),
    "static": Sense("motion", "still"),
    "motionless": Sense("motion", "still"),
    "stationary": Sense("motion", "still"),
    "fixed": Sense("motion", "still"),
    "bounces": Sense("bounce"),
    "bounce": Sense("bounce"),
    "bouncing": Sense("bounce"),
    "falling": Sense("motion", "fall"),
    "falls down": Sense("motion", "fall"),
    "in a circle": Sense("motion", "orbit"),
    "in circles": Sense("motion", "orbit"),
    "spinning": Sense("motion", "spin"),
    "rotating": Sense("motion", "spin"),
    "growing": Sense("motion", "grow"),
    "shrinking": Sense("motion", "shrink"),
    "slow": Sense("speed", "slow"),
    "quick": Sense("speed", "fast"),
    "static camera": Sense("cam_move", "static_camera"),
    "fixed camera": Sense("cam_move", "static_camera"),
    "still camera": Sense("cam_move", "static_camera"),
    "pans": Sense("cam_move", "pan"),
    "pan": Sense("cam_move", "pan"),
    "panning": Sense("cam_move", "pan"),
    "zoom in": Sense("cam_move", "zoom_in"),
    "zoom out": Sense("cam_move", "zoom_out"),
    "zooming in": Sense("cam_move", "zoom_in"),
    "zooming out": Sense("cam_move", "zoom_out"),
    "collides": Sense("collide_mutual"),
    "collision between": Sense("collide_mutual"),
    "collides with each other": Sense("collide_mutual"),
    "collide with each other": Sense("collide_mutual"),
    "touch each other": Sense("collide_mutual"),
    "in front of": Sense("occlude_front"),
    "behind": Sense("occlude_behind"),
    "hidden behind": Sense("occlude_behind"),
    "hides": Sense("occlude_front"),
    "turning": Sense("change"),
    "changing to": Sense("change"),
    "floor": Sense("floor"),
    "ground": Sense("floor"),
    "no floor": Sense("no_floor"),
}

PRONOUNS = ("it", "they", "which", "that", "them", "its", "their")
# Words that carry no claim. They are part of the vocabulary, so they are not reported as unknown.
FILLERS = (
    "a", "and", "or", "with", "on", "in", "of", "to", "at", "is", "are", "there", "while", "as", "then",
    "also", "both", "each", "other", "we", "see", "you", "can", "be", "seen", "watch", "clip", "scene",
    "video", "frame", "shot", "briefly", "diagonally", "meanwhile", "same", "time", "this", "happens",
    "set", "against", "colored", "coloured", "everything", "here", "very", "around", "across", "from",
    "into", "by", "after", "when", "all", "color", "colour", "together", "screen", "sits", "side",
    "eventually", "for", "before", "appears", "appear", "shown", "pictured", "visible",
)  # fmt: skip
# Not fillers, so reported as unknown: where an object is ("above", "under", "near", ...) is no claim.


def plural(phrase: str) -> str:
    """The verb phrase for a plural subject: the first word conjugated ("moves left" -> "move left")."""
    first, _, rest = phrase.partition(" ")
    irregular = {"is": "are", "does": "do", "goes": "go", "has": "have"}
    if first in irregular:
        verb = irregular[first]
    elif first.endswith(("sses", "shes", "ches", "xes", "zes")):
        verb = first[:-2]
    elif first.endswith("s") and not first.endswith("ss"):
        verb = first[:-1]
    else:
        verb = first
    rest = " ".join("their" if w == "its" else w for w in rest.split())
    return f"{verb} {rest}".strip()


_DOUBLED = {"drop", "spin", "get", "hit", "run", "slip", "slam", "sit", "pan", "stop"}


def gerund(phrase: str) -> str:
    """The -ing form of a verb phrase, for users' prompts ("moves left" -> "moving left")."""
    first, _, rest = plural(phrase).partition(" ")
    if first == "are":
        first = "being"
    elif first in _DOUBLED:
        first = first + first[-1] + "ing"
    elif first.endswith("e") and not first.endswith("ee"):
        first = first[:-1] + "ing"
    else:
        first += "ing"
    return f"{first} {rest}".strip()


def plural_noun(phrase: str) -> str:
    """The plural of a shape noun phrase ("box" -> "boxes", "five-pointed star" -> "five pointed stars")."""
    head = phrase.rsplit(" ", 1)
    last = head[-1]
    last = last + "es" if last.endswith(("x", "s", "sh", "ch")) else last + "s"
    return " ".join([*head[:-1], last])


def _verb_table() -> list[tuple[Synonyms, Sense]]:
    return [
        (MOVE_VERBS, Sense("filler")),
        (COLLIDE_VERBS, Sense("contact")),
        (TOUCH_VERBS, Sense("contact")),
        (COLLIDE_MUTUAL, Sense("collide_mutual")),
        (CHANGE_VERBS, Sense("change")),
        (PERSIST_VERBS, Sense("persist")),
        (OCCLUDE_FRONT, Sense("occlude_front")),
        (OCCLUDE_BEHIND, Sense("occlude_behind")),
        *((s, Sense("motion", m)) for m, s in MOTION_PHRASES.items()),
        *((s, Sense("cam_move", m)) for m, s in CAMERA_MOVES.items()),
        *((s, Sense("self_event", e)) for e, s in SELF_EVENTS.items()),
    ]


def _all(synonyms: Synonyms) -> tuple[str, ...]:
    return synonyms[0] + synonyms[1]


def build_phrases() -> dict[tuple[str, ...], Sense]:
    """Every phrase the parser knows (both splits, singular and plural), keyed by its words."""
    table: dict[str, Sense] = {w: Sense("filler") for w in FILLERS}
    table.update({w: Sense("pronoun") for w in PRONOUNS})
    table.update({"the": Sense("det"), "a": Sense("indef")})
    table.update({w: Sense("number", n) for w, n in NUMBER_WORDS.items()})
    table.update({w: Sense("ordinal", n) for w, n in ORDINAL_WORDS.items()})
    table.update({w: Sense("noun") for w in GENERIC_NOUNS})
    table.update({plural_noun(w): Sense("nouns") for w in GENERIC_NOUNS})
    for shape, syn in SHAPE_WORDS.items():
        for word in _all(syn):
            table[word] = Sense("shape", shape)
            table[plural_noun(word)] = Sense("shapes", shape)
    for kind, words in (
        ("color", COLOR_WORDS),
        ("bg_color", BACKGROUND_WORDS),
        ("size", SIZE_WORDS),
        ("motion", DIRECTION_WORDS),
        ("speed", SPEED_WORDS),
    ):
        table.update({w: Sense(kind, name) for name, syn in words.items() for w in _all(syn)})
    table.update({w: Sense("bg_noun") for w in _all(BACKGROUND_NOUNS)})
    table.update({w: Sense("camera") for w in _all(CAMERA_NOUNS)})
    table.update({w: Sense("floor") for w in _all(FLOOR_WORDS)})
    table.update({w: Sense("no_floor") for w in _all(NO_FLOOR_WORDS)})
    for syn, sense in _verb_table():
        for phrase in _all(syn):
            table[phrase] = sense
            table.setdefault(plural(phrase), sense)
            if not phrase.startswith("does "):
                table.setdefault(gerund(phrase), sense)
    table.update(PARSER_ONLY)
    return {tuple(phrase.replace("-", " ").split()): sense for phrase, sense in table.items()}


def heldout_phrases() -> set[str]:
    """Every phrase that only held-out captions may contain (for the split's tests and docs)."""
    verbs = {p for syn, _ in _verb_table() for p in syn[1]}
    words: list[Synonyms] = [BACKGROUND_NOUNS, CAMERA_NOUNS, FLOOR_WORDS, NO_FLOOR_WORDS]
    for table in (COLOR_WORDS, BACKGROUND_WORDS, SIZE_WORDS, DIRECTION_WORDS, SPEED_WORDS):
        words.extend(table.values())
    nouns = {p for syn in SHAPE_WORDS.values() for p in syn[1]}
    return (
        verbs
        | {plural(p) for p in verbs}
        | {p for syn in words for p in syn[1]}
        | nouns
        | {plural_noun(p) for p in nouns}
    )
