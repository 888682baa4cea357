"""The model folder: save_pretrained / from_pretrained round trip, layout, and refusals."""

from __future__ import annotations

import json
import os

import pytest
import torch

from cineflow.config import TextConfig, VAEConfig
from cineflow.models.dit import PRESETS
from cineflow.pipeline import MODEL_INDEX, Pipeline, PipelineConfig

pytestmark = pytest.mark.usefixtures("one_thread")


DEBUG_VAE = VAEConfig(latent_channels=4, base_channels=8, channel_mult=(1, 1, 1))
RANDOM_TEXT = TextConfig(name="random", dim=384)


@pytest.fixture(scope="module")
def debug_model(tmp_path_factory):
    """A debug model folder: tiny random VAE + debug DiT + random text encoder."""
    pipe = Pipeline.from_configs(
        DEBUG_VAE, PRESETS["debug"], RANDOM_TEXT, PipelineConfig(num_inference_steps=3)
    )
    with torch.no_grad():  # a non-zero transformer, so that the round trip has something to lose
        for p in pipe.transformer.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.05)
    folder = tmp_path_factory.mktemp("model") / "debug"
    pipe.save_pretrained(folder)
    return pipe, folder


def test_layout_names_each_component(debug_model):
    _, folder = debug_model
    index = json.loads((folder / MODEL_INDEX).read_text())
    assert index["transformer"] == ["cineflow.models.dit", "VideoDiT"]
    assert index["pipeline"]["num_inference_steps"] == 3
    for name in ("vae", "transformer", "text_encoder"):
        assert (folder / name / "config.json").is_file()
        assert list((folder / name).glob("*.safetensors")), name
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))
    assert folder.stat().st_mode & 0o755 == 0o755  # readable by everyone, not a private temp folder


def test_every_file_gets_the_umask_permissions(debug_model, tmp_path):
    """safetensors' writer makes private (0600) files; a model folder is for every user to read."""
    pipe, _ = debug_model
    old = os.umask(0o022)
    try:
        pipe.save_pretrained(tmp_path / "m")
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "m").rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files)
    assert {p.relative_to(tmp_path).as_posix(): oct(p.stat().st_mode & 0o777) for p in files} == {
        p.relative_to(tmp_path).as_posix(): oct(0o644) for p in files
    }


def test_round_trip_is_bit_exact(debug_model):
    pipe, folder = debug_model
    loaded = Pipeline.from_pretrained(folder)
    for name in ("vae", "transformer", "text_encoder"):
        a, b = getattr(pipe, name).state_dict(), getattr(loaded, name).state_dict()
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}.{key}"
    kwargs = {"num_frames": 5, "height": 16, "width": 16, "seed": 3, "progress": False}
    assert (pipe("a red ball", **kwargs).frames == loaded("a red ball", **kwargs).frames).all()


def test_save_over_an_existing_folder_replaces_it(debug_model, tmp_path):
    pipe, _ = debug_model
    folder = tmp_path / "m"
    pipe.save_pretrained(folder)
    (folder / "stale.txt").write_text("from before")
    pipe.save_pretrained(folder)
    assert not (folder / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temp folders left behind


def test_minilm_is_named_not_copied(debug_model, tmp_path, monkeypatch):
    pipe, _ = debug_model
    monkeypatch.setattr(pipe.text_encoder, "cfg", TextConfig(name="minilm"))
    pipe.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "text_encoder" / "config.json").read_text())["name"] == "minilm"
    assert not list((tmp_path / "m" / "text_encoder").glob("*.safetensors"))


def test_refuses_a_folder_that_is_not_a_model(tmp_path, debug_model):
    with pytest.raises(FileNotFoundError, match=r"model_index\.json"):
        Pipeline.from_pretrained(tmp_path)
    _, folder = debug_model
    bad = tmp_path / "bad"
    Pipeline.from_pretrained(folder).save_pretrained(bad)
    index = json.loads((bad / MODEL_INDEX).read_text())
    index["transformer"] = ["os", "system"]  # a folder must never choose code to import
    (bad / MODEL_INDEX).write_text(json.dumps(index))
    with pytest.raises(ValueError, match="transformer"):
        Pipeline.from_pretrained(bad)


def test_missing_weights_is_a_clear_error(tmp_path, debug_model):
    _, folder = debug_model
    copy = tmp_path / "copy"
    Pipeline.from_pretrained(folder).save_pretrained(copy)
    (copy / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="safetensors"):
        Pipeline.from_pretrained(copy)


def test_weights_that_do_not_fit_the_architecture_are_a_clear_error(tmp_path, debug_model):
    from safetensors.torch import load_file, save_file

    _, folder = debug_model
    copy = tmp_path / "copy"
    Pipeline.from_pretrained(folder).save_pretrained(copy)
    weights = copy / "transformer" / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    state["renamed.weight"] = state.pop("x_embedder.weight")
    save_file(state, weights)
    with pytest.raises(ValueError, match="do not fit the architecture"):
        Pipeline.from_pretrained(copy)
