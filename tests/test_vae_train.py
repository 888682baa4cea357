"""VAE training: the losses, one-batch overfitting, the `train-vae` command, resume, dataset input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cineflow import io
from cineflow.cli import main
from cineflow.models.vae import load_vae, save_vae
from cineflow.train.losses import kl_divergence, psnr, ssim
from cineflow.train.vae import chroma, detail_weights, initial_model, load_train_config, train_step
from tests.test_vae_model import DEBUG, make_vae, video

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {
    "vae": {"latent_channels": 4, "base_channels": 4, "channel_mult": [1, 2, 2]},
    "data": {"source": "flatland", "seed": 3, "width": 16, "height": 16, "num_frames": 5},
    "batch_size": 2,
    "max_steps": 3,
    "warmup_steps": 1,
    "log_every": 1,
    "ckpt_every": 2,
    "stats_clips": 8,
    "threads": 1,
}


def write_config(folder: Path, **changes) -> Path:
    path = folder / "vae.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def test_ssim_psnr_kl_values() -> None:
    x = torch.rand(2, 3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-5)
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert 0.2 < ssim(x, noisy).item() < 0.95
    assert psnr(x, (x + 0.1)).item() == pytest.approx(20.0, abs=1e-3)  # MSE 0.01 -> 20 dB
    zeros = torch.zeros(1, 4, 1, 2, 2)
    assert kl_divergence(zeros, zeros).item() == 0.0
    assert kl_divergence(zeros + 1, zeros).item() == pytest.approx(0.5)


def test_chroma_and_detail_weights() -> None:
    gray = torch.full((1, 3, 1, 4, 4), 0.3)
    assert chroma(gray).abs().max().item() < 1e-6  # no colour difference on a gray
    red = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1, 1).expand(1, 3, 1, 4, 4)
    assert chroma(red)[:, 1].min().item() > 0.5  # Cr is large on red
    x = torch.full((1, 3, 1, 16, 16), -1.0)
    x[..., 6:9, 6:9] = 1.0  # a small bright object on a flat background
    w = detail_weights(x, 4.0)
    assert w.shape == (1, 1, 1, 16, 16) and w.mean().item() == pytest.approx(1.0, abs=1e-5)
    assert w[..., 7, 7].item() > 3 * w[..., 0, 0].item()


def test_overfits_one_batch(tmp_path: Path) -> None:
    cfg = load_train_config(write_config(tmp_path, lr=3e-3, precision="fp32"))
    vae = make_vae(DEBUG).train()
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.lr)
    t = torch.linspace(-1, 1, 16)
    x = torch.stack([t[None, :].expand(16, 16), t[:, None].expand(16, 16), -t[None, :].expand(16, 16)])
    x = x[None, :, None].expand(1, 3, 5, 16, 16).contiguous()  # (1, 3, 5, 16, 16) smooth gradients
    generator = torch.Generator().manual_seed(0)
    first = train_step(vae, opt, x, cfg, generator)["l1"]
    for _ in range(30):
        last = train_step(vae, opt, x, cfg, generator)["l1"]
    assert last < 0.3 * first


def test_train_vae_command_resumes_exactly(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    # A run of 3 steps in one go ...
    assert main(["train-vae", str(config), "--out", str(tmp_path / "a")]) == 0
    # ... equals 2 steps, then a resume to 3 (same clips, crops and noise after the resume)
    assert main(["train-vae", str(config), "--out", str(tmp_path / "b"), "--max-steps", "2"]) == 0
    assert main(["train-vae", str(config), "--out", str(tmp_path / "b"), "--resume"]) == 0
    a, b = load_vae(tmp_path / "a" / "vae"), load_vae(tmp_path / "b" / "vae")
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6), name
    assert a.cfg.scale != 1.0 and a.cfg.scale == pytest.approx(b.cfg.scale, rel=1e-5)  # measured, not default
    lines = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3]
    assert sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir()) == [
        "step_000002",
        "step_000003",
    ]


def test_refuses_to_overwrite_a_run_and_bad_settings(tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path)
    assert main(["train-vae", str(config), "--out", str(tmp_path / "a"), "--max-steps", "2"]) == 0
    assert main(["train-vae", str(config), "--out", str(tmp_path / "a")]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train-vae", str(config), "--out", str(tmp_path / "c"), "--set", "data.num_frames=6"]) == 2
    assert "num_frames" in capsys.readouterr().err
    assert main(["train-vae", str(config), "--out", str(tmp_path / "c"), "--set", "bogus=1"]) == 2
    assert "unknown keys" in capsys.readouterr().err


def test_trains_on_a_dataset_of_videos(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    rows = ["path,text"]
    for k in range(2):
        frames = np.repeat(rng.integers(0, 255, (1, 16, 16, 3), dtype=np.uint8), 6, axis=0)
        io.write_video(tmp_path / f"v{k}.mp4", frames, 8)
        rows.append(f"v{k}.mp4,clip {k}")
    rows.append("missing.mp4,gone")
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    data = {**TINY["data"], "source": "dataset", "path": str(tmp_path / "data.csv")}
    config = write_config(tmp_path, data=data, max_steps=2)
    assert main(["train-vae", str(config), "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "dataset: 2 clips, 1 rows skipped" in out and "missing.mp4" in out
    (tmp_path / "bad.csv").write_text("path,text\nmissing.mp4,gone\n")
    bad = write_config(tmp_path, data={**data, "path": str(tmp_path / "bad.csv")})
    assert main(["train-vae", str(bad), "--out", str(tmp_path / "run2")]) == 2


def test_decoder_only_training_keeps_encoder_and_latent_space(tmp_path: Path) -> None:
    base = make_vae(dataclasses.replace(DEBUG, scale=1.7, shift=-0.2))
    save_vae(base, tmp_path / "base")
    deeper = {**TINY["vae"], "decoder_res_blocks": 3}
    changes = {"init_from": str(tmp_path / "base"), "freeze_encoder": True, "vae": deeper}
    config = write_config(tmp_path, chroma_weight=1.0, detail_weight=4.0, **changes)
    # The added residual blocks start as the identity: before training, the deeper decoder is the old one
    start = initial_model(load_train_config(config)).eval()
    x = video(5)
    with torch.no_grad():
        assert torch.allclose(start.decode(base.encode(x)), base.decode(base.encode(x)), atol=1e-5)
    assert main(["train-vae", str(config), "--out", str(tmp_path / "run")]) == 0
    trained = load_vae(tmp_path / "run" / "vae")
    assert (trained.cfg.scale, trained.cfg.shift) == (1.7, -0.2)  # kept, not re-measured
    assert trained.cfg.decoder_res_blocks == 3
    old, new = base.state_dict(), trained.state_dict()
    for name in (k for k in old if k.startswith("encoder.")):
        assert torch.equal(old[name], new[name]), name
    assert any(not torch.equal(old[k], new[k]) for k in old if k.startswith("decoder."))
    with pytest.raises(ValueError, match="freeze_encoder"):
        load_train_config(write_config(tmp_path, freeze_encoder=True))
