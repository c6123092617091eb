"""One training loop for every model and data set.

The recipe of this model family (ST-GCN, 2s-AGCN, DSTA-Net, ...): SGD with Nesterov momentum
and weight decay, a linear warm-up, then a step or cosine schedule, optional label smoothing,
mixed precision on CUDA. A run lives in a folder: ``checkpoint.pt`` is written atomically at the
end of every epoch (temp file, then rename), so a killed run resumes from its last finished
epoch and ends with the same numbers as an uninterrupted one: every source of randomness
(shuffling, augmentation, dropout) is a function of (seed, epoch). A run whose checkpoint
already holds all its epochs is not trained again: ``fit`` returns its saved result.

Evaluation protocol: the test set is scored every ``eval_every`` epochs and every epoch of the
last third (:func:`eval_epochs`; evaluation changes nothing in training). The last epoch's
scores are the run's result (``scores_last.npz``, also ``scores.npz``); the epoch of highest
test top-1 is kept too (``scores_best.npz``, ``checkpoint_best.pt``), as the authors' code
does -- it is selected on the test set, hence optimistic, and always reported second.
``metrics.jsonl`` gets one line per epoch as it ends (appended, flushed and fsync'ed).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .evaluate import EvalResult, evaluate

FORMAT = "skelnb-checkpoint-1"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 120
    batch_size: int = 32
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    warmup_epochs: float = 5
    schedule: str = "step"                  # 'step' (x gamma at milestones) or 'cosine'
    milestones: tuple[int, ...] = (60, 90)
    gamma: float = 0.1
    label_smoothing: float = 0.0
    seed: int = 0
    amp: bool = True                        # mixed precision (CUDA only)
    num_workers: int = 0
    eval_batch_size: int = 64
    eval_every: int = 5                     # test every N epochs and each epoch of the last third (0: last only)
    global_lr: float = 1.0                  # lr multiplier of GR-CFSA's alpha_hat and beta (Eq. 7)

    def __post_init__(self):
        if self.schedule not in ("step", "cosine"):
            raise ValueError(f"TrainConfig.schedule must be 'step' or 'cosine', got {self.schedule!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("TrainConfig: epochs and batch_size must be >= 1")
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ValueError(f"TrainConfig.eval_every must be an integer >= 0, got {self.eval_every!r}")
        if not isinstance(self.eval_batch_size, int) or self.eval_batch_size < 1:
            raise ValueError(f"TrainConfig.eval_batch_size must be an integer >= 1, got {self.eval_batch_size!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"TrainConfig.num_workers must be an integer >= 0, got {self.num_workers!r}")

    def training_diff(self, saved: dict) -> list[str]:
        """The fields of a checkpoint's saved config (``asdict`` of a TrainConfig; a field it
        lacks had its default) that differ from this one in what is learned; :data:`RESUME_FREE`
        fields are left out (``amp`` is checked by ``fit`` on what it did on the device: on a CPU
        it is off either way)."""
        mine = json.loads(json.dumps(asdict(self)))
        theirs = json.loads(json.dumps(asdict(TrainConfig()) | dict(saved)))
        return [f"train.{k}: {theirs.get(k)!r} -> {mine[k]!r}" for k in mine
                if k not in RESUME_FREE and theirs.get(k) != mine[k]]

    def key(self) -> str:
        """Hash of what decides the trained weights (``eval_every`` does not: evaluating changes
        nothing in training, so a run may be resumed with another evaluation schedule)."""
        d = asdict(self)
        d.pop("eval_every")
        if d["global_lr"] == 1.0:
            d.pop("global_lr")                  # the key of every run from before the option
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


GLOBAL_PARAMS = ("alpha_hat", "beta")        # GR-CFSA's input-independent attention (Eq. 7)


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """One group of every parameter, or with ``cfg.global_lr != 1`` a second group of the
    ``alpha_hat``/``beta`` parameters whose learning rate is ``global_lr`` times the schedule's."""
    named = list(model.named_parameters())
    glob = [p for n, p in named if n.rsplit(".", 1)[-1] in GLOBAL_PARAMS]
    if cfg.global_lr == 1.0 or not glob:
        return [dict(params=[p for _, p in named])]
    rest = [p for n, p in named if n.rsplit(".", 1)[-1] not in GLOBAL_PARAMS]
    return [dict(params=rest), dict(params=glob, lr_scale=float(cfg.global_lr))]


