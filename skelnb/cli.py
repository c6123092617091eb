"""Command line: train, evaluate and fuse runs described by YAML configs (``skelnb/configs``).

Route of ``skelnb train CONFIG``, one way down: here the arguments are parsed, the lines printed
and the exit status set; :mod:`skelnb.config` loads and checks the config; :func:`skelnb.run_dir.train_run`
prepares the run folder, builds the data and the model (``config.build_data``, ``build_model``) and
trains it (:func:`skelnb.train.fit`, with :mod:`skelnb.distributed` for several processes), which
scores the test set (:mod:`skelnb.evaluate`); what comes back up is only printed here.

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

What a run folder holds, and which settings ``--resume`` may change: :mod:`skelnb.run_dir`.

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
import sys
from pathlib import Path

import numpy as np
import torch

from . import build
from . import config as C
from .evaluate import EvalResult, evaluate
from .fuse import FusionError, fuse_runs
from .run_dir import EVAL_FREE_KEYS, RunDirError, config_diff, saved_config, train_run, write_confusion
from .train import BEST_NOTE, CheckpointError, device_of, load_checkpoint, write_atomic

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
    return (CLIError, RunDirError, C.ConfigError, CheckpointError, FusionError, SkeletonFormatError,
            UnsafePickleError, CacheError, InputError, ScoresError, ReportError, PredictError)


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


# ----------------------------------------------------------------------------- train
def train(path: str, args) -> EvalResult | None:
    cfg = C.load_config(path, args.set or ())
    run = train_run(cfg, args.out, resume=args.resume, device=args.device, tensorboard=args.tensorboard,
                    progress=not args.quiet, say=_say)
    res, run_dir = run.result, run.run_dir
    if run.rank == 0:
        if res.trained_epochs == 0:
            _say(f"finished run reused (all {cfg.train.epochs} epochs in checkpoint.pt)")
        _report(res.final, run.data, run_dir, brief=True)
        if res.best is not None:
            _say(f"best    top-1 {100 * res.best.top1:.2f} %  top-5 {100 * res.best.top5:.2f} %  at epoch "
                 f"{res.best_epoch} of {len(res.evals)} evaluated -- selected on the test set, optimistic "
                 f"-> {run_dir / 'scores_best.npz'}")
    return res.final


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
        diff = [d for d in config_diff(old.identity(), cfg.identity()) if d.split(":")[0] not in EVAL_FREE_KEYS]
        if diff:
            import hashlib
            tag = hashlib.sha1("; ".join(diff).encode()).hexdigest()[:8]
            out_dir = run_dir / f"eval-{tag}"
            out_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(out_dir / "config.yaml", cfg.to_yaml())
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
        write_confusion(res, run_dir, data)
        info = dict(part, **{k: v for k, v in info.items() if k not in part})
    else:
        part.pop("per_class")
        info["best"] = dict(info.get("best") or {}, **part, selected_on="test set", note=BEST_NOTE,
                            checkpoint=CHECKPOINTS["best"])
    info["class_names"] = list(data.class_names)
    write_atomic(path, json.dumps(info, indent=1))


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
