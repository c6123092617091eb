"""The paper's four streams (SEM joint and bone, SPA-3+1D and SPA-4D) trained over seeds on the
What-and-Where benchmark, their score fusions (Tables 3 and 6), and per-family correctness.

Built in the chapter "What and where, measured"; chapters 6, 8, 11 and 13 load the same runs.
Fusion is the mean of softmax scores (``skelnb.fuse``), seed s of one stream with seed s of the
other: a fused row has as many seeds as its streams.
"""
from __future__ import annotations

import numpy as np

from .. import profile as _profile
from .. import recipes
from ..data.actions import family_of
from ..data.synthetic import DEFAULT_DIFFICULTY
from ..fuse import fuse
from ..train import RunResult, run_dir_for

# name -> (recipe, keyword arguments): the run names the chapters share
STREAMS = {
    "SEM-joint": ("sem", dict()),
    "SEM-bone": ("sem", dict(stream="bone")),
    "SPA-3+1D": ("spa", dict(kind="3+1d")),
    "SPA-4D": ("spa", dict(kind="4d")),
}
# the paper's fused rows (Table 3: SEM-Net = joint + bone; Table 6: SPA-Net is SPA-4D)
FUSIONS = {
    "SEM-Net (joint+bone)": ("SEM-joint", "SEM-bone"),
    "SEM-joint+SPA": ("SEM-joint", "SPA-4D"),
    "SEM+SPA": ("SEM-joint", "SEM-bone", "SPA-4D"),
}


def run_name(stream: str, seed: int, variant: str = "") -> str:
    """``"sem-joint"``, ``"spa-4d"`` ... for seed 0 (the chapters' shared runs), else with
    ``-seed<s>``; ``variant`` (another difficulty, another training option) is appended."""
    if stream not in STREAMS:
        raise ValueError(f"unknown stream {stream!r}: use one of {list(STREAMS)}")
    return stream.lower() + (f"-seed{seed}" if seed else "") + (f"-{variant}" if variant else "")


def _parts(stream: str, seed: int, prof, difficulty: float, train):
    """(run name, model, (train set, test set), TrainConfig) of one stream and seed."""
    variant = "-".join(([f"d{difficulty:g}"] if difficulty != DEFAULT_DIFFICULTY else [])
                       + [f"{k}{v:g}" for k, v in sorted(train.items())])
    name = run_name(stream, seed, variant)                      # checks the stream
    kind, kw = STREAMS[stream]
    model = (recipes.sem_model(prof, seed=seed, **kw) if kind == "sem"
             else recipes.spa_model(prof, seed=seed, **kw))
    sets = recipes.synthetic_datasets(stream=kw.get("stream", "joint"), prof=prof, difficulty=difficulty)
    return name, model, sets, recipes.train_config(prof, seed=seed, **train)


def train_stream(stream: str, seed: int = 0, prof=None, difficulty: float = DEFAULT_DIFFICULTY,
                 **train) -> RunResult:
    """Train (or reuse) one stream with one seed on the benchmark's cross-subject split, at
    ``difficulty``; ``train`` overrides training settings (e.g. ``global_lr=25``)."""
    prof = prof or _profile.current()
    name, model, sets, cfg = _parts(stream, seed, prof, difficulty, train)
    return recipes.train(name, model, *sets, cfg, prof=prof)


def stream_run_dir(stream: str, seed: int = 0, prof=None, difficulty: float = DEFAULT_DIFFICULTY, **train):
    """The run folder ``train_stream`` uses (finished when it holds ``result.json``)."""
    prof = prof or _profile.current()
    name, model, (train_set, _), cfg = _parts(stream, seed, prof, difficulty, train)
    return run_dir_for(name, model, cfg, train_set, prof.name)


train_stream.run_dir = stream_run_dir


def train_all(prof=None, streams=tuple(STREAMS), seeds=None, processes: int = 2) -> dict[str, list[RunResult]]:
    """stream -> one RunResult per seed of the profile (``prof.seeds``); SPA runs are trained
    ``processes`` at a time on a CPU (``recipes.in_parallel``), SEM runs one after the other
    (``recipes.train_threads``)."""
    prof = prof or _profile.current()
    seeds = tuple(seeds or prof.seeds)
    jobs = [dict(stream=s, seed=k, prof=prof) for s in streams for k in seeds]
    spa = [j for j in jobs if STREAMS[j["stream"]][0] == "spa"]
    recipes.in_parallel(train_stream, spa, recipes.processes_for(prof, processes))
    runs = [train_stream(**j) for j in jobs]                    # SEM trained here, SPA reused
    return {s: runs[i * len(seeds):(i + 1) * len(seeds)] for i, s in enumerate(streams)}


def results(runs: dict[str, list[RunResult]], fusions=FUSIONS) -> dict:
    """name -> one EvalResult per seed: every stream's last-epoch test result, then every fusion
    whose streams are all in ``runs``."""
    out = {name: [r.final for r in rs] for name, rs in runs.items()}
    for name, parts in fusions.items():
        if all(p in out for p in parts):
            out[name] = [fuse([out[p][k] for p in parts]) for k in range(min(len(out[p]) for p in parts))]
    return out


def correct(evals) -> np.ndarray:
    """(S, N) bool: which test clips each seed's result gets right."""
    return np.stack([e.pred == e.labels for e in evals])


def families(evals) -> np.ndarray:
    """(N,) family of each test clip (the same clips for every result)."""
    return family_of()[evals[0].labels]