# fields that change nothing that is learned: a run may be resumed with other values
RESUME_FREE = ("eval_every", "eval_batch_size", "num_workers", "amp")


def eval_epochs(cfg: TrainConfig) -> list[int]:
    """The (1-based) epochs after which ``fit`` scores the test set: every ``eval_every``-th,
    every epoch of the last third of the schedule (epoch > epochs - epochs // 3), and the last
    one; ``eval_every=0``: the last one only."""
    n, k = cfg.epochs, cfg.eval_every
    if k == 0:
        return [n]
    return [e for e in range(1, n + 1) if e % k == 0 or e > n - n // 3 or e == n]


def lr_at(cfg: TrainConfig, epoch: float) -> float:
    """Learning rate at a (fractional) epoch: linear warm-up, then step or cosine decay."""
    if epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1e-3) / cfg.warmup_epochs
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** sum(epoch >= m for m in cfg.milestones)
    span = max(cfg.epochs - cfg.warmup_epochs, 1e-6)
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * min(1.0, (epoch - cfg.warmup_epochs) / span)))


class CheckpointError(RuntimeError):
    """A checkpoint that is truncated, not skelnb's, or from another run."""


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """torch.save to a temporary file in the same folder, then an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(dict(state, format=FORMAT), tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load with ``weights_only=True`` (no code runs); clear errors for bad files."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # truncated zip, unpickling refused, ...
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e}); "
                              f"it may be truncated or not written by skelnb") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a skelnb checkpoint (expected format {FORMAT!r})")
    return state


def device_of(name: str | None = None) -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass
class RunResult:
    """What ``fit`` returns: the per-epoch history and the final (last-epoch) evaluation.

    ``best`` / ``best_epoch``: the evaluated epoch of highest test top-1 -- selected on the test
    set, hence an optimistic number (the authors' protocol); ``final`` is the honest one.
    ``evals``: one dict (epoch, top1, top5, mean_class) per evaluated epoch."""
    run_dir: Path | None
    history: list[dict] = field(default_factory=list)
    final: EvalResult | None = None
    trained_epochs: int = 0          # epochs trained by this call (0: the run was complete)
    best: EvalResult | None = None
    best_epoch: int | None = None
    evals: list[dict] = field(default_factory=list)

    @property
    def top1(self) -> float:
        return self.final.top1 if self.final else float("nan")


def _loader(ds: Dataset, batch_size: int, sampler, workers: int) -> DataLoader:
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers, drop_last=False,
                      pin_memory=torch.cuda.is_available())


def train_sampler(ds: Dataset, seed: int, rank: int = 0, world_size: int = 1):
    """The shuffling of every run, one process or several: a ``DistributedSampler`` whose epoch
    permutation is ``randperm(N)`` seeded by ``seed + epoch``; process ``rank`` of ``world_size``
    takes ``perm[rank::world_size]``. With a per-process batch of B / world_size, step s of
    process r then holds exactly the samples ``perm[s*B:(s+1)*B]`` of the single-process step s
    that fall to r, so the union of the processes' batches is the single-process batch. (If N
    is not a multiple of world_size, the sampler repeats a few samples to even the shares.)"""
    from torch.utils.data.distributed import DistributedSampler
    return DistributedSampler(ds, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=False)


def train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer,
               scaler: torch.amp.GradScaler, lossf, use_amp: bool):
    """One optimisation step (forward under autocast if ``use_amp``, loss, backward, optimizer
    step through the grad scaler); returns (outputs, loss)."""
    with torch.autocast(x.device.type, enabled=use_amp):
        out = model(x)
        loss = lossf(out.float(), y)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    return out, loss


def step_times(model: nn.Module, batches, cfg: TrainConfig = TrainConfig(), device: str | None = None,
               warmup: int = 1) -> list[float]:
    """Wall time (s) of ``fit``'s training step on each of ``batches`` ((x, y) pairs), after
    ``warmup`` untimed steps on the first one: SGD as ``cfg``, AMP on CUDA, CUDA synchronised.
    The model's weights change (it trains); pass a copy to keep the original."""
    dev = device_of(device)
    model.to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)
    use_amp = cfg.amp and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    lossf = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    batches = [(x.to(dev), y.to(dev)) for x, y in batches]
    for _ in range(warmup):
        train_step(model, *batches[0], opt, scaler, lossf, use_amp)
    times = []
    for x, y in batches:
        sync()
        t0 = time.perf_counter()
        train_step(model, x, y, opt, scaler, lossf, use_amp)
        sync()
        times.append(time.perf_counter() - t0)
    return times


