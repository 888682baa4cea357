"""Sharded data parallelism: FSDP2 (`parallel: fsdp`) on 2 gloo ranks reproduces the 1-rank loss curve for
the same global batch, and its checkpoints hold whole (unsharded) tensors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cineflow.cli import main
from cineflow.train.checkpoint import latest_checkpoint, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


ROOT = Path(__file__).resolve().parents[1]
DEBUG = str(ROOT / "configs" / "debug.yaml")
COMMON = ["train", DEBUG, "--max-steps", "4", "--set", "checkpoint_every=2", "--set", "sample_prompts=[]"]


def _losses(out: Path) -> dict[int, float]:
    return {m["step"]: m["loss"] for m in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())}


def test_fsdp_on_two_gloo_ranks_matches_one_rank(tmp_path):
    assert main([*COMMON, "--out", str(tmp_path / "one"), "--set", "batch_size=4"]) == 0
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd = [*torchrun, "-m", "cineflow", *COMMON, "--out", str(tmp_path / "fsdp")]
    cmd += ["--set", "batch_size=2", "--set", "parallel=fsdp"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr

    expected, got = _losses(tmp_path / "one"), _losses(tmp_path / "fsdp")
    assert sorted(got) == sorted(expected) == [1, 2, 3, 4]
    for step in expected:
        assert abs(got[step] - expected[step]) <= 1e-5, (step, got[step], expected[step])

    one = load_checkpoint(latest_checkpoint(tmp_path / "one"))["model"]
    sharded = load_checkpoint(latest_checkpoint(tmp_path / "fsdp"))["model"]
    assert sharded.keys() == one.keys()
    for key, value in one.items():
        assert type(sharded[key]) is torch.Tensor and sharded[key].shape == value.shape, key
        assert (sharded[key] - value).abs().max() <= 1e-5, key
