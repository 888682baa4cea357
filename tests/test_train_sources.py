"""`cineflow train` on the two other data sources: a dataset file and a latent cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cineflow.cli import main
from cineflow.config import VAEConfig
from cineflow.models.vae import VideoVAE, save_vae

pytestmark = pytest.mark.usefixtures("one_thread")


DEBUG = str(Path(__file__).resolve().parents[1] / "configs" / "debug.yaml")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, Path]:
    """(captions.csv of 3 Flatland clips 32x32x5, a saved debug VAE folder)."""
    root = tmp_path_factory.mktemp("data")
    assert (
        main(
            ["world", "sample", "--n", "3", "--out", str(root / "clips"), "--size", "32x32", "--frames", "5"]
        )
        == 0
    )
    torch.manual_seed(0)
    save_vae(VideoVAE(VAEConfig(latent_channels=4, base_channels=8, channel_mult=(1, 1, 1))), root / "vae")
    return root / "clips" / "captions.csv", root / "vae"


def _train(out: Path, *settings: str) -> int:
    args = ["train", DEBUG, "--out", str(out), "--max-steps", "2", "--set", "sample_prompts=[]"]
    for item in settings:
        args += ["--set", item]
    return main(args)


def _steps(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_trains_on_a_dataset_file(dataset, tmp_path):
    csv, vae = dataset
    assert _train(tmp_path / "run", "data.source=dataset", f"data.path={csv}", f"vae={vae}") == 0
    assert _steps(tmp_path / "run") == [1, 2]
    assert (tmp_path / "run" / "model" / "model_index.json").is_file()


def test_trains_on_a_latent_cache_and_refuses_a_stale_one(dataset, tmp_path, capsys):
    csv, vae = dataset
    cache = tmp_path / "cache"
    size = ["--num-frames", "5", "--height", "32", "--width", "32", "--fps", "8"]
    assert (
        main(
            [
                "data",
                "cache-latents",
                str(csv),
                "--out",
                str(cache),
                "--model",
                str(vae),
                "--text",
                "random",
                *size,
            ]
        )
        == 0
    )
    assert _train(tmp_path / "run", "data.source=latents", f"data.path={cache}", f"vae={vae}") == 0
    assert _steps(tmp_path / "run") == [1, 2]
    # The same cache with another VAE (the config's random one) is stale: refused, exit 2
    assert _train(tmp_path / "stale", "data.source=latents", f"data.path={cache}") == 2
    assert "stale" in capsys.readouterr().err