ESTIMATE_ABOVE_S = 120.0     # fit prints its estimated training time when it is longer than this


def estimate_note(desc: str, dev: torch.device, per_step: float, steps_left: int, elapsed: float,
                  epochs: int) -> str | None:
    """The line ``fit`` prints after its first steps when the whole run will take longer than
    :data:`ESTIMATE_ABOVE_S`: the estimate from the measured time per step (None: short run)."""
    total = elapsed + per_step * steps_left
    if total <= ESTIMATE_ABOVE_S:
        return None
    where = (f"{dev} ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda"
             else f"cpu ({torch.get_num_threads()} threads)")
    return (f"{desc}: about {total / 60:.1f} min of training for {epochs} epoch(s) on {where} "
            f"(estimated from {per_step:.3f} s per step measured on the first steps)")


def fit(model: nn.Module, train_set: Dataset, test_set: Dataset | None = None,
        cfg: TrainConfig = TrainConfig(), run_dir: str | os.PathLike | None = None, *,
        resume: bool = True, device: str | None = None, progress: bool = True,
        rank: int = 0, world_size: int = 1, desc: str = "train", log=None,
        test_ids=None, class_names=None, run_config: dict | None = None) -> RunResult:
    """Train ``model`` on ``train_set`` for ``cfg.epochs``; evaluate on ``test_set`` at the epochs
    of :func:`eval_epochs` (always the last).

    ``run_dir``: where ``checkpoint.pt``, ``metrics.jsonl``, ``scores_last.npz`` (= ``scores.npz``),
    ``scores_best.npz``, ``checkpoint_best.pt`` and ``result.json`` go (None: nothing is written).
    ``resume``: continue from the checkpoint in ``run_dir`` (it must come from the same config).
    ``log``: called with each epoch's metrics row (the history row, plus ``test_top1``,
    ``test_top5``, ``test_mean_class`` after an evaluation; on rank 0).
    ``test_ids`` / ``class_names``: saved with the scores / in ``result.json``.
    ``run_config``: the whole resolved config (a dict), kept in every checkpoint so a run folder
    that lost its ``config.yaml`` can still be checked and evaluated. Resuming needs the same
    training settings (:meth:`TrainConfig.training_diff`; evaluation and loading settings may
    change) and the same use of mixed precision.

    Several processes (``torchrun``, see ``skelnb.distributed`` and ``skelnb.run_dir``): the
    caller initialises the process group, wraps the model in DistributedDataParallel and
    passes ``rank`` and ``world_size``.
    ``cfg.batch_size`` is the *global* batch: each process takes ``batch_size / world_size``
    samples per step (:func:`train_sampler`), DDP averages the gradients, so a step sees the same
    samples and (with SyncBatchNorm, or without batch statistics) the same gradient as one
    process would, up to floating-point summation order. The history's loss/accuracy are summed
    over processes; only rank 0 writes files. Every process evaluates the whole test set.
    """
    dev = device_of(device)
    model.to(dev)
    run_dir = Path(run_dir) if run_dir is not None else None
    ckpt_path = run_dir / "checkpoint.pt" if run_dir else None
    opt = torch.optim.SGD(param_groups(model, cfg), lr=cfg.lr, momentum=cfg.momentum,
                          nesterov=cfg.nesterov, weight_decay=cfg.weight_decay)
    use_amp = cfg.amp and dev.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    result = RunResult(run_dir)
    start, best = 0, None
    if resume and ckpt_path is not None and ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        saved = state.get("config")
        diff = cfg.training_diff(saved) if isinstance(saved, dict) else None
        if diff or (diff is None and state.get("config_key") != cfg.key()):
            raise CheckpointError(f"{ckpt_path}: written by another configuration "
                                  f"({'; '.join(diff) if diff else saved}); use another run_dir or resume=False")
        if state.get("amp_active", use_amp) != use_amp and state["epoch"] < cfg.epochs:   # it would train on
            raise CheckpointError(f"{ckpt_path}: the first {state['epoch']} epoch(s) ran on "
                                  f"{state.get('device', 'another device')} with mixed precision "
                                  f"{'on' if state['amp_active'] else 'off'}; this call would go on with it "
                                  f"{'on' if use_amp else 'off'} (train.amp={cfg.amp} on {dev}): resume with the "
                                  f"same train.amp and device type")
        _unwrap(model).load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start, result.history = state["epoch"], list(state["history"])
        result.evals, best = list(state.get("evals", [])), state.get("best")
    writes = run_dir is not None and rank == 0
    if writes:
        run_dir.mkdir(parents=True, exist_ok=True)
        _rewrite_metrics(run_dir / METRICS, result.history, result.evals)   # drop lines past the checkpoint
    schedule = set(eval_epochs(cfg)) if test_set is not None else set()
    last = None
    lossf = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    if cfg.batch_size % world_size:
        raise ValueError(f"TrainConfig.batch_size={cfg.batch_size} is the global batch and must be a "
                         f"multiple of the number of processes ({world_size})")
    sampler = train_sampler(train_set, cfg.seed, rank, world_size)
    for epoch in range(start, cfg.epochs):
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)          # dropout etc.: a function of the epoch
        if hasattr(train_set, "set_epoch"):
            train_set.set_epoch(epoch)
        sampler.set_epoch(epoch)
        loader = _loader(train_set, cfg.batch_size // world_size, sampler, cfg.num_workers)
        model.train()
        seen = correct = 0
        loss_sum = data_time = step_time = 0.0
        bar = tqdm(loader, desc=f"{desc} {epoch + 1}/{cfg.epochs}", disable=not progress or rank != 0,
                   leave=False, mininterval=1.0)
        t0 = t_start = t_first = time.perf_counter()     # t_first becomes the end of step 0 below
        for step, (x, y) in enumerate(bar):
            t1 = time.perf_counter()
            data_time += t1 - t0
            for group in opt.param_groups:
                group["lr"] = lr_at(cfg, epoch + step / len(loader)) * group.get("lr_scale", 1.0)
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            out, loss = train_step(model, x, y, opt, scaler, lossf, use_amp)
            n = len(y)
            seen += n
            loss_sum += loss.item() * n
            correct += (out.argmax(1) == y).sum().item()
            t0 = time.perf_counter()
            step_time += t0 - t1
            if epoch == start and rank == 0 and step == min(3, len(loader) - 1):   # once per call
                # step 0 carries the warm-up (CUDA context, kernel choice): time steps 1..3
                per_step = (t0 - t_first) / step if step else t0 - t_start
                note = estimate_note(desc, dev, per_step, len(loader) * (cfg.epochs - start) - step - 1,
                                     t0 - t_start, cfg.epochs - start)
                if note:
                    print(note, flush=True)
            if step == 0:
                t_first = t0
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}",
                            samples_s=f"{seen * world_size / (data_time + step_time):.0f}", refresh=False)
        if world_size > 1:                                         # totals over all processes
            tot = torch.tensor([loss_sum, correct, seen], dtype=torch.float64, device=dev)
            torch.distributed.all_reduce(tot)
            loss_sum, correct, seen = tot[0].item(), int(tot[1].item()), int(tot[2].item())
        row = dict(epoch=epoch + 1, loss=loss_sum / max(seen, 1), acc=correct / max(seen, 1),
                   lr=lr_at(cfg, epoch), samples_per_s=seen / max(data_time + step_time, 1e-9),
                   loader_s_per_step=data_time / max(len(loader), 1),
                   step_s=step_time / max(len(loader), 1))
        result.history.append(row)
        result.trained_epochs += 1
        line = dict(row)
        if epoch + 1 in schedule:
            ev = evaluate(_unwrap(model), test_set, batch_size=cfg.eval_batch_size, device=dev)
            ev.ids = test_ids
            m = dict(epoch=epoch + 1, top1=ev.top1, top5=ev.top5, mean_class=ev.mean_class)
            result.evals.append(m)
            line.update({f"test_{k}": v for k, v in m.items() if k != "epoch"})
            if epoch + 1 == cfg.epochs:
                last = ev
            if best is None or ev.top1 > best["top1"]:          # the first epoch of the highest top-1
                best, result.best = dict(m), ev
                if writes:
                    save_checkpoint(run_dir / "checkpoint_best.pt",
                                    dict(config=asdict(cfg), config_key=cfg.key(), epoch=epoch + 1,
                                         run_config=run_config,
                                         model=_unwrap(model).state_dict(), test_top1=ev.top1,
                                         selected_on="test set"))
                    ev.save_scores(run_dir / "scores_best.npz")
        if log is not None and rank == 0:
            log(line)
        if writes:
            _append_line(run_dir / METRICS, dict(line, time=time.time()))
            save_checkpoint(ckpt_path, dict(config=asdict(cfg), config_key=cfg.key(), epoch=epoch + 1,
                                            run_config=run_config, amp_active=use_amp, device=dev.type,
                                            model=_unwrap(model).state_dict(), optimizer=opt.state_dict(),
                                            scaler=scaler.state_dict(), history=result.history,
                                            evals=result.evals, best=best))
    if test_set is not None:
        test_key = _data_fingerprint(test_set, samples=256)
        if last is None:            # a finished run reused: its saved scores, if of this test set
            last = _saved_scores(run_dir, test_key) if run_dir is not None else None
        if last is None:
            last = evaluate(_unwrap(model), test_set, batch_size=cfg.eval_batch_size, device=dev)
        if test_ids is not None or last.ids is None:
            last.ids = test_ids
        result.final = last
        if best is not None:
            result.best_epoch = best["epoch"]
            if result.best is None and run_dir is not None and (run_dir / "scores_best.npz").is_file():
                result.best = EvalResult.load(run_dir / "scores_best.npz")
        if writes:
            write_result(run_dir, result, cfg, class_names, test_key)
    return result


