"""The chapters' shared recipes: one place that turns the active profile into data, models and
training settings, so every chapter trains the same way and no chapter copies another's code.

``quick`` (CPU): the What-and-Where benchmark (``skelnb.data.synthetic``), small models, 10
epochs, minutes per chapter.
``colab`` (a free Colab T4): 20 synthetic subjects, paper-size SEM-Net, small SPA-Net, 10 epochs.
``full`` (GPU): the synthetic set with 40 subjects and the paper-size models; the real data
sets go through ``skelnb.cli`` with the configs in ``skelnb/configs``.
"""
from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from typing import Callable

import torch

from . import profile as _profile
from .data.dataset import Augment, SkeletonDataset, from_skeleton_set
from .data.synthetic import DEFAULT_DIFFICULTY, SkeletonSet, SyntheticConfig, generate
from .train import RunResult, TrainConfig, fit, run_dir_for


@lru_cache(maxsize=4)
def _synthetic(subjects: tuple[int, ...], difficulty: float) -> SkeletonSet:
    return generate(SyntheticConfig(subjects=subjects, difficulty=difficulty))


def synthetic_data(prof=None, difficulty: float = DEFAULT_DIFFICULTY) -> SkeletonSet:
    """The What-and-Where benchmark of the active profile (generated once per process)."""
    prof = prof or _profile.current()
    return _synthetic(tuple(prof.subjects), float(difficulty))


def synthetic_datasets(protocol: str = "xsub", stream: str = "joint", prof=None,
                       center: str | None = "first", difficulty: float = DEFAULT_DIFFICULTY,
                       ) -> tuple[SkeletonDataset, SkeletonDataset]:
    """(train, test) datasets of the benchmark: augmented training, plain test."""
    prof = prof or _profile.current()
    data = synthetic_data(prof, difficulty)
    tr, te = data.split(protocol)
    kw = dict(num_frames=prof.num_frames, stream=stream, center=center)
    return (from_skeleton_set(data, tr, augment=Augment(), **kw), from_skeleton_set(data, te, **kw))


def train_config(prof=None, **overrides) -> TrainConfig:
    """Training settings of the chapters: the family's SGD recipe, cosine-decayed over the
    profile's epochs (the paper-size step schedule lives in the real-data configs)."""
    prof = prof or _profile.current()
    base = dict(epochs=prof.epochs, batch_size=prof.batch_size, lr=0.05 if prof.quick else 0.1,
                warmup_epochs=1 if prof.epochs < 20 else 5, schedule="cosine", weight_decay=5e-4, seed=0)
    return TrainConfig(**{**base, **overrides})


