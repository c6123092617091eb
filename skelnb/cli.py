"""Command line: train, evaluate and fuse runs described by YAML configs (``skelnb/configs``).

    skelnb train CONFIG [CONFIG ...] [--resume] [--out DIR] [--set key=value ...] [--tensorboard]
    skelnb evaluate CONFIG|RUN_DIR [...] [--which last|best] [--set key=value ...]
    skelnb fuse RUN_DIR RUN_DIR [...] [--which last|best] [--weights W W ...] [--out DIR]
    skelnb report RUN_DIR [...] [--out report.html]
    skelnb predict CHECKPOINT|RUN_DIR FILE.skeleton [--top 5]
    skelnb doctor

(``skelnb`` is the console script; ``python -m skelnb`` is the same.) A CONFIG is a YAML file or
the name of a config shipped with the package (``skelnb train ntu60-xsub_sem-joint``).

Several GPUs: PyTorch's DistributedDataParallel, launched by ``torchrun``, e.g.
``torchrun --standalone --nproc_per_node 4 -m skelnb train CONFIG``. ``train.batch_size`` stays
the global batch (each process takes batch_size / processes), BatchNorm layers become
SyncBatchNorm on CUDA (``distributed.sync_bn``), and only rank 0 writes files; see
:func:`skelnb.train.fit` for what is then equal to a one-process run.

A run folder (``$SKELNB_RUNS/<config name>`` or ``--out``) holds ``config.yaml`` (the resolved
config), ``checkpoint.pt`` (every epoch, atomic), ``metrics.jsonl`` (one line per epoch, written
as it ends), ``scores_last.npz`` (= ``scores.npz``, the last epoch's test softmax scores),
``scores_best.npz`` + ``checkpoint_best.pt`` (the evaluated epoch of highest test top-1:
selected on the test set, hence optimistic), ``result.json`` (top-1/top-5/mean-class and
per-class accuracy, last epoch first, then the best), ``confusion.csv`` and ``run.json``
(history, timings, sizes). ``--resume`` continues a killed run from its last finished epoch, or
just re-evaluates a finished one; settings that change nothing learned (``train.eval_every``,
``eval_batch_size``, ``num_workers``, and ``amp`` where it did nothing, on a CPU) may differ.

Results are never overwritten by accident: ``evaluate RUN --set ...`` with settings that change
the numbers (``data.num_frames`` ...) writes into ``RUN/eval-<hash>/`` with its own
``config.yaml``; ``fuse --out`` refuses an input folder or a training run; score files must hold
finite probabilities (``fuse --logits`` converts logits). Every checkpoint carries the whole
config, so a run folder that lost its ``config.yaml`` can still be resumed and evaluated.

Errors of skelnb's own (a bad file, config value, cache, checkpoint ...) are printed as one line
``error: ...`` naming the file or key, with exit status 2; ``--debug`` shows the traceback.
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

from . import build
from . import config as C
from .evaluate import EvalResult, evaluate
from .fuse import FusionError, fuse_runs
from .train import BEST_NOTE, CheckpointError, device_of, fit, load_checkpoint

EXIT_ERROR = 2


class CLIError(RuntimeError):
    """A problem with the command line (exit status 2, message on stderr)."""


def own_errors() -> tuple:
    """skelnb's own error classes: ``main`` prints them as one line and exits with status 2
    (a traceback only with ``--debug``); anything else is a bug and keeps its traceback."""
    from .data.cache import CacheError
    from .data.formats import SkeletonFormatError, UnsafePickleError
    from .errors import InputError
    from .evaluate import ScoresError
    from .predict import PredictError
    from .report import ReportError
    return (CLIError, C.ConfigError, CheckpointError, FusionError, SkeletonFormatError, UnsafePickleError,
            CacheError, InputError, ScoresError, ReportError, PredictError)


def check_device(name: str) -> str:
    """``--device``: auto, cpu, cuda or cuda:N (present on this machine), mps (where available)."""
    import re
    if name in ("auto", "cpu"):
        return name
    m = re.fullmatch(r"cuda(?::(\d+))?", name or "")
    if m:
        if not torch.cuda.is_available():
            raise CLIError(f"--device {name}: CUDA is not available here (torch {torch.__version__}, "
                           f"built for CUDA {torch.version.cuda}); use --device cpu or auto")
        if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
            raise CLIError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                           f"cuda:0..cuda:{torch.cuda.device_count() - 1}")
        return name
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise CLIError("--device mps: MPS (Apple GPU) is not available here; use --device cpu or auto")
        return name
    raise CLIError(f"--device {name!r}: expected auto, cpu, cuda, cuda:N or mps")


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


# keys that change nothing that is learned: a run may be resumed with other values (fit's check,
# TrainConfig.training_diff, leaves the same ones out; for train.amp fit checks what mixed
# precision actually did on the device -- nothing on a CPU)
RESUMABLE_KEYS = ("train.eval_every", "train.eval_batch_size", "train.num_workers", "train.amp")
# keys that change nothing in an evaluation's numbers: evaluate writes into the run folder itself
EVAL_FREE_KEYS = RESUMABLE_KEYS + ("data.root", "data.allow_pickle")


def saved_config(run_dir: Path) -> C.RunConfig | None:
    """The config a run was trained with: its ``config.yaml``, else the copy every checkpoint
    carries (None: neither)."""
    saved = run_dir / "config.yaml"
    if saved.is_file():
        try:
            raw = yaml.safe_load(saved.read_text())
        except yaml.YAMLError as e:
            raise CLIError(f"{saved}: not valid YAML ({e})") from None
        if not isinstance(raw, dict):
            raise CLIError(f"{saved}: not a config (a mapping of sections)")
        return C.from_dict(raw)
    for name in ("checkpoint.pt", "checkpoint_best.pt"):
        if (run_dir / name).is_file():
            raw = load_checkpoint(run_dir / name).get("run_config")
            if isinstance(raw, dict):
                return C.from_dict(raw)
    return None


def _diff(a, b, prefix="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix[:-1]}: {a!r} -> {b!r}"]


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
    from .flops import count_macs
    x = torch.zeros(1, data.in_channels, data.num_frames, _layout(data.layout).num_joints, data.num_persons)
    try:
        return count_macs(model, x)
    except Exception:       # a model whose forward cannot run on the meta device
        return None


def _layout(name):
    from .data.layouts import get_layout
    return get_layout(name)


def describe_model(model, data: build.DataBundle) -> str:
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
        old = saved_config(run_dir)
        if old is not None:
            diff = [d for d in _diff(old.identity(), cfg.identity()) if d.split(":")[0] not in RESUMABLE_KEYS]
            if diff:
                raise CLIError(f"{run_dir} was started with another config ({'; '.join(diff)}); "
                               f"resume with the same settings, or use --out DIR for a new run")
    elif args.resume:
        _say(f"note: nothing to resume in {run_dir} (no {ckpt.name}): starting a new run", rank=rank)
    data = build.build_data(cfg)
    model = build.build_model(cfg, data)
    tc = cfg.train
    _say(f"run     {run_dir}", rank=rank)
    _say(f"config  {cfg.path}", rank=rank)
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
    board = _tensorboard(run_dir) if args.tensorboard and rank == 0 else None

    def log(row):
        test = (f"  test top-1 {100 * row['test_top1']:5.1f} %  mean-class {100 * row['test_mean_class']:5.1f} %"
                if "test_top1" in row else "")
        _say(f"epoch {row['epoch']:>3}/{tc.epochs}  loss {row['loss']:.4f}  acc {100 * row['acc']:5.1f} %  "
             f"lr {row['lr']:.4g}  {row['samples_per_s']:7.1f} samples/s  "
             f"loader {row['loader_s_per_step']:.4f} s/step  step {row['step_s']:.4f} s/step{test}")
        if board is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, (int, float)):
                    board.add_scalar(k.replace("test_", "test/", 1) if k.startswith("test_") else f"train/{k}",
                                     v, row["epoch"])
            board.flush()

    t0 = time.perf_counter()
    try:
        res = fit(model, data.train, data.test, tc, run_dir, resume=True, device=str(dev),
                  progress=not args.quiet, rank=rank, world_size=world, desc=cfg.name, log=log,
                  test_ids=data.test_ids, class_names=data.class_names, run_config=cfg.raw)
    finally:
        if board is not None:
            board.close()
    wall = time.perf_counter() - t0
    if rank == 0:
        _write_confusion(res.final, run_dir, data)
        info = dict(name=cfg.name, config=str(cfg.path), data=data.description,
                    model=desc,
                    device=str(dev), processes=world, batch_per_process=tc.batch_size // world,
                    epochs=tc.epochs, trained_epochs_this_call=res.trained_epochs, wall_s_this_call=wall,
                    top1=res.final.top1, top5=res.final.top5, mean_class=res.final.mean_class,
                    best=None if res.best is None else dict(epoch=res.best_epoch, top1=res.best.top1,
                                                            top5=res.best.top5, selected_on="test set"),
                    evals=res.evals, history=res.history, torch=torch.__version__)
        _write_atomic(run_dir / "run.json", json.dumps(info, indent=1))
        if res.trained_epochs == 0:
            _say(f"finished run reused (all {tc.epochs} epochs in {ckpt.name})")
        _report(res.final, data, run_dir, brief=True)
        if res.best is not None:
            _say(f"best    top-1 {100 * res.best.top1:.2f} %  top-5 {100 * res.best.top5:.2f} %  at epoch "
                 f"{res.best_epoch} of {len(res.evals)} evaluated -- selected on the test set, optimistic "
                 f"-> {run_dir / 'scores_best.npz'}")
    if world > 1:
        import torch.distributed as dist
        dist.barrier()
    return res.final


def _tensorboard(run_dir: Path):
    """A TensorBoard writer into ``run_dir/tensorboard`` (a clear error if it is not installed)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise CLIError(f"--tensorboard needs the tensorboard package ({e}); install it with "
                       f"`pip install tensorboard`, or leave --tensorboard out (metrics.jsonl has the "
                       f"same numbers)") from None
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