def _saved_scores(run_dir: Path, test_key: str) -> EvalResult | None:
    """The last epoch's scores a finished run saved, if ``result.json`` says they are of the test
    set whose fingerprint is ``test_key`` (else None: evaluate again)."""
    try:
        info = json.loads((run_dir / "result.json").read_text())
        if info.get("test_set") == test_key:
            return EvalResult.load(run_dir / "scores_last.npz")
    except (OSError, ValueError):
        pass                     # missing or damaged: the caller evaluates and rewrites them
    return None


METRICS = "metrics.jsonl"
BEST_NOTE = ("epoch of the highest test top-1, as the authors' code keeps it: selected on the test set, "
             "hence optimistic; the last epoch's numbers are the honest ones")


def write_result(run_dir: Path, result: RunResult, cfg: TrainConfig, class_names=None,
                 test_key: str | None = None) -> None:
    """``scores_last.npz`` and ``scores.npz`` (the last epoch) and ``result.json``: the last
    epoch's numbers first, then the best (test-selected) epoch's, labelled as such;
    ``test_key``: the test set's fingerprint (a reuse of the run on it loads the scores)."""
    run_dir = Path(run_dir)
    final = result.final
    final.save_scores(run_dir / "scores_last.npz")
    final.save_scores(run_dir / "scores.npz")
    info = dict(final.summary(), epoch=cfg.epochs, scores="scores_last.npz",
                per_class=[None if np.isnan(a) else float(a) for a in final.per_class()])
    if result.best_epoch is not None:
        b = next((e for e in result.evals if e["epoch"] == result.best_epoch), {})
        info["best"] = dict(epoch=result.best_epoch, top1=b.get("top1"), top5=b.get("top5"),
                            mean_class=b.get("mean_class"), selected_on="test set", note=BEST_NOTE,
                            scores="scores_best.npz", checkpoint="checkpoint_best.pt")
    else:
        info["best"] = None
    info["evaluated_epochs"] = [e["epoch"] for e in result.evals]
    if class_names is not None:
        info["class_names"] = list(class_names)
    if test_key is not None:
        info["test_set"] = test_key
    write_atomic(run_dir / "result.json", json.dumps(info, indent=1))


