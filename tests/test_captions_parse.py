"""The prompt parser on users' prompts: claims, unknown words, errors, every phrase of the lexicon."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cineflow.world import lexicon, vocab
from cineflow.world.parse import parse_prompt, segment, vocabulary_help
from cineflow.world.scene import Claims, EventClaim, ObjectClaim


def test_a_small_green_star_falls_and_bounces():
    assert parse_prompt("a small green star falls and bounces") == Claims(
        objects=(ObjectClaim(color="green", shape="star", size="small", motion="fall"),),
        events=(EventClaim("bounce_floor", (0,)),),
    )


def test_two_red_balls_move_right():
    ball = ObjectClaim(color="red", shape="circle", motion="right")
    assert parse_prompt("Two red balls move right.") == Claims(objects=(ball, ball))
    assert parse_prompt("2 red balls move right").objects == (ball, ball)


def test_background_and_camera():
    claims = parse_prompt("a blue square on a gray background, the camera pans left")
    assert claims == Claims(
        objects=(ObjectClaim(color="blue", shape="square"),), background="gray", camera="pan_left"
    )
    claims = parse_prompt("A red ball bounces on a grey floor. Static camera.")
    assert (claims.objects[0].motion, claims.background, claims.floor, claims.camera) == (
        "bounce",
        "gray",
        True,
        "static",
    )
    assert parse_prompt("a white star, the view zooms in").camera == "zoom_in"
    assert parse_prompt("a white star spins while the camera stays still").camera == "static"
    assert parse_prompt("a white star spins while the camera stays still").objects[0].motion == "spin"


def test_touch_and_colour_change_is_cause_and_effect():
    claims = parse_prompt("the red ball hits the blue box and the box turns red")
    assert claims.objects[1] == ObjectClaim(color="blue", shape="square", final_color="red")
    assert claims.events == (EventClaim("touch_change", (0, 1)),)
    # without the change the contact is a collision
    assert parse_prompt("the red ball hits the blue box").events == (EventClaim("collide", (0, 1)),)
    assert parse_prompt("A red ball and a blue box collide").events == (EventClaim("collide", (0, 1)),)
    claims = parse_prompt("a red ball and a blue ball collide and the blue ball turns red")
    assert claims.events == (EventClaim("touch_change", (0, 1)),)


def test_occlusion_keeps_who_is_in_front():
    front = parse_prompt("a red ball passes in front of a blue box")
    behind = parse_prompt("a blue box passes behind a red ball")
    assert front.events == (EventClaim("occlude", (0, 1)),)
    assert behind.events == (EventClaim("occlude", (1, 0)),)


def test_bare_bounces_depends_on_the_motion():
    assert parse_prompt("a red ball bounces").objects[0].motion == "bounce"
    assert parse_prompt("a red ball moves left and bounces").events == (EventClaim("bounce_wall", (0,)),)
    assert parse_prompt("a fast red ball falls and bounces off a wall").events == (
        EventClaim("bounce_wall", (0,)),
    )


def test_coordinated_subjects_share_the_verb():
    claims = parse_prompt("a red ball and a large blue box slowly move up and to the left")
    assert [(o.motion, o.speed) for o in claims.objects] == [("up_left", "slow")] * 2
    assert claims.objects[1].size == "large"


def test_references_resolve_by_attributes_and_ordinals():
    claims = parse_prompt(
        "A red ball moves left. A red ball moves right. The second red ball hits the first red ball."
    )
    assert len(claims.objects) == 2
    assert claims.events == (EventClaim("collide", (0, 1)),)
    claims = parse_prompt("A red ball moves left. The red ball hits a blue star, which turns red.")
    assert len(claims.objects) == 2 and claims.objects[1].final_color == "red"


def test_users_participles_are_understood():
    claims = parse_prompt("a red ball moving left quickly and a blue box hitting a falling green star")
    assert [o.motion for o in claims.objects] == ["left", None, "fall"]
    assert claims.objects[0].speed == "fast"
    assert claims.events == (EventClaim("collide", (1, 2)),)
    assert parse_prompt("a star spinning in place, the camera zooming in").camera == "zoom_in"


def test_tokenizer_handles_case_hyphens_and_contractions():
    claims = parse_prompt("A RED Ball doesn't move; a tiny purple box moves up-left")
    assert [o.motion for o in claims.objects] == ["still", "up_left"]
    assert claims.objects[1].size == "small"


def test_unknown_words_are_reported_not_ignored():
    claims = parse_prompt("a red ball dances happily near a huge dragon")
    assert claims.unknown_words == ("dances", "happily", "near", "dragon")
    assert claims.objects[0] == ObjectClaim(color="red", shape="circle")
    assert parse_prompt("the ball is a red ball and a").unknown_words == ()


def test_an_unknown_noun_is_reported_and_not_its_known_adjectives():
    claims = parse_prompt("a red dragon and a blue ball")
    assert claims.unknown_words == ("dragon",)
    assert claims.objects == (ObjectClaim(color="blue", shape="circle"),)
    with pytest.raises(ValueError, match=r"\(unknown words: dragon\)"):
        parse_prompt("a huge red dragon")
    # the dragon's words describe no object: they do not carry over to the next noun phrase
    assert parse_prompt("two red dragons and a ball").objects == (ObjectClaim(shape="circle"),)
    # an unknown word followed by more of the phrase was an adjective: the noun keeps the known ones
    claims = parse_prompt("a red shiny big ball")
    assert claims.unknown_words == ("shiny",)
    assert claims.objects == (ObjectClaim(color="red", shape="circle", size="large"),)


def test_no_object_is_an_error_that_lists_the_vocabulary():
    with pytest.raises(ValueError, match="no object recognised") as info:
        parse_prompt("a purple dog jumps")
    assert "dog" in str(info.value) and "shapes:" in str(info.value)
    for colour in vocab.COLORS:
        assert colour in vocabulary_help()
    with pytest.raises(ValueError, match="object colour"):
        parse_prompt("a red ball on a white background")
    with pytest.raises(ValueError, match="1 to 4 objects"):
        parse_prompt("four red balls and a blue box")
    assert parse_prompt("a ball, the camera pans left slowly").unknown_words == ("slowly",)


def test_every_lexicon_phrase_means_what_the_table_says():
    for shape, (train, held) in lexicon.SHAPE_WORDS.items():
        for word in train + held:
            assert parse_prompt(f"a {word}").objects[0].shape == shape, word
            assert len(parse_prompt(f"three {lexicon.plural_noun(word)}").objects) == 3
    for table, field in (
        (lexicon.COLOR_WORDS, "color"),
        (lexicon.SIZE_WORDS, "size"),
        (lexicon.MOTION_PHRASES, "motion"),
        (lexicon.SPEED_WORDS, "speed"),
    ):
        for value, (train, held) in table.items():
            for phrase in train + held:
                text = f"a {phrase} ball" if field in ("color", "size") else f"a ball {phrase}"
                assert getattr(parse_prompt(text).objects[0], field) == value, text
                if field == "motion":
                    assert parse_prompt(f"two balls {lexicon.plural(phrase)}").objects[1].motion == value
    for direction, (train, held) in lexicon.DIRECTION_WORDS.items():
        for phrase in train + held:
            assert parse_prompt(f"a ball slides {phrase}").objects[0].motion == direction, phrase
    for move, (train, held) in lexicon.CAMERA_MOVES.items():
        for phrase in train + held:
            assert parse_prompt(f"a ball. the camera {phrase}").camera == move, phrase


_WORDS = sorted({w for phrase in lexicon.build_phrases() for w in phrase} | {"dog", ",", ".", "2"})


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=25))
def test_any_sequence_of_words_parses_or_raises_value_error(words):
    text = " ".join(words)
    try:
        claims = parse_prompt(text)
    except ValueError:
        return
    assert len(claims.objects) >= 1
    for event in claims.events:
        assert event.kind in vocab.EVENTS
        assert all(0 <= i < len(claims.objects) for i in event.objects)
    assert all(o.shape in (None, *vocab.SHAPES) for o in claims.objects)
    # no word outside the vocabulary is dropped, and only words of the text are reported
    known = {w for phrase in lexicon.build_phrases() for w in phrase} | {",", ".", "2"}
    assert {w for w in words if w not in known} <= set(claims.unknown_words)
    assert all(set(u.split()) <= set(words) for u in claims.unknown_words)


def test_segment_prefers_the_longest_phrase():
    phrases = [p for p, _ in segment("it moves up and to the left, then circles around")]
    assert phrases == ["it", "moves", "up and to the left", ",", "then", "circles around"]
