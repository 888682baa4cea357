"""The trainer's parts: overfitting one batch, the EMA warm-up, atomic checkpoints, strict config."""

from __future__ import annotations

import pytest
import torch

from cineflow.config import TextConfig, VAEConfig, load_yaml
from cineflow.train import checkpoint as ckpt
from cineflow.train.batches import Batch
from cineflow.train.config import OptimConfig, TrainConfig, check_train_config, dit_config, load_train_config
from cineflow.train.ema import EMA, ema_decay
from cineflow.train.loop import lr_factor, make_optimizer, train_step
from cineflow.train.parallel import World

pytestmark = pytest.mark.usefixtures("one_thread")


CPU = World(rank=0, size=1, local_rank=0, device=torch.device("cpu"))


class OneBatch:
    """Always the same micro-batch: the data source of an overfitting test."""

    world = CPU

    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    def get(self, step: int, micro: int) -> Batch:
        return self.batch


def test_overfits_one_batch():
    from cineflow.models.dit import VideoDiT
    from cineflow.models.text import load_text_encoder

    cfg = load_train_config(
        {"dit_preset": "debug", "precision": "fp32", "optim": {"lr": 3e-3, "warmup_steps": 10}}
    )
    torch.manual_seed(0)
    dit = VideoDiT(dit_config(cfg))
    text = load_text_encoder(TextConfig(name="random", dim=384))
    g = torch.Generator().manual_seed(0)
    shape = (2, 4, 2, 4, 4)
    batch = Batch(
        latents=torch.randn(shape, generator=g),
        captions=["a red ball moves left", "a blue square falls"],
        t=torch.rand(2, 1, generator=g).expand(2, 2).contiguous(),
        noise=torch.randn(shape, generator=g),
    )
    opt, sched = make_optimizer(dit, cfg)
    losses = [
        train_step(dit, text, opt, sched, OneBatch(batch), s, cfg, cfg_autocast())["loss"] for s in range(120)
    ]
    assert losses[-1] * 10 <= losses[0], (losses[0], losses[-1])


def cfg_autocast():
    from contextlib import nullcontext

    return nullcontext


def test_ema_decay_warms_up_and_the_ema_forgets_its_init():
    assert ema_decay(0, 0.999, warmup=True) == pytest.approx(0.1)
    assert ema_decay(100_000, 0.999, warmup=True) == 0.999
    assert ema_decay(0, 0.999, warmup=False) == 0.999
    model = torch.nn.Linear(4, 4)
    with torch.no_grad():
        model.weight.zero_()
    ema = EMA(model, decay=0.999, warmup=True)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for _ in range(600):
        ema.update(model)
    # With the warm-up, 600 updates leave ~1.6% of the init; a fixed 0.999 would leave 0.999**600 = 55%.
    assert ema.model.weight.mean().item() > 0.95
    fixed = EMA(torch.nn.Linear(4, 4).requires_grad_(False), decay=0.999, warmup=False)
    with torch.no_grad():
        fixed.model.weight.zero_()
    for _ in range(600):
        fixed.update(model)
    assert fixed.model.weight.mean().item() == pytest.approx(1 - 0.999**600, rel=1e-3)


def test_ema_state_round_trip():
    model = torch.nn.Linear(3, 3)
    ema = EMA(model)
    ema.update(model)
    other = EMA(torch.nn.Linear(3, 3))
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 1 and torch.equal(other.model.weight, ema.model.weight)


def test_checkpoints_are_atomic_and_pruned(tmp_path):
    state = {"step": 1, "w": torch.arange(3.0), "rng": ckpt.rng_state()}
    for step in (1, 2, 3):
        ckpt.save_checkpoint(tmp_path, step, {**state, "step": step}, {"max_steps": 3}, keep_last=2)
    # a run killed while writing leaves a temp folder (never a step_* one): it is ignored, then removed
    partial = tmp_path / "checkpoints" / ".tmp-step_000004-123"
    partial.mkdir()
    (partial / "trainer.pt").write_bytes(b"half a file")
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [2, 3]
    assert ckpt.latest_checkpoint(tmp_path).name == "step_000003"
    ckpt.remove_partial(tmp_path)
    assert not partial.exists()
    loaded = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path))
    assert loaded["step"] == 3 and torch.equal(loaded["w"], state["w"])


def test_rng_state_round_trip():
    import random

    import numpy as np

    saved = ckpt.rng_state()
    a = (torch.rand(3), random.random(), np.random.rand())
    ckpt.set_rng_state(saved)
    b = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


def test_config_is_strict_and_range_checked():
    with pytest.raises(ValueError, match="unknown keys"):
        load_train_config({"batch_sise": 4})
    with pytest.raises(ValueError, match="unknown keys"):
        load_train_config({"optim": {"learning_rate": 1e-3}})
    with pytest.raises(ValueError, match="unknown keys"):
        load_train_config({"dit": {"depht": 3}})
    with pytest.raises(ValueError, match="num_frames"):
        load_train_config({}, ["data.num_frames=16"])
    with pytest.raises(ValueError, match="text_dropout"):
        load_train_config({}, ["text_dropout=1.5"])
    with pytest.raises(ValueError, match="dit_preset"):
        dit_config(load_train_config({"dit_preset": "huge"}))
    cfg = load_train_config({"dit_preset": "debug", "dit": {"depth": 3}}, ["optim.lr=0.01", "data.seed=5"])
    assert dit_config(cfg).depth == 3 and dit_config(cfg).hidden_size == 16
    assert cfg.optim.lr == 0.01 and cfg.data.seed == 5 and isinstance(cfg.vae_config, VAEConfig)


