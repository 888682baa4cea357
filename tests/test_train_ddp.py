"""Data parallelism: 2 gloo ranks (torchrun) and gradient accumulation reproduce the 1-rank loss curve for
the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from cineflow.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


ROOT = Path(__file__).resolve().parents[1]
DEBUG = str(ROOT / "configs" / "debug.yaml")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
COMMON = ["train", DEBUG, "--max-steps", "6", "--set", "checkpoint_every=100", "--set", "sample_prompts=[]"]
COMMON += ["--set", "heldout.every=3"]  # rank 0 measures the held-out loss while the others wait


def _run(head: list[str] | None, out: Path, *extra: str) -> dict[int, float]:
    """Train in a subprocess started with `head`, or in this process when head is None."""
    if head is None:
        assert main([*COMMON, "--out", str(out), *extra]) == 0
    else:
        cmd = [*head, *COMMON, "--out", str(out), *extra]
        result = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT)
        assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {m["step"]: m["loss"] for m in lines}


def _heldout(out: Path) -> dict[int, float]:
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {m["step"]: m["heldout_loss"] for m in lines if "heldout_loss" in m}


def _weights(out: Path):
    return load_file(out / "model" / "transformer" / "diffusion_pytorch_model.safetensors")


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory) -> tuple[Path, dict[int, float]]:
    out = tmp_path_factory.mktemp("one") / "run"
    return out, _run(None, out, "--set", "batch_size=4")


def test_two_gloo_ranks_match_one_rank(one_rank, tmp_path):
    out, expected = one_rank
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    got = _run([*torchrun, "-m", "cineflow"], tmp_path / "ddp", "--set", "batch_size=2")
    assert sorted(got) == sorted(expected) == list(range(1, 7))
    for step in expected:
        assert abs(got[step] - expected[step]) <= 1e-5, (step, got[step], expected[step])
    assert len(set(expected.values())) == len(expected)  # the curve moves: the comparison means something
    held, ddp_held = _heldout(out), _heldout(tmp_path / "ddp")
    assert sorted(held) == sorted(ddp_held) == [3, 6]
    assert all(abs(held[s] - ddp_held[s]) <= 1e-5 for s in held)
    ref, ddp = _weights(out), _weights(tmp_path / "ddp")
    for key in ref:
        assert (ref[key] - ddp[key]).abs().max() <= 1e-5, key


def test_gradient_accumulation_matches_the_large_batch(one_rank, tmp_path):
    _, expected = one_rank
    got = _run(None, tmp_path / "accum", "--set", "batch_size=2", "--set", "grad_accum=2")
    for step in expected:
        assert abs(got[step] - expected[step]) <= 1e-5, (step, got[step], expected[step])