def write_atomic(path: Path, text: str, fsync: bool = False) -> None:
    """Write ``text`` to a temporary file beside ``path`` (``.NAME.tmp<pid>``), then rename it."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def metrics_lines(history: list[dict], evals: list[dict]) -> list[dict]:
    """One metrics row per epoch: the history row plus that epoch's test metrics, if evaluated."""
    by_epoch = {e["epoch"]: e for e in evals}
    out = []
    for row in history:
        line = dict(row)
        e = by_epoch.get(row["epoch"])
        if e:
            line.update({f"test_{k}": v for k, v in e.items() if k != "epoch"})
        out.append(line)
    return out


def _rewrite_metrics(path: Path, history: list[dict], evals: list[dict]) -> None:
    """``metrics.jsonl`` as the checkpoint knows it (a line written after the checkpoint's epoch,
    by a process killed before it saved that epoch, is dropped; its epoch is trained again)."""
    old = {}
    if path.is_file():                      # keep the wall-clock times of the lines kept
        for ln in path.read_text().splitlines():
            try:
                d = json.loads(ln)
                old[d["epoch"]] = d.get("time")
            except (ValueError, KeyError, TypeError):
                pass                        # a line torn by a kill
    lines = [dict(m, time=old.get(m["epoch"])) for m in metrics_lines(history, evals)]
    if lines or path.exists():
        write_atomic(path, "".join(json.dumps(m) + "\n" for m in lines), fsync=True)