def ablation_profile(prof=None) -> _profile.Profile:
    """The settings of the chapters' ablation tables (Tables 1, 2 and 5): in ``quick`` half the
    frames and 6 epochs, so that every row fits several seeds on a CPU within a chapter's 5
    minutes (the rows compare with each other, not with the main runs); elsewhere the profile
    itself."""
    prof = prof or _profile.current()
    return replace(prof, num_frames=prof.num_frames // 2, epochs=6) if prof.quick else prof


def ablation_train_config(abl: _profile.Profile, seed: int = 0) -> TrainConfig:
    """Training settings of an ablation row in the settings ``abl``: ``train_config`` with the
    test set scored after the last epoch only (the tables read the last epoch, no curve)."""
    return train_config(abl, seed=seed, eval_every=0)


def in_parallel(fn: Callable, jobs: list[dict], processes: int | None = None,
                cost: Callable[[dict], float] | None = None) -> list:
    """``[fn(**job) for job in jobs]``, with the training first spread over ``processes``
    worker processes (default ``processes_for()``: 2 on a CPU). For runs that train on one
    thread (SPA-Net, see ``train_threads``): two such runs at once nearly double the throughput
    of 2 cores. ``fn`` must be a module-level function that trains or reuses a run; the workers
    train and save the runs, then this process loads them (``fit`` reuses a finished run).
    ``cost(job)``, a relative training time, starts the longest runs first, so that no long run
    is left to train alone at the end."""
    processes = processes_for() if processes is None else processes
    todo = [job for job in jobs if not _finished(fn, job)]
    if cost is not None:
        todo.sort(key=cost, reverse=True)                       # stable: ties keep their order
    if processes > 1 and len(todo) > 1:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(min(processes, len(todo)), mp_context=ctx) as pool:
            for f in [pool.submit(fn, **job) for job in todo]:
                f.result()                                  # re-raise a worker's error here
    return [fn(**job) for job in jobs]


def processes_for(prof=None, processes: int = 2) -> int:
    """How many runs ``in_parallel`` trains at once: ``processes`` on a CPU, one on a GPU."""
    prof = prof or _profile.current()
    return processes if prof.device == "cpu" else 1


def _finished(fn, job) -> bool:
    probe = getattr(fn, "run_dir", None)
    return probe is not None and (probe(**job) / "result.json").exists()


def train_threads(model: torch.nn.Module, prof=None) -> int | None:
    """The torch CPU threads a chapter run trains on, fixed per model so that a run's numbers
    do not depend on the machine or on who trained it (a thread count changes float sums): 1
    for SPA-Net (sparse convolutions gain little from a second thread; two runs train at once,
    ``in_parallel``), the profile's for SEM-Net (its products gain: one run at a time); None
    (torch's default) off the CPU."""
    prof = prof or _profile.current()
    if prof.device != "cpu":
        return None
    return 1 if type(model).__name__ == "SPANet" else prof.threads


@contextmanager
def _threads(n: int | None):
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def train(name: str, model: torch.nn.Module, train_set, test_set, cfg: TrainConfig | None = None,
          prof=None, progress: bool = False) -> RunResult:
    """Train (or reuse the finished run of) ``model`` under ``runs/<profile>/<name>-<key>``, on
    ``train_threads(model, prof)`` threads."""
    prof = prof or _profile.current()
    cfg = cfg or train_config(prof)
    torch.manual_seed(cfg.seed)
    run = run_dir_for(name, model, cfg, train_set, prof.name)
    with _threads(train_threads(model, prof)):
        return fit(model, train_set, test_set, cfg, run, device=prof.device, progress=progress,
                   desc=name)


def sem_model(prof=None, seed: int = 0, **overrides) -> torch.nn.Module:
    """SEM-Net for the synthetic classes: a small one in ``quick``, the paper-size default in
    ``full``; ``overrides`` pick a variant (``attention=``, ``tff=``, ``stream=``)."""
    from .data.synthetic import CLASS_NAMES
    from .sem.net import SEMNet
    prof = prof or _profile.current()
    torch.manual_seed(seed)
    if not prof.paper_sem:
        return SEMNet.quick(len(CLASS_NAMES), width=24, depth=4, num_frames=prof.num_frames, **overrides)
    return SEMNet(num_classes=len(CLASS_NAMES), num_frames=prof.num_frames, **overrides)


def spa_model(prof=None, kind: str = "4d", seed: int = 0, **overrides) -> torch.nn.Module:
    """SPA-Net for the synthetic classes: ``SPANet.quick`` (s=32, k=3, widths 16/32/64) in
    ``quick``, the paper-size default (s=64, k=5) in ``full``; ``kind`` is '4d' (Fig. 6b) or
    '3+1d' (Fig. 6a); ``overrides`` set any :class:`skelnb.spa.net.SPAConfig` field
    (``space=``, ``kernel=``, ``widths=``, ``backend=`` ...)."""
    from .data.synthetic import CLASS_NAMES
    from .spa.net import SPANet
    prof = prof or _profile.current()
    torch.manual_seed(seed)
    if not prof.paper_spa:
        return SPANet.quick(kind, num_classes=len(CLASS_NAMES), num_frames=prof.num_frames, **overrides)
    return SPANet(kind=kind, num_classes=len(CLASS_NAMES), num_frames=prof.num_frames, **overrides)