def _write_confusion(res: EvalResult, run_dir: Path, data: build.DataBundle) -> None:
    cm = res.confusion()
    lines = ["true\\pred," + ",".join(data.class_names)]
    lines += [f"{data.class_names[i]}," + ",".join(str(v) for v in row) for i, row in enumerate(cm)]
    _write_atomic(run_dir / "confusion.csv", "\n".join(lines) + "\n")


def _report(res: EvalResult, data: build.DataBundle, run_dir: Path, brief: bool = False,
            which: str = "last") -> None:
    label = "test   " if which == "last" else "best   "
    note = "" if which == "last" else " (epoch selected on the test set: optimistic)"
    _say(f"{label} top-1 {100 * res.top1:.2f} %  top-5 {100 * res.top5:.2f} %  mean-class "
         f"{100 * res.mean_class:.2f} %  ({len(res.labels)} samples){note} -> {run_dir / SCORES[which]}")
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
    if which == "last":
        _say(f"confusion matrix -> {run_dir / 'confusion.csv'}")


# ----------------------------------------------------------------------------- evaluate
def evaluate_target(target: str, args) -> EvalResult:
    p = Path(target)
    if p.is_dir():
        old = saved_config(p)
        if old is None:
            raise CLIError(f"{p}: not a run folder (no config.yaml and no checkpoint); pass a run folder or a "
                           f"config file")
        cfg, run_dir = C.from_dict(old.raw, args.set or ()), p
        if (p / "config.yaml").is_file():
            cfg.path = p / "config.yaml"
    else:
        cfg = C.load_config(p, args.set or ())
        run_dir = cfg.run_dir(args.out)
        old = saved_config(run_dir) if run_dir.is_dir() else None
    out_dir = run_dir
    if old is not None:                 # other settings: the results go beside the run, not over it
        diff = [d for d in _diff(old.identity(), cfg.identity()) if d.split(":")[0] not in EVAL_FREE_KEYS]
        if diff:
            import hashlib
            tag = hashlib.sha1("; ".join(diff).encode()).hexdigest()[:8]
            out_dir = run_dir / f"eval-{tag}"
            out_dir.mkdir(parents=True, exist_ok=True)
            _write_atomic(out_dir / "config.yaml", cfg.to_yaml())
            _say(f"note: evaluated with other settings than the run's ({'; '.join(diff)}): results go to "
                 f"{out_dir}, the run's own are kept")
    which = getattr(args, "which", "last")
    ckpt = run_dir / CHECKPOINTS[which]
    if not ckpt.is_file():
        if which == "best" and (run_dir / "checkpoint.pt").is_file():
            raise CLIError(f"{run_dir}: no {ckpt.name} (a run from before periodic evaluation, or not yet "
                           f"evaluated); use --which last")
        raise CLIError(f"{run_dir}: no checkpoint.pt; train first: python -m skelnb train {cfg.path or target}")
    state = load_checkpoint(ckpt)
    data = build.build_data(cfg)
    model = build.build_model(cfg, data)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{ckpt}: its weights do not fit the model of {cfg.path} "
                              f"({str(e).splitlines()[0]})") from None
    epochs = cfg.train.epochs
    dev = device_of(args.device)
    _say(f"run     {run_dir} ({ckpt.name}: after epoch {state['epoch']} of {epochs}"
         + ("" if state["epoch"] >= epochs or which == "best" else ", NOT finished")
         + (", the epoch of highest test top-1: selected on the test set, optimistic" if which == "best" else "")
         + ")")
    res = evaluate(model.to(dev), data.test, batch_size=cfg.train.eval_batch_size, device=dev)
    res.ids = data.test_ids
    _save_evaluation(res, out_dir, data, which, state["epoch"])
    _report(res, data, out_dir, which=which)
    return res


