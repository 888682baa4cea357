"""Captions: claims of a scene, the caption -> parse round trip, the train/held-out split, determinism."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from cineflow.world import lexicon, physics, sample, vocab
from cineflow.world.captions import MAX_WORDS, TEMPLATES, caption, claims_from_scene, describe
from cineflow.world.parse import parse_prompt
from cineflow.world.scene import Annotations, Claims, Event, EventClaim, ObjectClaim, ObjectSpec, SceneSpec


def _scene(objects, events=(), **world) -> tuple[SceneSpec, Annotations]:
    spec = SceneSpec(tuple(ObjectSpec(**o) for o in objects), **world)
    return spec, Annotations(frames=(), events=tuple(Event(*e) for e in events))


# Hand-built scenes that exercise what sampled scenes rarely show: identical objects (groups, ordinals),
# every event kind, two touches of one object, floors and every camera.
HAND_BUILT = [
    _scene(
        [
            dict(color="red", shape="circle", motion="right"),
            dict(color="blue", shape="square", becomes="red"),
        ],
        [("collide", 5, (0, 1)), ("touch_change", 5, (0, 1), {"new_color": "red"})],
        background="gray",
        floor=True,
    ),
    _scene(
        [dict(color="red", shape="circle", motion="right", speed="fast")] * 2
        + [dict(color="green", shape="star", size="small", motion="fall")],
        [("bounce_floor", 9, (2,)), ("bounce_floor", 13, (2,))],
        camera="pan_left",
        floor=True,
    ),
    _scene(
        [
            dict(color="red", shape="circle", motion="left"),
            dict(color="red", shape="circle", motion="up_right"),
            dict(color="white", shape="triangle", motion="spin", speed="slow"),
        ],
        [("collide", 3, (1, 0)), ("occlude", 8, (2, 0)), ("bounce_wall", 10, (1,))],
        background="navy",
        camera="zoom_in",
    ),
    _scene(
        [
            dict(color="yellow", shape="star", size="large", motion="bounce"),
            dict(color="yellow", shape="star", size="small", motion="orbit", becomes="purple"),
            dict(color="purple", shape="square", motion="down_left", becomes="yellow"),
            dict(color="cyan", shape="triangle", motion="still", becomes="purple"),
        ],
        [
            ("touch_change", 2, (2, 1), {"new_color": "purple"}),
            ("touch_change", 4, (0, 2), {"new_color": "yellow"}),
            ("occlude", 6, (0, 3)),
            ("bounce_wall", 7, (0,)),
        ],
        background="brown",
        camera="zoom_out",
    ),
    _scene(
        [dict(color="orange", shape="square", size="large", motion="grow", speed="fast")],
        camera="pan_right",
    ),
    _scene(  # an image: 1 frame shows no motion, camera move or event
        [dict(color="blue", shape="square", motion="left"), dict(color="white", shape="star", motion="fall")],
        [("collide", 0, (0, 1))],
        camera="pan_left",
        num_frames=1,
    ),
    _scene(
        [
            dict(color="green", shape="triangle", motion="shrink"),
            dict(color="cyan", shape="circle", motion="up"),
        ],
        [("occlude", 4, (1, 0))],
        background="black",
        floor=True,
    ),
]


def _sampled(n: int, seed: int = 0) -> list[tuple[SceneSpec, Annotations]]:
    rng = np.random.default_rng(seed)
    scenes = []
    for k in range(n):
        scenario = sample.SCENARIOS[k % len(sample.SCENARIOS)]
        spec = sample.sample_scene(rng, scenario=scenario, width=32, height=32, num_frames=9)
        scenes.append((spec, physics.simulate(spec)))
    return scenes


@pytest.fixture(scope="module")
def scenes() -> list[tuple[SceneSpec, Annotations]]:
    return HAND_BUILT + _sampled(240)


def _is_part_of(said: Claims, full: Claims, order: tuple[int, ...]) -> bool:
    """Every claim in `said` (text order) is true of the scene (`full`, spec order)."""
    for k, claim in enumerate(said.objects):
        truth = full.objects[order[k]]
        if any(getattr(claim, f) not in (None, getattr(truth, f)) for f in claim.__dataclass_fields__):
            return False
    for name in ("background", "floor", "camera"):
        if getattr(said, name) not in (None, getattr(full, name)):
            return False
    for event in said.events:
        objects = tuple(order[k] for k in event.objects)
        objects = tuple(sorted(objects)) if event.kind == "collide" else objects
        if EventClaim(event.kind, objects) not in full.events:
            return False
    return True


def _random_scene(rng: np.random.Generator) -> tuple[SceneSpec, Annotations]:
    """A scene with few colours and shapes (so that objects share descriptions) and arbitrary events."""
    n = int(rng.integers(1, 5))
    objects = [
        dict(
            color=str(rng.choice(["red", "purple"])),
            shape=str(rng.choice(["circle", "star"])),
            size=str(rng.choice(list(vocab.SIZES))),
            motion=str(rng.choice(vocab.MOTIONS)),
            speed=str(rng.choice(list(vocab.SPEEDS))),
        )
        for _ in range(n)
    ]
    events = []
    for frame in range(int(rng.integers(0, 4))):
        kind = str(rng.choice(vocab.EVENTS))
        if kind.startswith("bounce"):
            events.append((kind, frame, (int(rng.integers(n)),)))
        elif n >= 2:
            a, b = (int(i) for i in rng.choice(n, 2, replace=False))
            events.append((kind, frame, (a, b), {"new_color": objects[a]["color"]}))
    return _scene(objects, events, background=str(rng.choice(list(vocab.BACKGROUNDS))),
                  floor=bool(rng.random() < 0.5), camera=str(rng.choice(vocab.CAMERAS)))  # fmt: skip


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_round_trip_on_scenes_where_objects_share_descriptions(split):
    rng = np.random.default_rng(11)
    for _ in range(300):
        spec, ann = _random_scene(rng)
        d = describe(spec, ann, rng, split)
        assert parse_prompt(d.text) == d.claims, d.text
        assert _is_part_of(d.claims, claims_from_scene(spec, ann), d.order), d.text


def test_claims_from_scene_states_every_object_and_what_happened():
    spec, ann = HAND_BUILT[0]
    claims = claims_from_scene(spec, ann)
    assert claims.objects == (
        ObjectClaim("red", "circle", "medium", "right", "normal", None),
        ObjectClaim("blue", "square", "medium", "still", None, "red"),  # a still object has no speed
    )
    # the contact that changed the box's colour is stated once, as the touch
    assert claims.events == (EventClaim("touch_change", (0, 1)),)
    assert (claims.background, claims.floor, claims.camera) == ("gray", True, "static")


def test_claims_from_scene_orders_events_and_keeps_the_last_colour():
    spec, ann = HAND_BUILT[3]
    claims = claims_from_scene(spec, ann)
    assert [o.final_color for o in claims.objects] == [None, "purple", "yellow", None]
    assert claims.events == (
        EventClaim("touch_change", (0, 2)),
        EventClaim("touch_change", (2, 1)),
        EventClaim("occlude", (0, 3)),
        EventClaim("bounce_wall", (0,)),
    )
    spec, ann = HAND_BUILT[2]
    assert claims_from_scene(spec, ann).events[0] == EventClaim("collide", (0, 1))  # sorted pair
    assert claims_from_scene(*HAND_BUILT[1]).objects[2].speed is None  # a fall is driven by gravity


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_round_trip_caption_parse_gives_the_claims_the_caption_made(scenes, split):
    rng = np.random.default_rng(1)
    for spec, ann in scenes:
        full = claims_from_scene(spec, ann)
        for _ in range(3 if (spec, ann) in HAND_BUILT else 1):
            d = describe(spec, ann, rng, split)
            assert parse_prompt(d.text) == d.claims, d.text
            assert sorted(d.order) == list(range(len(spec.objects)))
            assert _is_part_of(d.claims, full, d.order), d.text


def test_captions_name_every_object_its_motion_and_a_moving_camera(scenes):
    rng = np.random.default_rng(2)
    for spec, ann in scenes:
        d, full = describe(spec, ann, rng, "train"), claims_from_scene(spec, ann)
        assert len(d.claims.objects) == len(spec.objects)
        for k, claim in enumerate(d.claims.objects):
            obj = spec.objects[d.order[k]]
            assert (claim.color, claim.shape) == (obj.color, obj.shape)
            assert claim.motion == (obj.motion if spec.num_frames > 1 else None)
        if spec.camera != "static" and spec.num_frames > 1:
            assert d.claims.camera == spec.camera
        touches = [e for e in full.events if e.kind == "touch_change"]
        assert len([e for e in d.claims.events if e.kind == "touch_change"]) == len(touches)


def test_an_image_is_captioned_without_motion():
    spec, ann = HAND_BUILT[5]
    claims = claims_from_scene(spec, ann)
    assert [(o.motion, o.speed) for o in claims.objects] == [(None, None)] * 2
    assert (claims.camera, claims.events) == (None, ())
    rng = np.random.default_rng(12)
    for split in ("train", "heldout"):
        for _ in range(10):
            text = caption(spec, ann, rng, split)
            assert re.search(r"\b((is|are) (shown|pictured|visible)|there (is|are)|we see)\b", text, re.I), (
                text
            )
            assert not re.search(r"left|falls|drops|camera|collide", text), text


def test_a_caption_that_leaves_out_the_size_claims_no_size():
    spec, ann = HAND_BUILT[4]  # one object: its size is said only sometimes
    rng = np.random.default_rng(3)
    sizes = {describe(spec, ann, rng).claims.objects[0].size for _ in range(40)}
    assert sizes == {None, "large"}


def test_objects_that_share_colour_and_shape_are_told_apart():
    spec, ann = HAND_BUILT[3]  # two yellow stars: the size is always said
    rng = np.random.default_rng(4)
    for split in ("train", "heldout"):
        for _ in range(20):
            d = describe(spec, ann, rng, split)
            stars = [c for c in d.claims.objects if c.shape == "star"]
            assert {c.size for c in stars} == {"large", "small"}, d.text


def test_identical_objects_are_grouped_or_counted_by_ordinal():
    rng = np.random.default_rng(5)
    texts = [describe(*HAND_BUILT[1], rng).text.lower() for _ in range(30)]
    assert any(
        re.search(r"\b(there are )?two (medium |medium sized )?red (ball|circle|disc|sphere)s\b", t)
        for t in texts
    )
    texts = [describe(*HAND_BUILT[2], rng).text.lower() for _ in range(30)]
    assert any(re.search(r"\bthe (first|second) (medium |medium sized )?red", t) for t in texts)


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_captions_stay_short_for_the_text_encoder(scenes, split):
    rng = np.random.default_rng(6)
    lengths = [len(caption(s, a, rng, split).split()) for s, a in scenes]
    assert max(lengths) <= MAX_WORDS


def test_captions_are_deterministic_given_the_generator(scenes):
    for spec, ann in scenes[:40]:
        first = caption(spec, ann, np.random.default_rng(7), "heldout")
        assert caption(spec, ann, np.random.default_rng(7), "heldout") == first
    spec, ann = HAND_BUILT[3]
    rng = np.random.default_rng(8)
    assert len({caption(spec, ann, rng) for _ in range(20)}) >= 15  # and they vary


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_every_template_of_the_split_is_used_and_no_other(scenes, split):
    rng = np.random.default_rng(9)
    used = set()
    for _ in range(2):
        for spec, ann in scenes:
            used.update(describe(spec, ann, rng, split).templates)
    for _ in range(10):  # the one image
        used.update(describe(*HAND_BUILT[5], rng, split).templates)
    expected = {t.id for family in TEMPLATES.values() for t in family if t.split == split}
    assert used == expected


def test_train_captions_never_contain_a_held_out_phrase(scenes):
    held = {p.replace("-", " ") for p in lexicon.heldout_phrases()}
    frames = {"meanwhile", "watch", "we see", "at the same time", "collision", "eventually", "briefly",
              "set against", "colored", "as this happens", "shot with", "turning it", "when", "appears",
              "visible", ";"}  # fmt: skip
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, held | frames), key=len)[::-1]) + r")\b")
    rng = np.random.default_rng(10)
    seen_in_heldout = set()
    for spec, ann in scenes:
        text = caption(spec, ann, rng, "train").lower().replace("-", " ")
        assert pattern.search(text) is None, text
        seen_in_heldout.update(pattern.findall(caption(spec, ann, rng, "heldout").lower().replace("-", " ")))
    assert len(seen_in_heldout) >= 30  # the held-out captions do use them


def test_held_out_phrases_are_not_hidden_inside_training_phrases():
    held = {p.replace("-", " ") for p in lexicon.heldout_phrases()}
    table = lexicon.build_phrases()
    train = {" ".join(k) for k in table} - held
    for phrase in held:
        assert " ".join(phrase.split()) in {" ".join(k) for k in table}
        assert not any(re.search(rf"\b{re.escape(phrase)}\b", t) for t in train), phrase


def test_unknown_split_is_an_error():
    with pytest.raises(ValueError, match="split"):
        caption(*HAND_BUILT[0], np.random.default_rng(0), split="test")


def test_the_docs_list_every_frame_with_its_split_and_every_held_out_phrase():
    doc = (Path(__file__).parents[1] / "docs" / "captions.md").read_text()
    for family in TEMPLATES.values():
        for t in family:
            assert f"| `{t.id}` | {t.split} |" in doc, t.id
    tables = [lexicon.SHAPE_WORDS, lexicon.COLOR_WORDS, lexicon.SIZE_WORDS, lexicon.MOTION_PHRASES,
              lexicon.SPEED_WORDS, lexicon.CAMERA_MOVES, lexicon.SELF_EVENTS]  # fmt: skip
    for table in tables:
        for train, held in table.values():
            for phrase in train + held:
                assert phrase in doc, phrase
