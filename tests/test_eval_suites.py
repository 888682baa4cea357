"""Suites: each case list covers what its suite names, uses held-out captions, and is a pure function of
(suite, seed)."""

from __future__ import annotations

import pytest

from cineflow.eval.suites import SUITES, build_cases, suite_cases
from cineflow.world import vocab
from cineflow.world.captions import TEMPLATES
from cineflow.world.sample import CAMERA_MOVES

SMALL = {"width": 32, "height": 32, "num_frames": 9}
SPLIT_OF = {t.id: t.split for family in TEMPLATES.values() for t in family}


@pytest.fixture(scope="module")
def cases():
    return {name: suite_cases(name, 0, **SMALL) for name in SUITES}


def _claimed(cases, field):
    return {getattr(o, field) for c in cases for o in c.claims.objects}


def _events(cases):
    return {e.kind for c in cases for e in c.claims.events}


def test_every_suite_has_cases_and_every_prompt_parses_fully(cases):
    for name, suite_list in cases.items():
        assert len(suite_list) == len(SUITES[name].variants) * len(SUITES[name].splits), name
        for case in suite_list:
            assert case.claims.objects, case.id
            assert case.claims.unknown_words == (), (case.id, case.prompt)
            assert len(case.claims.objects) == len(case.spec.objects), (case.id, case.prompt)


def test_prompts_use_held_out_templates_only(cases):
    for suite_list in cases.values():
        for case in suite_list:
            assert case.templates, case.id
            assert {SPLIT_OF[t] for t in case.templates} == {case.split}, (case.id, case.templates)
            if case.suite != "paraphrase":
                assert case.split == "heldout"


def test_attributes_state_colour_shape_and_size_of_every_object(cases):
    for case in cases["attributes"]:
        for o in case.claims.objects:
            assert None not in (o.color, o.shape, o.size), (case.id, case.prompt)
    assert len(_claimed(cases["attributes"], "size")) >= 2  # not one size stated everywhere


def test_counting_covers_one_to_four_objects(cases):
    assert sorted(len(c.spec.objects) for c in cases["counting"]) == [1, 2, 3, 4]


def test_motion_covers_every_motion_of_the_vocabulary(cases):
    assert _claimed(cases["motion"], "motion") >= set(vocab.MOTIONS)
    for case in cases["motion"]:  # the scenario's motion is the one the first object has
        assert case.spec.objects[0].motion == case.variant


def test_physics_states_falls_bounces_and_collisions(cases):
    assert "fall" in _claimed(cases["physics"], "motion")
    assert _events(cases["physics"]) >= {"bounce_floor", "bounce_wall", "collide"}


def test_occlusion_and_cause_effect_state_their_events(cases):
    for case in cases["occlusion"]:
        assert "occlude" in {e.kind for e in case.claims.events}, case.prompt
    for case in cases["cause_effect"]:
        assert "touch_change" in {e.kind for e in case.claims.events}, case.prompt
        assert any(o.final_color for o in case.claims.objects), case.prompt


def test_camera_covers_every_camera_move(cases):
    assert {c.claims.camera for c in cases["camera"]} == set(CAMERA_MOVES)


def test_paraphrase_asks_each_scene_in_both_splits(cases):
    para = cases["paraphrase"]
    by_index: dict[int, list] = {}
    for case in para:
        by_index.setdefault(case.index, []).append(case)
    for pair in by_index.values():
        assert [c.split for c in pair] == ["heldout", "train"]
        assert pair[0].spec == pair[1].spec and pair[0].gen_seed == pair[1].gen_seed
        assert pair[0].prompt != pair[1].prompt


def test_images_are_one_frame_with_no_motion_claimed(cases):
    for case in cases["images"]:
        assert case.spec.num_frames == 1
        assert _claimed([case], "motion") == {None} and case.claims.camera is None


def test_case_list_is_a_pure_function_of_suite_and_seed():
    a, b = suite_cases("physics", 3, **SMALL), suite_cases("physics", 3, **SMALL)
    assert [c.to_dict() for c in a] == [c.to_dict() for c in b]
    other = suite_cases("physics", 4, **SMALL)
    assert [c.prompt for c in a] != [c.prompt for c in other]
    # the same index in another suite draws from another generator
    assert suite_cases("attributes", 3, **SMALL)[0].prompt != suite_cases("motion", 3, **SMALL)[0].prompt


def test_build_cases_is_seed_major_and_limited():
    built = build_cases(["camera"], 2, limit=5, **SMALL)["camera"]
    assert [c.id for c in built] == ["camera/0/0", "camera/0/1", "camera/0/2", "camera/0/3", "camera/1/0"]


@pytest.mark.parametrize(
    ("call", "word"),
    [
        (lambda: suite_cases("nope", 0), "suite"),
        (lambda: suite_cases("motion", -1), "seed"),
        (lambda: build_cases(["motion"], 0), "seeds"),
        (lambda: build_cases(["motion"], 1, limit=0), "limit"),
    ],
)
def test_bad_arguments_are_refused_by_name(call, word):
    with pytest.raises(ValueError, match=word):
        call()