SCORES = {"last": "scores_last.npz", "best": "scores_best.npz"}
CHECKPOINTS = {"last": "checkpoint.pt", "best": "checkpoint_best.pt"}


def _save_evaluation(res: EvalResult, run_dir: Path, data: build.DataBundle, which: str, epoch: int) -> None:
    """The scores of ``which`` (last: also ``scores.npz`` and ``confusion.csv``) and its part of
    ``result.json`` (the other part is kept)."""
    res.save_scores(run_dir / SCORES[which])
    path = run_dir / "result.json"
    try:
        info = json.loads(path.read_text()) if path.is_file() else {}
    except ValueError:
        info = {}
    part = dict(res.summary(), epoch=epoch, scores=SCORES[which],
                per_class=[None if np.isnan(a) else float(a) for a in res.per_class()])
    if which == "last":
        res.save_scores(run_dir / "scores.npz")
        _write_confusion(res, run_dir, data)
        info = dict(part, **{k: v for k, v in info.items() if k not in part})
    else:
        part.pop("per_class")
        info["best"] = dict(info.get("best") or {}, **part, selected_on="test set", note=BEST_NOTE,
                            checkpoint=CHECKPOINTS["best"])
    info["class_names"] = list(data.class_names)
    _write_atomic(path, json.dumps(info, indent=1))


