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


def test_a_base_config_is_merged_key_by_key(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("max_steps: 10\nbatch_size: 4\noptim: {lr: 0.1, decay_start: 5}\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nmax_steps: 20\noptim: {decay_start: 15}\n")
    (tmp_path / "c.yaml").write_text("base: b.yaml\nbatch_size: 8\n")
    assert load_yaml(tmp_path / "c.yaml") == {
        "max_steps": 20,
        "batch_size": 8,
        "optim": {"lr": 0.1, "decay_start": 15},  # the section merges: lr kept, decay_start replaced
    }


def test_the_long_runs_are_their_base_with_a_longer_schedule():
    short, long = (load_yaml(CONFIGS[0].parent / f"tiny_shortcut{s}.yaml") for s in ("", "_long"))
    assert {k: v for k, v in long.items() if k not in ("max_steps", "optim")} == {
        k: v for k, v in short.items() if k not in ("max_steps", "optim")
    }
    assert long["optim"] == {**short["optim"], "decay_start": 5500, "decay_steps": 1500}


@pytest.mark.parametrize(
    "files, message",
    [
        ({"a.yaml": "base: a.yaml\n"}, "cycle"),
        ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\n"}, "cycle"),
        ({"a.yaml": "base: missing.yaml\n"}, "not found"),
        ({"a.yaml": "base: [b.yaml]\n"}, "base must be a config file name"),
    ],
)
def test_bad_bases_are_named(tmp_path: Path, files: dict[str, str], message: str):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_yaml(tmp_path / "a.yaml")
