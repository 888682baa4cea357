"""Every config in configs/ is one its trainer accepts: the commands in the docs and model card can run."""

from pathlib import Path

import pytest

from cineflow.config import load_yaml
from cineflow.train import vae as vae_train
from cineflow.train.config import load_train_config

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


def test_configs_exist():
    assert {"debug.yaml", "tiny.yaml", "vae_flatland.yaml"} <= {p.name for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_validates(path: Path):
    if path.name.startswith("vae_"):
        cfg = vae_train.load_train_config(path)
        assert cfg.max_steps >= 1
    else:
        cfg = load_train_config(load_yaml(path))
        assert cfg.batch_size >= 1


def test_unknown_key_is_refused(tmp_path: Path):
    bad = tmp_path / "vae_bad.yaml"
    bad.write_text((CONFIGS[0].parent / "vae_wide.yaml").read_text() + "detial_weight: 4.0\n")
    with pytest.raises((ValueError, TypeError), match="detial_weight"):
        vae_train.load_train_config(bad)