# ----------------------------------------------------------------------------- fuse
def fuse_command(args) -> None:
    rep = fuse_runs(args.runs, args.weights, which=args.which, logits=args.logits)
    if args.which == "best":
        _say("scores of each run's best epoch (selected on the test set: optimistic)")
    _say(rep.table())
    if args.out:
        _say(f"fused scores -> {rep.save(args.out) / 'scores.npz'}")


# ----------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="skelnb", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train (or resume) the run a config describes, then evaluate it")
    t.add_argument("configs", nargs="+", metavar="CONFIG",
                   help="YAML config(s) or names of shipped configs, e.g. quick_sem-joint or ntu60-xsub_sem-joint")
    t.add_argument("--resume", action="store_true", help="continue a killed run from its last epoch "
                   "(a finished run is re-evaluated, not retrained)")
    t.add_argument("--out", help="run folder (default: $SKELNB_RUNS/<config name>, $SKELNB_RUNS default ./runs)")
    t.add_argument("--tensorboard", action="store_true",
                   help="also log every epoch to RUN_DIR/tensorboard (needs the tensorboard package)")
    e = sub.add_parser("evaluate", help="evaluate a run's checkpoint on the test set")
    e.add_argument("targets", nargs="+", metavar="CONFIG|RUN_DIR")
    e.add_argument("--out", help="run folder of a CONFIG (default: $SKELNB_RUNS/<config name>)")
    e.add_argument("--which", choices=("last", "best"), default="last",
                   help="checkpoint.pt (last epoch, default) or checkpoint_best.pt (the epoch of highest "
                        "test top-1: selected on the test set, optimistic)")
    for p in (t, e):
        p.add_argument("--set", nargs="+", metavar="KEY=VALUE", action="extend",
                       help="override config keys, e.g. train.epochs=5 data.root=/data (values are YAML)")
        p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
    f = sub.add_parser("fuse", help="fuse the test scores of runs (weighted mean of softmax scores)")
    f.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders (or scores.npz files)")
    f.add_argument("--weights", nargs="+", type=float, help="one weight per run (default: equal)")
    f.add_argument("--out", help="write the fused scores as a run folder here (a new folder: never one of the runs)")
    f.add_argument("--logits", action="store_true", help="the score files hold logits: apply a softmax first "
                   "(without it, scores that are not probabilities are an error)")
    f.add_argument("--which", choices=("last", "best"), default="last",
                   help="each run's last-epoch scores (default) or best-epoch scores (selected on the "
                        "test set: optimistic)")
    r = sub.add_parser("report", help="one offline HTML file: training curves, per-class accuracy, confusion matrix")
    r.add_argument("runs", nargs="+", metavar="RUN_DIR")
    r.add_argument("--out", default="report.html", help="the HTML file to write (default ./report.html)")
    r.add_argument("--which", choices=("last", "best"), default="last",
                   help="scores for the per-class accuracy and the confusion matrix")
    pr = sub.add_parser("predict", help="the top classes a trained run gives one .skeleton file")
    pr.add_argument("checkpoint", metavar="CHECKPOINT|RUN_DIR",
                    help="a run folder or a checkpoint file in one (its config.yaml is read)")
    pr.add_argument("files", nargs="+", metavar="FILE.skeleton")
    pr.add_argument("--top", type=int, default=5)
    pr.add_argument("--device", default="cpu")
    d = sub.add_parser("doctor", help="versions, sparse backend, spconv check and a training step of every "
                                      "model on this machine")
    d.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda")
    for p in [ap, *sub.choices.values()]:
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS if p is not ap else False,
                       help="show the full traceback of an error")
    return ap


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    own = own_errors()
    try:
        if getattr(args, "threads", None) is not None:
            if args.threads < 1:
                raise CLIError(f"--threads {args.threads}: expected an integer >= 1")
            torch.set_num_threads(args.threads)
        if getattr(args, "device", None) is not None:
            check_device(args.device)
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
        elif args.cmd == "fuse":
            fuse_command(args)
        elif args.cmd == "report":
            from .report import ReportError, write_report
            try:
                _say(f"report -> {write_report(args.runs, args.out, which=args.which)}")
            except ReportError as e:
                raise CLIError(str(e)) from None
        elif args.cmd == "predict":
            from .predict import PredictError, predict_files
            try:
                predict_files(args.checkpoint, args.files, top=args.top, device=args.device, say=_say)
            except PredictError as e:
                raise CLIError(str(e)) from None
        else:
            from .doctor import run_doctor
            return run_doctor(args.device)
    except own as e:
        if args.debug:
            raise
        print("error: " + " ".join(str(e).split()), file=sys.stderr)      # one line
        return EXIT_ERROR
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return 0
