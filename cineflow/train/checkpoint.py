"""Trainer checkpoints: atomic folders, keep-last-N, resume from the latest complete one.

Layout under the run folder:

    checkpoints/step_000200/trainer.pt     model, EMA, optimizer, scheduler, RNG states, data position
    checkpoints/step_000200/config.yaml    the resolved TrainConfig of the run

A checkpoint is written into `checkpoints/.tmp-step_000200-<pid>/` and renamed into place, so a folder named
`step_*` is always complete: a run killed while writing leaves only a `.tmp-*` folder, which the next run
removes. `trainer.pt` holds only tensors and plain Python values and is read with
`torch.load(weights_only=True)`: no pickled code runs on resume.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

_STEP_DIR = re.compile(r"^step_(\d{6,})$")
TRAINER_FILE = "trainer.pt"
CONFIG_FILE = "config.yaml"


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints as (step, folder), oldest first."""
    root = checkpoint_dir(run_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = _STEP_DIR.match(child.name)
        if match and (child / TRAINER_FILE).is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


def save_checkpoint(
    run_dir: str | Path, step: int, state: dict[str, Any], config: dict[str, Any], keep_last: int
) -> Path:
    """Write `state` and `config` as checkpoint `step` atomically, then prune to the newest `keep_last`."""
    root = checkpoint_dir(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:06d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with open(tmp / TRAINER_FILE, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    (tmp / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    _fsync_dir(tmp)
    if final.exists():  # the same step written again (a resumed run re-reaching it): replace whole
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    for _, old in list_checkpoints(run_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(folder: str | Path) -> dict[str, Any]:
    return torch.load(Path(folder) / TRAINER_FILE, map_location="cpu", weights_only=True)


def remove_partial(run_dir: str | Path) -> None:
    """Delete `.tmp-*` folders left by a run killed while it was writing a checkpoint."""
    root = checkpoint_dir(run_dir)
    if root.is_dir():
        for child in root.glob(".tmp-*"):
            shutil.rmtree(child, ignore_errors=True)


def rng_state() -> dict[str, Any]:
    """Every global RNG a training step might touch, as weights_only-loadable values."""
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), np_pos, np_has_gauss, np_gauss],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_dir(path: Path) -> None:
    # Make the rename itself durable; a no-op where directories cannot be opened (Windows).
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_config(folder: str | Path):
    """The resolved TrainConfig a checkpoint was written with (its `config.yaml`)."""
    from cineflow.config import load_yaml
    from cineflow.train.config import load_train_config

    return load_train_config(load_yaml(Path(folder) / CONFIG_FILE))


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder as given, or a run folder's latest complete checkpoint."""
    path = Path(path)
    if (path / TRAINER_FILE).is_file():
        return path
    latest = latest_checkpoint(path)
    if latest is None:
        raise FileNotFoundError(f"{path}: not a checkpoint folder (no {TRAINER_FILE}) nor a run with one")
    return latest


def export_model(folder: str | Path, out: str | Path, raw: bool = False) -> Path:
    """Write checkpoint `folder`'s EMA weights (`raw`: the trained, non-EMA ones) as a model folder at `out`.

    The models are rebuilt from the checkpoint's config exactly as `train` builds them (so a random test
    VAE or text encoder comes out the same), and written by the same `save_model` that writes `DIR/model`:
    the EMA export of a run's last checkpoint is that run's model folder, bit for bit.
    """
    import torch

    from cineflow.train.loop import build_models, save_model

    folder = resolve_checkpoint(folder)
    cfg = load_config(folder)
    state = load_checkpoint(folder)
    vae, dit, text_encoder = build_models(cfg, torch.device("cpu"))
    weights = state["model"] if raw else state["ema"]["model"]
    try:
        dit.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{folder}: its weights do not fit the DiT of its config.yaml: {e}") from e
    return save_model(out, dit, vae, text_encoder, cfg)
