"""A run folder, and training a config into it (``skelnb train CONFIG`` below the command line).

A run folder (``$SKELNB_RUNS/<config name>`` or ``--out``) holds ``config.yaml`` (the resolved
config), ``checkpoint.pt`` (every epoch, atomic), ``metrics.jsonl`` (one line per epoch, written
as it ends), ``scores_last.npz`` (= ``scores.npz``, the last epoch's test softmax scores),
``scores_best.npz`` + ``checkpoint_best.pt`` (the evaluated epoch of highest test top-1:
selected on the test set, hence optimistic), ``result.json`` (top-1/top-5/mean-class and
per-class accuracy, last epoch first, then the best), ``confusion.csv`` and ``run.json``
(history, timings, sizes). ``--resume`` continues a killed run from its last finished epoch, or
just re-evaluates a finished one; settings that change nothing learned (:data:`RESUMABLE_KEYS`:
``train.eval_every``, ``eval_batch_size``, ``num_workers``, and ``amp`` where it did nothing, on
a CPU) may differ.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from . import build
from . import config as C
from .distributed import init_distributed, wrap_ddp
from .evaluate import EvalResult
from .train import RESUME_FREE, RunResult, fit, load_checkpoint, write_atomic

# keys that change nothing that is learned: a run may be resumed with other values (fit's check,
# TrainConfig.training_diff, leaves the same ones out; for train.amp fit checks what mixed
# precision actually did on the device -- nothing on a CPU)
RESUMABLE_KEYS = tuple(f"train.{k}" for k in RESUME_FREE)
# keys that change nothing in an evaluation's numbers: evaluate writes into the run folder itself
EVAL_FREE_KEYS = RESUMABLE_KEYS + ("data.root", "data.allow_pickle")


class RunDirError(RuntimeError):
    """A run folder that cannot be used as asked: it holds another run, or an unreadable config."""


def remove_stale_tmp(run_dir: Path) -> None:
    """Temporary files a killed process left (``.checkpoint.pt.tmp<pid>`` ...)."""
    for f in run_dir.glob(".*.tmp*"):
        pid = "".join(ch for ch in f.name.rsplit("tmp", 1)[-1] if ch.isdigit())
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            f.unlink(missing_ok=True)
        except PermissionError:
            pass


def saved_config(run_dir: Path) -> C.RunConfig | None:
    """The config a run was trained with: its ``config.yaml``, else the copy every checkpoint
    carries (None: neither)."""
    saved = run_dir / "config.yaml"
    if saved.is_file():
        try:
            raw = yaml.safe_load(saved.read_text())
        except yaml.YAMLError as e:
            raise RunDirError(f"{saved}: not valid YAML ({e})") from None
        if not isinstance(raw, dict):
            raise RunDirError(f"{saved}: not a config (a mapping of sections)")
        return C.from_dict(raw)
    for name in ("checkpoint.pt", "checkpoint_best.pt"):
        if (run_dir / name).is_file():
            raw = load_checkpoint(run_dir / name).get("run_config")
            if isinstance(raw, dict):
                return C.from_dict(raw)
    return None


def config_diff(a, b, prefix="") -> list[str]:
    """The keys where two nested dicts (``RunConfig.identity()``) differ, as ``key: old -> new``."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += config_diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix[:-1]}: {a!r} -> {b!r}"]


def check_resume(cfg: C.RunConfig, run_dir: Path, resume: bool, say) -> None:
    """A run folder that holds a checkpoint is continued only with ``resume`` and the same
    settings (up to :data:`RESUMABLE_KEYS`); ``say`` gets the note when there is nothing to resume."""
    ckpt = run_dir / "checkpoint.pt"
    if ckpt.exists():
        if not resume:
            raise RunDirError(f"{run_dir} already holds a run ({ckpt.name}); pass --resume to continue it "
                              f"(or re-evaluate it if finished), or --out DIR for a new run")
        old = saved_config(run_dir)
        if old is not None:
            diff = [d for d in config_diff(old.identity(), cfg.identity()) if d.split(":")[0] not in RESUMABLE_KEYS]
            if diff:
                raise RunDirError(f"{run_dir} was started with another config ({'; '.join(diff)}); "
                                  f"resume with the same settings, or use --out DIR for a new run")
    elif resume:
        say(f"note: nothing to resume in {run_dir} (no {ckpt.name}): starting a new run")


def _macs(model, data: build.DataBundle) -> float | None:
    """Multiply-adds per sample: counted on the meta device, or -- for SPA-Net, whose cost depends
    on the occupied voxels -- on the first (up to) 4 test samples."""
    if type(model).__name__ == "SPANet":
        from .spa.net import sparse_costs
        n = min(4, len(data.test))
        if n == 0:
            return None
        x = torch.stack([data.test[i][0] for i in range(n)])
        return sparse_costs(model, x).per_sample()["macs"]
    from .data.layouts import get_layout
    from .flops import count_macs
    x = torch.zeros(1, data.in_channels, data.num_frames, get_layout(data.layout).num_joints, data.num_persons)
    try:
        return count_macs(model, x)
    except Exception:       # a model whose forward cannot run on the meta device
        return None


def describe_model(model, data: build.DataBundle) -> str:
    """``SEMNet: 1.23 M parameters, 4.56 G multiply-adds per sample at T=64`` (the cost if it can be counted)."""
    from .flops import count_params
    macs = _macs(model, data)
    cost = f", {macs / 1e9:.2f} G multiply-adds per sample at T={data.num_frames}" if macs else ""
    return f"{type(model).__name__}: {count_params(model) / 1e6:.2f} M parameters{cost}"