@pytest.mark.parametrize("name", ["debug", "tiny"])
def test_shipped_configs_load(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "configs" / f"{name}.yaml"
    cfg = load_train_config(load_yaml(path))
    assert isinstance(cfg, TrainConfig) and dit_config(cfg).in_channels > 0


def test_condition_frames_are_clean_and_out_of_the_loss():
    from contextlib import nullcontext
    from pathlib import Path

    from cineflow.train.batches import Batches
    from cineflow.train.loop import build_models

    debug = load_yaml(Path(__file__).resolve().parents[1] / "configs" / "debug.yaml")
    for prob in (0.0, 1.0):
        cfg = load_train_config(debug, [f"cond_prob={prob}", "data.num_frames=9"])
        vae, _, text = build_models(cfg, CPU.device)
        batch = Batches(cfg, CPU, vae, text, nullcontext).get(step=0, micro=0)
        if prob == 0.0:
            assert batch.frame_weights is None and (batch.t > 0).all()
            continue
        given = batch.frame_weights == 0  # (B, t): a non-empty prefix, never every frame
        assert given[:, 0].all() and not given[:, -1].any()
        assert (batch.t[given] == 0).all() and (batch.t[~given] > 0).all()


def test_activation_checkpointing_keeps_loss_grads_and_state_dict_keys():
    from cineflow.models.dit import PRESETS, VideoDiT
    from cineflow.train.parallel import checkpoint_blocks

    torch.manual_seed(0)
    plain = VideoDiT(PRESETS["debug"])
    wrapped = VideoDiT(PRESETS["debug"])
    wrapped.load_state_dict(plain.state_dict())
    checkpoint_blocks(wrapped)
    assert type(wrapped.blocks[0]).__name__ == "CheckpointWrapper"
    assert list(wrapped.state_dict()) == list(plain.state_dict())
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # leave adaLN-Zero, so that gradients reach every block
        for p in (*plain.parameters(), *wrapped.parameters()):
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.05)
    x, t = torch.randn(2, 4, 2, 4, 4, generator=g), torch.rand(2, 2, generator=g)
    text, mask, pooled = (
        torch.randn(2, 3, 384, generator=g),
        torch.ones(2, 3, dtype=torch.bool),
        torch.randn(2, 384),
    )
    for model in (plain, wrapped):
        model(x, t, text, mask, pooled).square().mean().backward()
    for (name, a), b in zip(plain.named_parameters(), wrapped.parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name


def test_lr_schedule_warms_up_holds_then_cools_down_from_an_absolute_step():
    o = OptimConfig(lr=1.0, warmup_steps=10, decay_start=100, decay_steps=50, min_lr_ratio=0.1)
    assert lr_factor(0, o) == pytest.approx(0.1)
    assert lr_factor(9, o) == 1.0
    assert lr_factor(99, o) == 1.0
    assert lr_factor(100, o) == 1.0
    assert lr_factor(125, o) == pytest.approx(0.55)
    assert lr_factor(150, o) == pytest.approx(0.1)
    assert lr_factor(10_000, o) == pytest.approx(0.1)
    assert lr_factor(10_000, OptimConfig(lr=1.0, warmup_steps=10)) == 1.0  # no decay_start: constant


def test_the_scheduler_applies_the_schedule_to_the_optimizer():
    optim = OptimConfig(lr=0.5, warmup_steps=2, decay_start=3, decay_steps=2, min_lr_ratio=0.0)
    cfg = TrainConfig(dit_preset="debug", optim=optim)
    opt, sched = make_optimizer(torch.nn.Linear(2, 2), cfg)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.25, 0.5, 0.5, 0.5, 0.25, 0.0])


def test_a_bad_cool_down_is_refused_by_name():
    for bad in ({"decay_start": -1}, {"decay_steps": 0}, {"min_lr_ratio": 1.5}):
        with pytest.raises(ValueError, match="optim\\."):
            check_train_config(TrainConfig(optim=OptimConfig(**bad)))


def test_init_from_starts_the_dit_from_a_model_folder(tmp_path):
    from pathlib import Path

    from safetensors.torch import save_file

    from cineflow.train.loop import build_models

    debug = load_yaml(Path(__file__).resolve().parents[1] / "configs" / "debug.yaml")
    _, source, _ = build_models(load_train_config(debug, ["seed=7"]), CPU.device)
    (tmp_path / "transformer").mkdir()
    save_file(source.state_dict(), tmp_path / "transformer" / "diffusion_pytorch_model.safetensors")
    _, fresh, _ = build_models(load_train_config(debug), CPU.device)
    _, started, _ = build_models(load_train_config(debug, [f"init_from={tmp_path}"]), CPU.device)
    for name, value in source.state_dict().items():
        assert torch.equal(started.state_dict()[name], value), name
    assert any(not torch.equal(fresh.state_dict()[k], v) for k, v in source.state_dict().items())
    with pytest.raises(ValueError, match="do not fit the architecture"):  # another preset's weights
        build_models(load_train_config(debug, [f"init_from={tmp_path}", "dit.depth=3"]), CPU.device)
    with pytest.raises(FileNotFoundError, match="weights not found"):
        build_models(load_train_config(debug, [f"init_from={tmp_path / 'none'}"]), CPU.device)
