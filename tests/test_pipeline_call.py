"""Pipeline.__call__: input checks before any work, snapping, callbacks, seeds, output and save."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from cineflow.config import TextConfig, VAEConfig
from cineflow.models.dit import PRESETS
from cineflow.pipeline import Pipeline, PipelineConfig

pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = {"num_frames": 5, "height": 16, "width": 16, "num_inference_steps": 2, "progress": False}


@pytest.fixture(scope="module")
def pipe():
    vae = VAEConfig(latent_channels=4, base_channels=8, channel_mult=(1, 1, 1))
    p = Pipeline.from_configs(vae, PRESETS["debug"], TextConfig(name="random", dim=384), PipelineConfig())
    with torch.no_grad():  # a transformer that does not output zeros, so seeds and prompts matter
        for q in p.transformer.parameters():
            q.add_(torch.randn(q.shape, generator=torch.Generator().manual_seed(q.numel())) * 0.1)
    return p


BAD = [
    ({"prompt": ""}, "prompt"),
    ({"prompt": "   \n"}, "prompt"),
    ({"prompt": None}, "prompt"),
    ({"negative_prompt": 3}, "negative_prompt"),
    ({"num_frames": 0}, "num_frames"),
    ({"num_frames": -5}, "num_frames"),
    ({"num_frames": 10_000}, "num_frames"),
    ({"num_frames": 5.0}, "num_frames"),
    ({"height": 0}, "height"),
    ({"width": -16}, "width"),
    ({"height": 4096}, "height"),
    ({"num_inference_steps": 0}, "num_inference_steps"),
    ({"num_inference_steps": 10_001}, "num_inference_steps"),
    ({"guidance_scale": math.nan}, "guidance_scale"),
    ({"guidance_scale": math.inf}, "guidance_scale"),
    ({"guidance_scale": -1.0}, "guidance_scale"),
    ({"seed": -1}, "seed"),
    ({"fps": 0}, "fps"),
    ({"boxes": [[0, 0, 1, 1]]}, "boxes"),
    ({"callback_on_step_end": 3}, "callback_on_step_end"),
    ({"conditions": [{"mask": 1}]}, "conditions"),
    ({"conditions": [{"image": np.zeros((16, 16, 3), np.float32)}]}, "conditions"),
    ({"conditions": [{"image": np.zeros((16, 16), np.uint8)}]}, "conditions"),
    ({"conditions": [{"image": np.zeros((16, 16, 3), np.uint8), "frame": 4}]}, "conditions"),
    ({"conditions": [{"video": np.zeros((5, 16, 16, 3), np.uint8)}]}, "conditions"),  # = num_frames
    ({"conditions": [{"video": np.zeros((2, 16, 16, 3), np.uint8)}]}, "conditions"),  # not 1 + 4j
]


@pytest.mark.parametrize(
    ("override", "name"),
    BAD,
    ids=[f"{name}-{i}" for i, (_, name) in enumerate(BAD)],
)
def test_bad_input_is_refused_before_any_work(pipe, monkeypatch, override, name):
    def no_work(*args, **kwargs):
        raise AssertionError("the text encoder ran before the inputs were checked")

    monkeypatch.setattr(pipe.text_encoder, "encode", no_work)
    kwargs = {"prompt": "a red ball", **SMALL, **override}
    with pytest.raises(ValueError, match=name):
        pipe(**kwargs)


def test_output_is_uint8_video_of_the_asked_size(pipe):
    out = pipe("a red ball bounces", **SMALL)
    assert out.frames.dtype == np.uint8 and out.frames.shape == (5, 16, 16, 3)
    assert out.fps == 8.0 and out.adjustments == []
    assert out.manifest["seed"] == 0 and len(out.manifest["weights_sha256"]) == 64
    assert "a red ball" not in str(out.manifest)  # the prompt is recorded only as a hash


def test_one_frame_is_an_image(pipe):
    assert pipe("a blue square", **{**SMALL, "num_frames": 1}).frames.shape == (1, 16, 16, 3)


def test_sizes_the_model_cannot_take_are_snapped_with_a_warning(pipe):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = pipe("a red ball", **{**SMALL, "num_frames": 7, "height": 20, "width": 40})
    assert out.frames.shape == (9, 16, 48, 3)  # ties snap up
    messages = " ".join(str(w.message) for w in caught)
    assert "num_frames 7 -> 9" in messages and "height 20 -> 16" in messages and "width 40 -> 48" in messages
    assert len(out.adjustments) == 3


def test_same_seed_same_video_other_seed_other_video(pipe):
    a = pipe("a red ball", **SMALL, seed=1).frames
    b = pipe("a red ball", **SMALL, seed=1).frames
    c = pipe("a red ball", **SMALL, seed=2).frames
    assert (a == b).all()
    assert not (a == c).all()


def test_guidance_uses_the_negative_prompt(pipe):
    a = pipe("a red ball", **SMALL, guidance_scale=5.0).frames
    b = pipe("a red ball", **SMALL, guidance_scale=5.0, negative_prompt="a green star").frames
    c = pipe("a red ball", **SMALL, guidance_scale=1.0, negative_prompt="a green star").frames
    d = pipe("a red ball", **SMALL, guidance_scale=1.0).frames
    assert not (a == b).all()
    assert (c == d).all()  # scale 1 is the conditional model alone


def test_callback_sees_every_step_with_decreasing_t(pipe):
    seen = []

    def callback(p, step, t, state):
        assert p is pipe
        seen.append((step, t, tuple(state["latents"].shape)))

    pipe("a red ball", **{**SMALL, "num_inference_steps": 4}, callback_on_step_end=callback)
    assert [s for s, _, _ in seen] == [0, 1, 2, 3]
    ts = [t for _, t, _ in seen]
    assert ts == sorted(ts, reverse=True) and ts[-1] == 0.0
    assert seen[0][2] == (1, 4, 2, 2, 2)


def test_a_callback_can_cancel(pipe):
    class CancelledError(Exception):
        pass

    def cancel(p, step, t, state):
        raise CancelledError

    with pytest.raises(CancelledError):
        pipe("a red ball", **SMALL, callback_on_step_end=cancel)


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_save_writes_a_readable_video(pipe, tmp_path, suffix):
    from cineflow.io import probe

    out = pipe("a red ball", **SMALL)
    path = tmp_path / f"out{suffix}"
    out.save(path)
    info = probe(path)
    assert (info.frames, info.height, info.width) == (5, 16, 16)


def test_an_image_condition_is_held_as_the_first_frame(pipe):
    from cineflow.io import to_tensor

    image = np.zeros((16, 16, 3), np.uint8)
    image[4:12, 4:12] = (230, 50, 50)
    seen = []
    kwargs = {**SMALL, "num_frames": 9}
    out = pipe(
        "a red square",
        **kwargs,
        conditions=[{"image": image}],
        callback_on_step_end=lambda *a: seen.append(a),
    )
    free = pipe("a red square", **kwargs)
    with torch.no_grad():
        z = pipe.vae.encode(to_tensor(image[None])[None])  # (1, c, 1, h, w)
    for _, _, _, state in seen:  # latent frame 0 is the encoded image after every step
        assert torch.equal(state["latents"][:, :, :1], z)
    assert not (out.frames == free.frames).all()
    assert out.frames.shape == (9, 16, 16, 3)


def test_a_condition_of_another_size_is_scaled_to_cover_with_a_note(pipe):
    image = np.full((40, 24, 3), 200, np.uint8)
    cond = [{"kind": "image", "frame": 0, "image": image}]  # the form the server sends
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = pipe("a ball", **{**SMALL, "num_frames": 9}, conditions=cond)
    assert out.adjustments == ["conditions image 24x40 -> 16x16 (cover, crop)"]
    assert any("conditions image" in str(w.message) for w in caught)


def test_long_videos_decode_in_exact_time_chunks(pipe):
    from cineflow.pipeline import decode_tiling

    assert decode_tiling((1, 4, 5, 8, 8)) == {}  # the default 17x64x64 clip: one piece
    assert decode_tiling((1, 4, 61, 8, 8)) == {"chunk_frames": 8}
    assert decode_tiling((1, 4, 5, 128, 96)) == {"tile_size": 64}
    out = pipe("a red ball", **{**SMALL, "num_frames": 41, "num_inference_steps": 1})  # 11 latent frames
    assert out.frames.shape == (41, 16, 16, 3)
