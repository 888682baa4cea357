"""`cineflow eval`: a tiny end-to-end run writes the report; user errors exit 2 with one line."""

from __future__ import annotations

import json

import pytest

from cineflow.cli import main
from cineflow.config import TextConfig, VAEConfig
from cineflow.models.dit import PRESETS
from cineflow.pipeline import Pipeline, PipelineConfig

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models

TINY = ["--seeds", "1", "--limit", "2", "--size", "32", "--frames", "5", "--steps", "1"]


@pytest.fixture(scope="module")
def debug_model(tmp_path_factory):
    """A random debug model folder (tiny VAE, debug DiT, random text encoder)."""
    vae = VAEConfig(latent_channels=4, base_channels=8, channel_mult=(1, 1, 1))
    pipe = Pipeline.from_configs(vae, PRESETS["debug"], TextConfig(name="random", dim=384), PipelineConfig())
    folder = tmp_path_factory.mktemp("model") / "debug"
    pipe.save_pretrained(folder)
    return folder


def test_model_floor_and_ceiling_in_one_report(debug_model, tmp_path, capsys):
    out = tmp_path / "report.json"
    args = ["eval", "--suite", "counting,images", "--model", str(debug_model), "--out", str(out)]
    assert main([*args, "--floor-model", str(debug_model), "--ceiling", *TINY]) == 0
    data = json.loads(out.read_text())
    assert set(data["sources"]) == {"model", "floor", "ceiling"}
    assert data["sources"]["model"]["path"] == str(debug_model.resolve())
    assert data["settings"]["seeds"] == 1 and data["settings"]["width"] == 32
    assert list(data["suites"]) == ["counting", "images"]
    assert len(data["cases"]) == 4 and all(set(c["results"]) == set(data["sources"]) for c in data["cases"])
    # the floor is the same folder here, so the model gains nothing over it
    gain = data["suites"]["counting"]["differences"]["model - floor"]["case"]
    assert gain["diff"] == 0 and gain["ci95"][0] < 0 < gain["ci95"][1]
    assert "model - floor" in out.with_suffix(".md").read_text()
    assert len(list((tmp_path / "report_strips").glob("*.png"))) == 4
    assert "wrote" in capsys.readouterr().out


def test_ceiling_alone_needs_no_model_and_is_deterministic(tmp_path):
    reports = []
    for k in range(2):
        out = tmp_path / f"r{k}.json"
        assert main(["eval", "--suite", "paraphrase", "--ceiling", "--out", str(out), *TINY[:4]]) == 0
        reports.append(json.loads(out.read_text()))
    assert set(reports[0]["sources"]) == {"ceiling"}
    assert [c["split"] for c in reports[0]["cases"]] == ["heldout", "train"]  # one scene asked both ways
    assert "ceiling" in reports[0]["suites"]["paraphrase"]["differences"]["heldout - train"]
    a, b = ([{k: v for k, v in c.items() if k != "strip"} for c in r["cases"]] for r in reports)
    assert a == b and a  # the strips are named after each report


def test_a_rerun_takes_its_videos_from_the_cache(debug_model, tmp_path, monkeypatch, capsys):
    out = tmp_path / "report.json"
    args = ["eval", "--suite", "motion", "--model", str(debug_model), "--out", str(out), *TINY]
    assert main(args) == 0
    first = json.loads(out.read_text())
    assert len(list((tmp_path / "report_cache").glob("*.npz"))) == 2

    def no_generation(*a, **k):
        raise AssertionError("generated again")

    monkeypatch.setattr(Pipeline, "__call__", no_generation)
    assert main(args) == 0
    assert "[2 videos from the cache]" in capsys.readouterr().err
    assert json.loads(out.read_text())["cases"] == first["cases"]
    with pytest.raises(AssertionError, match="generated again"):  # --no-cache generates
        main([*args, "--no-cache"])


def test_vae_ceiling_is_the_renders_through_the_models_vae(debug_model, tmp_path):
    from PIL import Image

    out = tmp_path / "report.json"
    args = ["eval", "--suite", "images", "--model", str(debug_model), "--out", str(out)]
    assert main([*args, "--vae-ceiling", "--ceiling", *TINY]) == 0
    data = json.loads(out.read_text())
    assert list(data["sources"]) == ["model", "vae_ceiling", "ceiling"]
    vae = data["sources"]["vae_ceiling"]
    assert vae["path"] == str((debug_model / "vae").resolve()) and len(vae["weights_sha256"]) == 64
    rates = data["suites"]["images"]["accuracy"]
    assert rates["ceiling"]["case"]["rate"] == 1.0
    # a random VAE blurs every render into something the oracle cannot read
    assert rates["vae_ceiling"]["case"]["rate"] < rates["ceiling"]["case"]["rate"]
    assert "case" in data["suites"]["images"]["differences"]["vae_ceiling - ceiling"]
    assert "| suite | cases | model | vae_ceiling | ceiling | vae_ceiling - ceiling |" in (
        out.with_suffix(".md").read_text()
    )
    assert "--vae-ceiling --ceiling" not in data["settings"]["command"]  # no empty argument written
    assert "--vae-ceiling" in data["settings"]["command"]
    # strips: one row per source (32 px frames scaled 2x, rows 2 px apart)
    for case in data["cases"]:
        assert Image.open(tmp_path / case["strip"]).height == 2 * (3 * 32 + 2 * 2)


def test_vae_ceiling_alone_runs_no_model_and_defaults_to_the_bundled_vae(tmp_path, monkeypatch):
    def no_generation(*a, **k):
        raise AssertionError("a model generated")

    monkeypatch.setattr(Pipeline, "__call__", no_generation)
    out = tmp_path / "report.json"
    assert main(["eval", "--suite", "images", "--vae-ceiling", "--out", str(out), *TINY[:4]]) == 0
    data = json.loads(out.read_text())
    assert list(data["sources"]) == ["vae_ceiling"]
    assert data["sources"]["vae_ceiling"]["path"].endswith("cineflow/assets/default/vae")


@pytest.mark.parametrize(
    ("extra", "word"),
    [
        (["--suite", "colour"], "--suite"),
        (["--suite", "motion", "--vae-ceiling", "/nonexistent/vae"], "VAE folder"),
        (["--suite", "motion", "--model", "/nonexistent/model"], "model folder"),
        (["--suite", "motion", "--ceiling", "--floor-model", "/nonexistent/floor"], "model folder"),
        (["--ceiling", "--seeds", "0"], "--seeds"),
        (["--ceiling", "--limit", "0"], "--limit"),
        (["--ceiling", "--size", "8"], "--size"),
        (["--ceiling", "--frames", "482"], "--frames"),
        (["--ceiling", "--threads", "0"], "--threads"),
    ],
)
def test_user_errors_exit_2_with_one_line(extra, word, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["eval", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert word in err and "\n" not in err and "Traceback" not in err
    assert not out.exists()


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["eval", "--seeds", "four"])
    assert e.value.code == 2
