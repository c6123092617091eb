"""Command line: train, evaluate and fuse runs described by YAML configs (``book/configs``).

    python -m skelnb train CONFIG [CONFIG ...] [--resume] [--out DIR] [--set key=value ...]
    python -m skelnb evaluate CONFIG|RUN_DIR [...] [--set key=value ...]
    python -m skelnb fuse RUN_DIR RUN_DIR [...] [--weights W W ...] [--out DIR]

Several GPUs: PyTorch's DistributedDataParallel, launched by ``torchrun``, e.g.
``torchrun --standalone --nproc_per_node 4 -m skelnb train CONFIG``. ``train.batch_size`` stays
the global batch (each process takes batch_size / processes), BatchNorm layers become
SyncBatchNorm on CUDA (``distributed.sync_bn``), and only rank 0 writes files; see
:func:`skelnb.train.fit` for what is then equal to a one-process run.

A run folder (``$SKELNB_RUNS/<config name>`` or ``--out``) holds ``config.yaml`` (the resolved
config), ``checkpoint.pt`` (every epoch, atomic), ``scores.npz`` + ``result.json`` (test
softmax scores, top-1/top-5, per-class accuracy), ``confusion.csv`` and ``run.json`` (history,
timings, sizes). ``--resume`` continues a killed run from its last finished epoch, or just
re-evaluates a finished one.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from . import config as C
from .evaluate import EvalResult, evaluate
from .fuse import FusionError, fuse_runs
from .train import CheckpointError, device_of, fit, load_checkpoint

EXIT_ERROR = 2


class CLIError(RuntimeError):
    """A problem with the command line (exit status 2, message on stderr)."""


# ----------------------------------------------------------------------------- helpers
def _say(*a, rank: int = 0):
    if rank == 0:
        from tqdm.auto import tqdm
        tqdm.write(" ".join(str(x) for x in a), file=sys.stdout)
        sys.stdout.flush()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _remove_stale_tmp(run_dir: Path) -> None:
    """Temporary files a killed process left (``.checkpoint.pt.tmp<pid>`` ...)."""
    for f in run_dir.glob(".*.tmp*"):
        pid = "".join(ch for ch in f.name.rsplit("tmp", 1)[-1] if ch.isdigit())
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            f.unlink(missing_ok=True)
        except PermissionError:
            pass


def _diff(a, b, prefix="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix[:-1]}: {a!r} -> {b!r}"]


def _macs(model, data: C.DataBundle) -> float | None:
    """Multiply-adds per sample: counted on the meta device, or -- for SPA-Net, whose cost depends
    on the occupied voxels -- on the first (up to) 4 test samples."""
    if type(model).__name__ == "SPANet":
        from .spa.net import sparse_costs
        n = min(4, len(data.test))
        if n == 0:
            return None
        x = torch.stack([data.test[i][0] for i in range(n)])
        return sparse_costs(model, x).per_sample()["macs"]
    from .flops import count_macs
    x = torch.zeros(1, data.in_channels, data.num_frames, _layout(data.layout).num_joints, data.num_persons)
    try:
        return count_macs(model, x)
    except Exception:       # a model whose forward cannot run on the meta device
        return None


def _layout(name):
    from .data.layouts import get_layout
    return get_layout(name)


def describe_model(model, data: C.DataBundle) -> str:
    from .flops import count_params
    macs = _macs(model, data)
    cost = f", {macs / 1e9:.2f} G multiply-adds per sample at T={data.num_frames}" if macs else ""
    return f"{type(model).__name__}: {count_params(model) / 1e6:.2f} M parameters{cost}"


# ----------------------------------------------------------------------------- distributed
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


def wrap_ddp(model: torch.nn.Module, dev: torch.device, sync_bn: bool = True, rank: int = 0):
    """DistributedDataParallel around ``model``; BatchNorm -> SyncBatchNorm where it works (CUDA).

    SyncBatchNorm computes the batch statistics over the global batch, so a DDP step equals a
    one-process step on the same samples. PyTorch's SyncBatchNorm runs on GPUs only: on CPU
    (gloo) each process normalises over its own batch_size / processes samples, which is
    *not* the same computation as one process normalising over the whole batch."""
    from torch.nn.parallel import DistributedDataParallel as DDP
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if sync_bn and has_bn:
        if dev.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            _say("note: SyncBatchNorm needs CUDA; on CPU each process keeps its own BatchNorm statistics "
                 "(over batch_size / processes samples)", rank=rank)
    model.to(dev)
    return DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)


# ----------------------------------------------------------------------------- train
def train(path: str, args) -> EvalResult | None:
    cfg = C.load_config(path, args.set or ())
    rank, world, dev = init_distributed(args.device)
    run_dir = cfg.run_dir(args.out)
    ckpt = run_dir / "checkpoint.pt"
    if ckpt.exists():
        if not args.resume:
            raise CLIError(f"{run_dir} already holds a run ({ckpt.name}); pass --resume to continue it "
                           f"(or re-evaluate it if finished), or --out DIR for a new run")
        saved = run_dir / "config.yaml"
        if saved.is_file():
            old = C.from_dict(yaml.safe_load(saved.read_text()))
            diff = _diff(old.identity(), cfg.identity())
            if diff:
                raise CLIError(f"{run_dir} was started with another config ({'; '.join(diff)}); "
                               f"resume with the same settings, or use --out DIR for a new run")
    elif args.resume:
        _say(f"note: nothing to resume in {run_dir} (no {ckpt.name}): starting a new run", rank=rank)
    data = C.build_data(cfg)
    model = C.build_model(cfg, data)
    tc = cfg.train
    _say(f"run     {run_dir}", rank=rank)
    _say(f"data    {data.description}, {data.num_classes} classes, T={data.num_frames}", rank=rank)
    desc = describe_model(model, data)
    _say(f"model   {desc}", rank=rank)
    _say(f"train   {tc.epochs} epoch{'s' * (tc.epochs > 1)}, batch {tc.batch_size}"
         + (f" ({tc.batch_size // world} per process x {world})" if world > 1 else "")
         + f", lr {tc.lr} ({tc.schedule}, warm-up {tc.warmup_epochs}), device {dev}", rank=rank)
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_tmp(run_dir)
        _write_atomic(run_dir / "config.yaml", cfg.to_yaml())
    if world > 1:
        model = wrap_ddp(model, dev, cfg.distributed.get("sync_bn", True), rank)

    def log(row):
        _say(f"epoch {row['epoch']:>3}/{tc.epochs}  loss {row['loss']:.4f}  acc {100 * row['acc']:5.1f} %  "
             f"lr {row['lr']:.4g}  {row['samples_per_s']:7.1f} samples/s  "
             f"loader {row['loader_s_per_step']:.4f} s/step  step {row['step_s']:.4f} s/step")

    t0 = time.perf_counter()
    res = fit(model, data.train, data.test, tc, run_dir, resume=True, device=str(dev),
              progress=not args.quiet, rank=rank, world_size=world, desc=cfg.name, log=log)
    wall = time.perf_counter() - t0
    if rank == 0:
        res.final.ids = data.test_ids
        _save_eval(res.final, run_dir, data)
        info = dict(name=cfg.name, config=str(cfg.path), data=data.description,
                    model=desc,
                    device=str(dev), processes=world, batch_per_process=tc.batch_size // world,
                    epochs=tc.epochs, trained_epochs_this_call=res.trained_epochs, wall_s_this_call=wall,
                    top1=res.final.top1, top5=res.final.top5, history=res.history, torch=torch.__version__)
        _write_atomic(run_dir / "run.json", json.dumps(info, indent=1))
        if res.trained_epochs == 0:
            _say(f"finished run reused (all {tc.epochs} epochs in {ckpt.name})")
        _report(res.final, data, run_dir, brief=True)
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
    return res.final


def _save_eval(res: EvalResult, run_dir: Path, data: C.DataBundle) -> None:
    res.save(run_dir)
    cm = res.confusion()
    lines = ["true\\pred," + ",".join(data.class_names)]
    lines += [f"{data.class_names[i]}," + ",".join(str(v) for v in row) for i, row in enumerate(cm)]
    _write_atomic(run_dir / "confusion.csv", "\n".join(lines) + "\n")


def _report(res: EvalResult, data: C.DataBundle, run_dir: Path, brief: bool = False) -> None:
    _say(f"test    top-1 {100 * res.top1:.2f} %  top-5 {100 * res.top5:.2f} %  ({len(res.labels)} samples) "
         f"-> {run_dir / 'scores.npz'}")
    if brief:
        return
    pc, cm = res.per_class(), res.confusion()
    _say("per-class accuracy (class: accuracy %, test samples):")
    width = max(len(n) for n in data.class_names)
    for k, name in enumerate(data.class_names):
        if cm[k].sum():
            _say(f"  {name:<{width}}  {100 * pc[k]:6.1f}  {cm[k].sum():5d}")
    off = cm.copy()
    np.fill_diagonal(off, 0)
    top = np.argsort(-off, axis=None)[:5]
    pairs = [(i // len(cm), i % len(cm)) for i in top if off.flat[i] > 0]
    if pairs:
        _say("most frequent confusions (true -> predicted: samples):")
        for i, j in pairs:
            _say(f"  {data.class_names[i]} -> {data.class_names[j]}: {cm[i, j]}")
    _say(f"confusion matrix -> {run_dir / 'confusion.csv'}")


# ----------------------------------------------------------------------------- evaluate
def evaluate_target(target: str, args) -> EvalResult:
    p = Path(target)
    if p.is_dir():
        if not (p / "config.yaml").is_file():
            raise CLIError(f"{p}: not a run folder (no config.yaml); pass a run folder or a config file")
        cfg, run_dir = C.load_config(p / "config.yaml", args.set or ()), p
    else:
        cfg = C.load_config(p, args.set or ())
        run_dir = cfg.run_dir(args.out)
    ckpt = run_dir / "checkpoint.pt"
    if not ckpt.is_file():
        raise CLIError(f"{run_dir}: no checkpoint.pt; train first: python -m skelnb train {cfg.path or target}")
    state = load_checkpoint(ckpt)
    data = C.build_data(cfg)
    model = C.build_model(cfg, data)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{ckpt}: its weights do not fit the model of {cfg.path} "
                              f"({str(e).splitlines()[0]})") from None
    epochs = cfg.train.epochs
    dev = device_of(args.device)
    _say(f"run     {run_dir} (checkpoint after epoch {state['epoch']} of {epochs}"
         + ("" if state["epoch"] >= epochs else ", NOT finished") + ")")
    res = evaluate(model.to(dev), data.test, batch_size=cfg.train.eval_batch_size, device=dev)
    res.ids = data.test_ids
    _save_eval(res, run_dir, data)
    _report(res, data, run_dir)
    return res


# ----------------------------------------------------------------------------- fuse
def fuse_command(args) -> None:
    rep = fuse_runs(args.runs, args.weights)
    _say(rep.table())
    if args.out:
        _say(f"fused scores -> {rep.save(args.out) / 'scores.npz'}")


# ----------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m skelnb", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or resume) the run a config describes, then evaluate it")
    t.add_argument("configs", nargs="+", metavar="CONFIG", help="YAML config(s), e.g. book/configs/quick_sem-joint.yaml")
    t.add_argument("--resume", action="store_true", help="continue a killed run from its last epoch "
                   "(a finished run is re-evaluated, not retrained)")
    t.add_argument("--out", help="run folder (default: $SKELNB_RUNS/<config name>, $SKELNB_RUNS default ./runs)")
    e = sub.add_parser("evaluate", help="evaluate a run's checkpoint on the test set")
    e.add_argument("targets", nargs="+", metavar="CONFIG|RUN_DIR")
    e.add_argument("--out", help="run folder of a CONFIG (default: $SKELNB_RUNS/<config name>)")
    for p in (t, e):
        p.add_argument("--set", nargs="+", metavar="KEY=VALUE", action="extend",
                       help="override config keys, e.g. train.epochs=5 data.root=/data (values are YAML)")
        p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    f = sub.add_parser("fuse", help="fuse the test scores of runs (weighted mean of softmax scores)")
    f.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders (or scores.npz files)")
    f.add_argument("--weights", nargs="+", type=float, help="one weight per run (default: equal)")
    f.add_argument("--out", help="write the fused scores as a run folder here")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        if getattr(args, "threads", None):
            torch.set_num_threads(args.threads)
        if args.cmd == "train":
            if args.out and len(args.configs) > 1:
                raise CLIError("--out needs a single CONFIG (each config has its own run folder)")
            for path in args.configs:
                train(path, args)
        elif args.cmd == "evaluate":
            if args.out and len(args.targets) > 1:
                raise CLIError("--out needs a single CONFIG")
            for target in args.targets:
                evaluate_target(target, args)
        else:
            fuse_command(args)
    except (CLIError, C.ConfigError, CheckpointError, FusionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return 0