def tensorboard_writer(run_dir: Path):
    """A TensorBoard writer into ``run_dir/tensorboard`` (a clear error if it is not installed)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise RunDirError(f"--tensorboard needs the tensorboard package ({e}); install it with "
                          f"`pip install tensorboard`, or leave --tensorboard out (metrics.jsonl has the "
                          f"same numbers)") from None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def write_confusion(res: EvalResult, run_dir: Path, data: build.DataBundle) -> None:
    """``confusion.csv``: one row per true class, one column per predicted class (sample counts)."""
    cm = res.confusion()
    lines = ["true\\pred," + ",".join(data.class_names)]
    lines += [f"{data.class_names[i]}," + ",".join(str(v) for v in row) for i, row in enumerate(cm)]
    write_atomic(run_dir / "confusion.csv", "\n".join(lines) + "\n")


def _epoch_logger(say, epochs: int, board):
    """``fit``'s ``log``: one line per epoch to ``say``, and every number to TensorBoard (``board``)."""
    def log(row):
        test = (f"  test top-1 {100 * row['test_top1']:5.1f} %  mean-class {100 * row['test_mean_class']:5.1f} %"
                if "test_top1" in row else "")
        say(f"epoch {row['epoch']:>3}/{epochs}  loss {row['loss']:.4f}  acc {100 * row['acc']:5.1f} %  "
            f"lr {row['lr']:.4g}  {row['samples_per_s']:7.1f} samples/s  "
            f"loader {row['loader_s_per_step']:.4f} s/step  step {row['step_s']:.4f} s/step{test}")
        if board is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, (int, float)):
                    board.add_scalar(k.replace("test_", "test/", 1) if k.startswith("test_") else f"train/{k}",
                                     v, row["epoch"])
            board.flush()
    return log


@dataclass
class TrainedRun:
    """What :func:`train_run` returns: the folder, the data it was evaluated on, ``fit``'s result
    and this process's rank (only rank 0 reports)."""
    run_dir: Path
    data: build.DataBundle
    result: RunResult
    rank: int = 0


def train_run(cfg: C.RunConfig, out: str | None = None, *, resume: bool = False, device: str | None = "auto",
              tensorboard: bool = False, progress: bool = True, say=print) -> TrainedRun:
    """Train ``cfg`` into its run folder (``out``, else ``cfg.run_dir()``), one process or one of
    torchrun's: check the folder (:func:`check_resume`), build the data and the model, write
    ``config.yaml``, train and evaluate (:func:`skelnb.train.fit`, which continues from the
    checkpoint), then write ``confusion.csv`` and ``run.json``. ``say`` gets the lines to print
    (rank 0 only)."""
    rank, world, dev = init_distributed(device)
    tell = say if rank == 0 else (lambda *a: None)
    run_dir = cfg.run_dir(out)
    check_resume(cfg, run_dir, resume, tell)
    data = build.build_data(cfg)
    model = build.build_model(cfg, data)
    tc = cfg.train
    tell(f"run     {run_dir}")
    tell(f"config  {cfg.path}")
    tell(f"data    {data.description}, {data.num_classes} classes, T={data.num_frames}")
    desc = describe_model(model, data)
    tell(f"model   {desc}")
    tell(f"train   {tc.epochs} epoch{'s' * (tc.epochs > 1)}, batch {tc.batch_size}"
         + (f" ({tc.batch_size // world} per process x {world})" if world > 1 else "")
         + f", lr {tc.lr} ({tc.schedule}, warm-up {tc.warmup_epochs}), device {dev}")
    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(run_dir)
        write_atomic(run_dir / "config.yaml", cfg.to_yaml())
    if world > 1:
        model = wrap_ddp(model, dev, cfg.distributed.get("sync_bn", True), rank, say=say)
    board = tensorboard_writer(run_dir) if tensorboard and rank == 0 else None
    log = _epoch_logger(say, tc.epochs, board)
    t0 = time.perf_counter()
    try:
        res = fit(model, data.train, data.test, tc, run_dir, resume=True, device=str(dev),
                  progress=progress, rank=rank, world_size=world, desc=cfg.name, log=log,
                  test_ids=data.test_ids, class_names=data.class_names, run_config=cfg.raw)
    finally:
        if board is not None:
            board.close()
    wall = time.perf_counter() - t0
    if rank == 0:
        write_confusion(res.final, run_dir, data)
        info = dict(name=cfg.name, config=str(cfg.path), data=data.description,
                    model=desc,
                    device=str(dev), processes=world, batch_per_process=tc.batch_size // world,
                    epochs=tc.epochs, trained_epochs_this_call=res.trained_epochs, wall_s_this_call=wall,
                    top1=res.final.top1, top5=res.final.top5, mean_class=res.final.mean_class,
                    best=None if res.best is None else dict(epoch=res.best_epoch, top1=res.best.top1,
                                                            top5=res.best.top5, selected_on="test set"),
                    evals=res.evals, history=res.history, torch=torch.__version__)
        write_atomic(run_dir / "run.json", json.dumps(info, indent=1))
    if world > 1:
        torch.distributed.barrier()
    return TrainedRun(run_dir, data, res, rank)
