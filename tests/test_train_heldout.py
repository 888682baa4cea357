"""The held-out loss of `cineflow train`: logged when asked, free of side effects, and sees memorising."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cineflow.cli import main
from cineflow.config import VAEConfig, load_yaml
from cineflow.models.vae import VideoVAE, save_vae
from cineflow.train.config import load_train_config

pytestmark = pytest.mark.usefixtures("one_thread")

DEBUG = str(Path(__file__).resolve().parents[1] / "configs" / "debug.yaml")


def _train(out: Path, steps: int, *settings: str) -> list[dict]:
    args = ["train", DEBUG, "--out", str(out), "--max-steps", str(steps), "--set", "sample_prompts=[]"]
    for item in settings:
        args += ["--set", item]
    assert main(args) == 0
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_logged_every_n_steps_and_training_is_unchanged(tmp_path):
    plain = _train(tmp_path / "plain", 6)
    measured = _train(tmp_path / "measured", 6, "heldout.every=4", "heldout.batches=1")
    assert [m["loss"] for m in measured] == [m["loss"] for m in plain]  # bit-identical: no RNG drawn
    logged = {m["step"]: (m["heldout_loss"], m["seen_loss"]) for m in measured if "heldout_loss" in m}
    assert sorted(logged) == [4, 6]  # every 4 steps and at the last
    for held, seen in logged.values():
        assert 0 < held < 10 and 0 < seen < 10
    assert logged[4] != logged[6]  # the EMA weights moved between the two


def test_threads_setting_sets_torch_threads(tmp_path):
    # the fixture set 1; the run asks for 2 and leaves the process at it (the fixture restores afterwards)
    _train(tmp_path / "run", 1, "threads=2")
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="threads"):
        load_train_config(load_yaml(DEBUG), ["threads=0"])


@pytest.fixture(scope="module")
def one_clip(tmp_path_factory) -> tuple[Path, Path]:
    """(a dataset of a single 32x32x5 Flatland clip, a saved debug VAE folder)."""
    root = tmp_path_factory.mktemp("one")
    assert main(["world", "sample", "--n", "1", "--out", str(root), "--size", "32x32", "--frames", "5"]) == 0
    torch.manual_seed(0)
    save_vae(VideoVAE(VAEConfig(latent_channels=4, base_channels=8, channel_mult=(1, 1, 1))), root / "vae")
    return root / "captions.csv", root / "vae"


def test_a_run_that_memorises_one_clip_shows_the_gap(one_clip, tmp_path):
    csv, vae = one_clip
    run = [f"vae={vae}", "data.source=dataset", f"data.path={csv}", "optim.lr=0.003", "text_dropout=0"]
    metrics = _train(tmp_path / "run", 60, *run, "heldout.every=10", "heldout.batches=2")
    evals = [(m["heldout_loss"], m["seen_loss"]) for m in metrics if "heldout_loss" in m]
    (held0, seen0), (held, seen) = evals[0], evals[-1]
    assert len(evals) == 6 and abs(held0 - seen0) < 0.1 * held0  # at step 10 the two sets look alike
    assert seen < 0.6 * held  # by step 60 it knows its one clip far better than Flatland (stream 1)


def test_heldout_settings_are_checked():
    debug = load_yaml(DEBUG)
    for overrides, key in [
        (["heldout.every=-1"], "heldout.every"),
        (["heldout.batches=0"], "heldout.batches"),
        (["heldout.source=video"], "heldout.source"),
        (["heldout.source=latents"], "heldout.path"),
        (["heldout.every=5", "heldout.seed=0"], "names the training data"),  # data.seed is 0 too
    ]:
        with pytest.raises(ValueError, match=key):
            load_train_config(debug, overrides)
    assert load_train_config(debug, ["heldout.seed=0"]).heldout.seed == 0  # harmless while every is 0
