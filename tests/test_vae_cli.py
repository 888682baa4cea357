"""`cineflow vae roundtrip`: writes the reconstruction, prints PSNR/SSIM, snaps sizes, refuses bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cineflow import io
from cineflow.cli import main
from cineflow.models.vae import save_vae
from tests.test_vae_model import make_vae

BUNDLED = Path(__file__).resolve().parents[1] / "cineflow" / "assets" / "default" / "vae"


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    save_vae(make_vae(), tmp_path / "vae")
    return tmp_path / "vae"


def test_roundtrip_writes_video_and_prints_quality(tmp_path: Path, model: Path, capsys) -> None:
    frames = np.random.default_rng(0).integers(0, 255, (7, 20, 16, 3), dtype=np.uint8)
    io.write_video(tmp_path / "in.mp4", frames, 8)
    assert (
        main(
            [
                "vae",
                "roundtrip",
                str(tmp_path / "in.mp4"),
                "-o",
                str(tmp_path / "out.mp4"),
                "--model",
                str(model),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "PSNR" in captured.out and "SSIM" in captured.out
    assert "trimmed to 5x16x16" in captured.err  # 7 frames -> 1 + 4k; 20 rows -> a multiple of 8
    info = io.probe(tmp_path / "out.mp4")
    assert (info.frames, info.height, info.width) == (5, 16, 16)


def test_roundtrip_of_an_image(tmp_path: Path, model: Path, capsys) -> None:
    io.write_video(tmp_path / "in.png", np.full((1, 16, 24, 3), 128, dtype=np.uint8), 1)
    assert (
        main(
            [
                "vae",
                "roundtrip",
                str(tmp_path / "in.png"),
                "-o",
                str(tmp_path / "out.png"),
                "--model",
                str(model),
            ]
        )
        == 0
    )
    assert io.read_video(tmp_path / "out.png").frames.shape == (1, 16, 24, 3)


def test_roundtrip_refuses_bad_input(tmp_path: Path, model: Path, capsys) -> None:
    assert main(["vae", "roundtrip", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "o.mp4")]) == 2
    assert capsys.readouterr().err.count("\n") == 1  # one line, no traceback
    io.write_video(tmp_path / "in.png", np.zeros((1, 16, 16, 3), dtype=np.uint8), 1)
    args = [
        "vae",
        "roundtrip",
        str(tmp_path / "in.png"),
        "-o",
        str(tmp_path / "o.png"),
        "--model",
        str(model),
    ]
    assert main([*args, "--tile", "100"]) == 2
    assert "--tile" in capsys.readouterr().err
    assert (
        main(
            [
                "vae",
                "roundtrip",
                str(tmp_path / "in.png"),
                "-o",
                str(tmp_path / "o.png"),
                "--model",
                str(tmp_path),
            ]
        )
        == 2
    )


def test_bundled_vae_reconstructs_flatland(tmp_path: Path, capsys) -> None:
    from cineflow.world.stream import make_clip

    frames = make_clip(424242, 0).frames  # an unseen clip (training used stream 0)
    io.write_video(tmp_path / "clip.mp4", frames, 8)
    assert main(["vae", "roundtrip", str(tmp_path / "clip.mp4"), "-o", str(tmp_path / "out.mp4")]) == 0
    psnr = float(capsys.readouterr().out.split("PSNR ")[1].split(" dB")[0])
    # A regression guard (random init gives 12-15 dB); docs/vae.md has the measured figures.
    assert psnr >= 20.0
