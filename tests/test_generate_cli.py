"""`cineflow generate` end to end on a debug model folder; refusals exit 2 with one line, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cineflow.cli import main
from cineflow.config import TextConfig, VAEConfig
from cineflow.io import probe
from cineflow.models.dit import PRESETS
from cineflow.pipeline import Pipeline, PipelineConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A debug model folder: tiny random VAE + debug DiT + random text encoder, 16x16 by default."""
    vae = VAEConfig(latent_channels=4, base_channels=8, channel_mult=(1, 1, 1))
    defaults = PipelineConfig(num_frames=5, height=16, width=16, num_inference_steps=2, guidance_scale=2.0)
    folder = tmp_path_factory.mktemp("model") / "debug"
    Pipeline.from_configs(
        vae, PRESETS["debug"], TextConfig(name="random", dim=384), defaults
    ).save_pretrained(folder)
    return str(folder)


def test_generates_an_mp4_with_the_model_defaults(model_dir, tmp_path, capsys):
    out = tmp_path / "ball.mp4"
    assert main(["generate", "a red ball bounces", "-o", str(out), "--model", model_dir]) == 0
    info = probe(out)
    assert (info.frames, info.height, info.width, info.fps) == (5, 16, 16, 8.0)
    assert "wrote" in capsys.readouterr().out


def test_seconds_and_fps_set_the_duration_and_snapping_is_reported(model_dir, tmp_path, capsys):
    out = tmp_path / "ball.gif"
    args = ["generate", "a red ball", "-o", str(out), "--model", model_dir, "--seconds", "1", "--fps", "4"]
    assert main([*args, "--height", "20", "--width", "32", "--seed", "7", "--steps", "1"]) == 0
    err = capsys.readouterr().err
    assert "snapped height 20 -> 16" in err
    info = probe(out)
    assert (info.frames, info.height, info.width) == (5, 16, 32)  # 1 s at 4 fps = 5 frames


def test_one_frame_png(model_dir, tmp_path):
    out = tmp_path / "still.png"
    assert main(["generate", "a green star", "-o", str(out), "--model", model_dir, "--frames", "1"]) == 0
    assert probe(out).frames == 1


BAD = [
    (["   "], "PROMPT"),
    (["x", "--frames", "0"], "--frames"),
    (["x", "--frames", "-3"], "--frames"),
    (["x", "--frames", "100000"], "num_frames"),
    (["x", "--height", "0"], "--height"),
    (["x", "--width", "5000"], "width"),
    (["x", "--steps", "0"], "--steps"),
    (["x", "--guidance", "nan"], "guidance_scale"),
    (["x", "--seconds", "-1"], "--seconds"),
    (["x", "--fps", "0"], "--fps"),
    (["x", "--seed", "-2"], "--seed"),
    (["x", "--model", "/nonexistent/model"], "--model"),
]


@pytest.mark.parametrize(("args", "name"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(model_dir, tmp_path, capsys, args, name):
    prompt, *rest = args
    if "--model" not in rest:
        rest += ["--model", model_dir]
    code = main(["generate", prompt, "-o", str(tmp_path / "o.mp4"), *rest])
    err = capsys.readouterr().err
    assert code == 2
    assert name in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


def test_bad_output_suffix_and_png_with_many_frames(model_dir, tmp_path, capsys):
    assert main(["generate", "x", "-o", str(tmp_path / "o.avi"), "--model", model_dir]) == 2
    assert main(["generate", "x", "-o", str(tmp_path / "o.png"), "--model", model_dir]) == 2
    err = capsys.readouterr().err
    assert "suffix" in err and ".png holds one frame" in err


def test_argparse_errors_and_the_real_entry_point_exit_2(tmp_path):
    run = [sys.executable, "-m", "cineflow", "generate"]
    missing_out = subprocess.run([*run, "a ball"], capture_output=True, text=True)
    not_a_number = subprocess.run(
        [*run, "a", "-o", "x.mp4", "--frames", "many"], capture_output=True, text=True
    )
    for result in (missing_out, not_a_number):
        assert result.returncode == 2 and "Traceback" not in result.stderr
