"""Parallelism applied to a finished model from outside it (torchtitan's `parallelize` pattern).

One process, or `torchrun --nproc-per-node N -m cineflow train ...`: torchrun sets RANK, WORLD_SIZE and
LOCAL_RANK, and `init_distributed` joins the process group (gloo on CPU, nccl on CUDA). The model file
never imports torch.distributed; the trainer wraps the model here, reduces logged values here, and reads and
writes full (unsharded) state here.

Strategies: `ddp` replicates the model and averages gradients; `fsdp` (FSDP2 `fully_shard`, one unit per
DiT block plus the root) shards parameters, gradients and optimizer state across ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    """This process's place in the job. `device` is where its model and batches live."""

    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto") -> World:
    """Join the torchrun process group if there is one; otherwise a world of one."""
    want_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' asked for, but no CUDA device is available")
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if want_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if want_cuda else "gloo")
    return World(rank=rank, size=size, local_rank=local_rank, device=dev)


STRATEGIES = ("ddp", "fsdp")


def parallelize(
    model: nn.Module, world: World, activation_checkpointing: bool = False, strategy: str = "ddp"
) -> nn.Module:
    """The model as the training step should call it: DDP or FSDP across ranks, or itself on one process.

    Both average gradients over ranks, so with equal per-rank batches and a mean loss the update equals
    the one-process update on the concatenated global batch. With `activation_checkpointing` each block of
    `model.blocks` is wrapped (in place) to recompute its activations in backward instead of storing them.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"parallel: choose from {', '.join(STRATEGIES)}, got {strategy!r}")
    model = model.to(world.device)
    if activation_checkpointing:
        checkpoint_blocks(model)
    if world.size == 1:
        return model
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:
            fully_shard(block)
        fully_shard(model)
        return model
    ids = [world.local_rank] if world.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def is_sharded(model: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def full_tensor(x: torch.Tensor) -> torch.Tensor:
    """A sharded DTensor gathered whole (a collective: every rank must call it); other tensors as they are."""
    from torch.distributed.tensor import DTensor

    return x.full_tensor() if isinstance(x, DTensor) else x


def full_state(model: nn.Module, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    """(model, optimizer) state dicts of plain CPU tensors, whole. Under FSDP every rank must call this
    (it gathers); the result is complete on rank 0."""
    if not is_sharded(model):
        return unwrap(model).state_dict(), opt.state_dict()
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return get_model_state_dict(model, options=options), get_optimizer_state_dict(model, opt, options=options)


def load_full_state(model: nn.Module, opt: torch.optim.Optimizer, model_state: dict, opt_state: dict) -> None:
    """Load whole state dicts (as `full_state` wrote them) into a plain, DDP or sharded model."""
    if not is_sharded(model):
        unwrap(model).load_state_dict(model_state)
        opt.load_state_dict(opt_state)
        return
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    set_model_state_dict(model, model_state, options=options)
    set_optimizer_state_dict(model, opt, opt_state, options=options)


def checkpoint_blocks(model: nn.Module) -> None:
    """Wrap every module in `model.blocks` with non-reentrant activation checkpointing.

    Memory for activations drops from all blocks to about one block, for ~1.3x the compute (each block's
    forward runs twice). The wrapper keeps parameter order and state_dict keys, so checkpoints, the EMA and
    model folders do not see it.
    """
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
        CheckpointImpl,
        apply_activation_checkpointing,
        checkpoint_wrapper,
    )

    blocks = set(model.blocks)
    apply_activation_checkpointing(
        model,
        checkpoint_wrapper_fn=lambda m: checkpoint_wrapper(m, checkpoint_impl=CheckpointImpl.NO_REENTRANT),
        check_fn=lambda m: m in blocks,
    )


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def mean_across(value: torch.Tensor, world: World) -> torch.Tensor:
    """The mean of a scalar over all ranks (for logging the global-batch loss)."""
    if world.size == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / world.size


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def shutdown(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()
