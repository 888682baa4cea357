"""`cineflow demo --out DIR`: generated clips with a model, rendered Flatland clips without one."""

from __future__ import annotations

import csv

import pytest

import cineflow.pipeline
from cineflow.cli import main
from cineflow.config import TextConfig, VAEConfig
from cineflow.io import probe
from cineflow.models.dit import PRESETS
from cineflow.pipeline import Pipeline, PipelineConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def test_demo_generates_with_a_model(tmp_path, capsys):
    vae = VAEConfig(latent_channels=4, base_channels=8, channel_mult=(1, 1, 1))
    defaults = PipelineConfig(num_frames=5, height=16, width=16, num_inference_steps=2)
    model = tmp_path / "model"
    Pipeline.from_configs(
        vae, PRESETS["debug"], TextConfig(name="random", dim=384), defaults
    ).save_pretrained(model)
    assert main(["demo", "--out", str(tmp_path / "demo"), "--n", "2", "--model", str(model)]) == 0
    rows = list(csv.DictReader((tmp_path / "demo" / "captions.csv").open()))
    assert [r["path"] for r in rows] == ["clip_00.mp4", "clip_01.mp4"]
    assert probe(tmp_path / "demo" / "clip_01.mp4").frames == 5
    assert "clip_01.mp4" in (tmp_path / "demo" / "index.html").read_text()
    assert "clip_01.mp4:" in capsys.readouterr().out


def test_demo_renders_flatland_without_a_bundled_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cineflow.pipeline, "BUNDLED", tmp_path / "no-model")
    assert main(["demo", "--out", str(tmp_path / "demo"), "--n", "2"]) == 0
    assert "no bundled model" in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "demo" / "captions.csv").open()))
    assert len(rows) == 2 and all(r["text"] for r in rows)
    info = probe(tmp_path / "demo" / rows[0]["path"])
    assert (info.frames, info.height, info.width) == (17, 64, 64)


def test_demo_bad_input_exits_2(tmp_path):
    assert main(["demo", "--out", str(tmp_path / "d"), "--n", "0"]) == 2
    assert main(["demo", "--out", str(tmp_path / "d"), "--model", str(tmp_path / "none")]) == 2
