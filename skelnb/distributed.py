"""Several processes (``torchrun``): the process group and the DistributedDataParallel wrapper.

:func:`skelnb.train.fit` trains the wrapped model; what is then equal to a one-process run is
said there (and checked in ``tests/test_ddp.py``).
"""
from __future__ import annotations

import os

import torch

from .train import device_of


def init_distributed(device: str | None):
    """(rank, world_size, device) from torchrun's environment (one process: 0, 1, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    dev = device_of(device)
    if world == 1:
        return 0, 1, dev
    import torch.distributed as dist
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return rank, world, dev


def wrap_ddp(model: torch.nn.Module, dev: torch.device, sync_bn: bool = True, rank: int = 0, say=print):
    """DistributedDataParallel around ``model``; BatchNorm -> SyncBatchNorm where it works (CUDA).

    SyncBatchNorm computes the batch statistics over the global batch, so a DDP step equals a
    one-process step on the same samples. PyTorch's SyncBatchNorm runs on GPUs only: on CPU
    (gloo) each process normalises over its own batch_size / processes samples, which is
    *not* the same computation as one process normalising over the whole batch (``say``, on
    rank 0, tells so)."""
    from torch.nn.parallel import DistributedDataParallel as DDP
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if sync_bn and has_bn:
        if dev.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        elif rank == 0:
            say("note: SyncBatchNorm needs CUDA; on CPU each process keeps its own BatchNorm statistics "
                "(over batch_size / processes samples)")
    model.to(dev)
    return DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)
