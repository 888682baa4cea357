"""Resume: a run SIGKILLed after a checkpoint and restarted with the same command gives the losses, bit for
bit, of a run that was never interrupted (and the same final model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cineflow.cli import main
from cineflow.train.checkpoint import list_checkpoints, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


ROOT = Path(__file__).resolve().parents[1]
DEBUG = str(ROOT / "configs" / "debug.yaml")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
SETTINGS = ["--max-steps", "10", "--set", "checkpoint_every=2", "--set", "keep_last=3"]

# Runs `cineflow train ...` but SIGKILLs itself when step KILL_AT begins: after the checkpoint at step 6 and
# one more logged step, so the restart must also drop the metrics written after its checkpoint.
KILLER = """
import os, signal, sys
from cineflow.train import loop
real_step = loop.train_step
def train_step(model, text_encoder, opt, sched, batches, step, cfg, autocast):
    if step == int(os.environ["KILL_AT"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_step(model, text_encoder, opt, sched, batches, step, cfg, autocast)
loop.train_step = train_step
from cineflow.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _train_here(out: Path, *extra: str) -> int:
    """The same run in this process (saves a Python + torch start-up)."""
    return main(["train", DEBUG, "--out", str(out), *SETTINGS, *extra])


def _train(out: Path, *extra: str, killer: bool = False) -> subprocess.CompletedProcess:
    head = [sys.executable, "-c", KILLER] if killer else [sys.executable, "-m", "cineflow"]
    cmd = [*head, "train", DEBUG, "--out", str(out), *SETTINGS, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env={**ENV, "KILL_AT": "7"}, cwd=ROOT)


def _losses(out: Path) -> dict[int, float]:
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [m["step"] for m in lines]
    assert steps == sorted(set(steps)), f"duplicate or unordered steps: {steps}"
    return {m["step"]: m["loss"] for m in lines}


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    """An uninterrupted run."""
    out = tmp_path_factory.mktemp("whole") / "run"
    assert _train_here(out) == 0
    return out


def test_killed_and_resumed_run_matches_an_uninterrupted_one(whole, tmp_path):
    killed = _train(tmp_path / "killed", "--resume", killer=True)
    assert killed.returncode == -9, killed.stderr  # SIGKILL
    assert not (tmp_path / "killed" / "model").exists()
    assert sorted(_losses(tmp_path / "killed")) == [1, 2, 3, 4, 5, 6, 7]

    resumed = _train(tmp_path / "killed", "--resume")  # the same command as the killed run
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout and "step_000006" in resumed.stdout

    expected, got = _losses(whole), _losses(tmp_path / "killed")
    assert sorted(expected) == list(range(1, 11))
    assert got == expected  # bit-identical floats, every step
    weights = Path("model") / "transformer" / "diffusion_pytorch_model.safetensors"
    assert (whole / weights).read_bytes() == (tmp_path / "killed" / weights).read_bytes()


def test_checkpoints_are_complete_pruned_and_carry_the_resolved_config(whole):
    found = list_checkpoints(whole)
    assert [step for step, _ in found] == [6, 8, 10]  # keep_last=3
    assert not list((whole / "checkpoints").glob(".tmp-*"))
    config = yaml.safe_load((found[-1][1] / "config.yaml").read_text())
    assert config["max_steps"] == 10 and config["dit"]["hidden_size"] == 16  # the preset, expanded
    state = load_checkpoint(found[-1][1])
    assert state["step"] == 10 and state["data"]["next_sample"] == 10 * 4
    assert set(state) >= {"model", "ema", "optimizer", "scheduler", "rng"}


def test_a_second_run_into_a_used_folder_needs_resume(whole, capsys):
    assert _train_here(whole) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "Traceback" not in err