def _append_line(path: Path, row: dict) -> None:
    """Append one JSON line, flushed and fsync'ed (it survives a kill -9 or a lost session)."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The rows of a run's ``metrics.jsonl`` (a torn last line is skipped)."""
    rows = []
    path = Path(run_dir) / METRICS
    for ln in path.read_text().splitlines() if path.is_file() else []:
        try:
            rows.append(json.loads(ln))
        except ValueError:
            pass
    return rows


def code_fingerprint() -> str:
    """Hash of the skelnb package's source: a run trained by other code is another run."""
    h = hashlib.sha1()
    root = Path(__file__).resolve().parent
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def runs_root() -> Path:
    """Where runs go: ``$SKELNB_RUNS``, else ``./runs``."""
    return Path(os.environ.get("SKELNB_RUNS", "runs"))


def run_dir_for(name: str, model: nn.Module, cfg: TrainConfig, train_set: Dataset, profile: str = "") -> Path:
    """A run folder whose name pins everything that decides the result: the training config, the
    model (its repr), the training data (size and a checksum of its first and last sample) and
    the package's code. The same call finds the same finished run (and ``fit`` reuses it); any
    change gives a new folder, so no earlier run is overwritten."""
    ident = json.dumps(dict(cfg=asdict(cfg), model=repr(model), data=_data_fingerprint(train_set),
                            code=code_fingerprint()), sort_keys=True)
    key = hashlib.sha1(ident.encode()).hexdigest()[:10]
    return runs_root() / (profile or "default") / f"{name}-{key}"


def _data_fingerprint(ds: Dataset, samples: int = 64) -> str:
    """Size, settings and a checksum of a dataset's arrays: all of a 1-D array (the labels),
    about ``samples`` evenly spaced items of a larger one (not augmented items, which change
    with the epoch)."""
    h = hashlib.sha1(str(len(ds)).encode())
    for k, v in sorted(vars(ds).items()):
        if k == "epoch":
            continue
        arrays = v if isinstance(v, (tuple, list)) and v else [v]      # TensorDataset: a tuple
        if all(hasattr(a, "shape") and hasattr(a, "dtype") for a in arrays):
            for a in arrays:
                a = np.asarray(a if len(a.shape) <= 1 else a[:: max(1, len(a) // samples)])
                h.update(f"{k}{a.shape}{a.dtype}".encode())
                h.update(np.ascontiguousarray(a).tobytes())
        elif isinstance(v, (int, float, str, bool, tuple, type(None))) or hasattr(v, "__dataclass_fields__"):
            h.update(f"{k}={v!r}".encode())
    return h.hexdigest()[:16]


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model
