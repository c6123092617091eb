"""Several processes (PyTorch DistributedDataParallel, gloo on CPU) against one process.

What is equal, exactly: with a *global* batch B split as B / P per process (``fit``'s
DistributedSampler shares), step s of the P processes together sees the samples of step s of
one process, and DDP's gradient average is the gradient of the mean loss over those B samples.
So training is the same computation up to floating-point summation order -- *if* nothing in
the model depends on how a batch is split. BatchNorm does: each process normalises over its
own B / P samples. On GPUs the CLI converts BatchNorm to SyncBatchNorm (statistics over the
global batch), which restores the equality; PyTorch's SyncBatchNorm does not run on CPU, so the
exact check here uses SEM-Net with its BatchNorm layers removed, and the BatchNorm model is
checked for what does hold on CPU (same samples per step, same schedule, rank-0-only files,
a close but not identical loss curve).
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from skelnb.distributed import wrap_ddp
from skelnb.evaluate import EvalResult
from skelnb.sem.net import SEMNet
from skelnb.train import TrainConfig, fit, load_checkpoint, train_sampler

ROOT = Path(__file__).resolve().parents[1]
CFG = TrainConfig(epochs=2, batch_size=24, lr=0.05, warmup_epochs=1, schedule="cosine", seed=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data():
    from skelnb.data.dataset import Augment, from_skeleton_set
    from skelnb.data.synthetic import SyntheticConfig, generate
    sset = generate(SyntheticConfig(subjects=(1, 2, 3)))
    tr, te = sset.split("xsub")
    kw = dict(num_frames=16, center="first")
    return from_skeleton_set(sset, tr, augment=Augment(), **kw), from_skeleton_set(sset, te, **kw)


def _model_without_bn() -> nn.Module:
    """SEM-Net (small) with every BatchNorm replaced by the identity: no batch statistics."""
    torch.manual_seed(0)
    from skelnb.data.synthetic import CLASS_NAMES
    model = SEMNet.quick(len(CLASS_NAMES), width=8, depth=2, num_frames=16)
    for name, m in list(model.named_modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(m, child_name, nn.Identity())
    return model


def _worker(rank, world, port, out):
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        train, test = _data()
        model = wrap_ddp(_model_without_bn(), torch.device("cpu"), rank=rank)
        fit(model, train, test, CFG, out, progress=False, rank=rank, world_size=world)
    finally:
        dist.destroy_process_group()


def test_sampler_shares_make_up_the_single_process_batches():
    train, _ = _data()
    N, B, P = len(train), CFG.batch_size, 2
    assert N % P == 0
    one = train_sampler(train, seed=0)
    one.set_epoch(3)
    order = list(one)
    shares = []
    for r in range(P):
        s = train_sampler(train, seed=0, rank=r, world_size=P)
        s.set_epoch(3)
        shares.append(list(s))
    for step in range(-(-N // B)):
        together = sorted(i for sh in shares for i in sh[step * B // P:(step + 1) * B // P])
        assert together == sorted(order[step * B:(step + 1) * B])


def test_two_processes_equal_one_process_without_batch_statistics(tmp_path):
    torch.set_num_threads(1)
    train, test = _data()
    single = fit(_model_without_bn(), train, test, CFG, tmp_path / "one", progress=False)
    mp.spawn(_worker, args=(2, _free_port(), tmp_path / "ddp"), nprocs=2, join=True)
    ddp = EvalResult.load(tmp_path / "ddp")
    assert np.allclose(ddp.scores, single.final.scores, atol=1e-5, rtol=0)
    assert ddp.top1 == single.top1
    a, b = load_checkpoint(tmp_path / "one/checkpoint.pt"), load_checkpoint(tmp_path / "ddp/checkpoint.pt")
    for k, v in a["model"].items():
        assert torch.allclose(v, b["model"][k], atol=1e-5, rtol=0), k
    init = _model_without_bn().state_dict()
    assert max((a["model"][k] - init[k]).abs().max().item() for k in init) > 1e-2   # training moved them
    # the history sums loss/accuracy over both processes: the same curve as one process
    assert [h["loss"] for h in b["history"]] == pytest.approx([h["loss"] for h in a["history"]], abs=1e-5)
    assert [h["acc"] for h in b["history"]] == pytest.approx([h["acc"] for h in a["history"]], abs=1e-9)


def test_torchrun_cli_two_processes_with_batchnorm(tmp_path):
    cfg = ROOT / "skelnb/configs/quick_sem-joint.yaml"
    sets = ["--set", "data.subjects=3", "data.num_frames=16", "model.width=8", "model.depth=2", "train.epochs=2",
            "train.batch_size=24"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                        str(_free_port()), "--master_addr", "127.0.0.1", "-m", "skelnb", "train", str(cfg),
                        "--out", str(tmp_path / "ddp"), "--device", "cpu", "--quiet", *sets],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("run     ") == 1 and p.stdout.count("epoch   2/2") == 1      # rank 0 prints
    assert p.stdout.count("SyncBatchNorm needs CUDA") == 1
    info = json.loads((tmp_path / "ddp/run.json").read_text())
    assert info["processes"] == 2 and info["batch_per_process"] == 12
    assert not list((tmp_path / "ddp").glob(".*tmp*"))
    one = subprocess.run([sys.executable, "-m", "skelnb", "train", str(cfg), "--out", str(tmp_path / "one"),
                          "--threads", "1", "--quiet", *sets], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert one.returncode == 0, one.stderr[-3000:]
    ref = json.loads((tmp_path / "one/run.json").read_text())
    # same samples per step, per-process BatchNorm statistics: close, not equal
    l2, l1 = info["history"][0]["loss"], ref["history"][0]["loss"]
    assert l2 != l1 and abs(l2 - l1) < 0.1 * l1
    assert EvalResult.load(tmp_path / "ddp").scores.shape == EvalResult.load(tmp_path / "one").scores.shape
