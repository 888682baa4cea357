"""`cineflow plan` and the FLOP count it rests on."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from cineflow.cli import main
from cineflow.models.dit import PRESETS, VideoDiT, forward_flops


@pytest.mark.parametrize("patch", [(1, 2, 2), (1, 1, 1), (2, 2, 2)])
def test_forward_flops_match_the_counted_matmuls(patch):
    cfg = dataclasses.replace(PRESETS["debug"], patch_size=patch)
    B, latent, L = 2, (4, 8, 8), 5
    model = VideoDiT(cfg)
    args = (
        torch.randn(B, cfg.in_channels, *latent),
        torch.rand(B, latent[0]),
        torch.randn(B, L, cfg.text_dim),
    )
    with FlopCounterMode(display=False) as counter:
        model(*args, torch.ones(B, L, dtype=torch.bool), torch.randn(B, cfg.text_dim))
    counts = counter.get_flop_counts()["Global"]
    linear = sum(counts.get(op, 0) for op in (torch.ops.aten.addmm, torch.ops.aten.mm, torch.ops.aten.bmm))
    assert B * forward_flops(cfg, latent, L)["linear"] == linear


def test_plan_xl_is_about_3b_parameters(capsys):
    assert (
        main(["plan", "--preset", "XL", "--frames", "33", "--height", "256", "--width", "256", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert 2.8e9 < out["params"] < 3.3e9
    assert out["latent"] == [16, 9, 32, 32] and out["tokens_per_sample"] == 9 * 16 * 16
    assert out["gib_activations_checkpointed_per_gpu"] < out["gib_activations_per_gpu"]


def test_plan_shards_state_over_gpus(capsys):
    main(["plan", "--preset", "B", "--gpus", "1", "--batch", "8", "--json"])
    one = json.loads(capsys.readouterr().out)
    main(["plan", "--preset", "B", "--gpus", "8", "--batch", "8", "--json"])
    eight = json.loads(capsys.readouterr().out)
    assert eight["gib_weights_grads_adam_per_gpu"] == pytest.approx(one["gib_weights_grads_adam_per_gpu"] / 8)
    assert eight["tflops_per_step"] == one["tflops_per_step"] and eight["batch_per_gpu"] == 1


def test_plan_text_output_and_errors(capsys):
    assert main(["plan"]) == 0
    assert "parameters" in capsys.readouterr().out
    assert main(["plan", "--preset", "huge"]) == 2
    assert main(["plan", "--frames", "10"]) == 2
    assert "--frames" in capsys.readouterr().err
