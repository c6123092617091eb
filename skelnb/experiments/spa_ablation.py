"""Table 5 at small scale: SPA-4D with other space sizes s and kernel sizes k, over seeds.

Every row is ``recipes.spa_model(abl, kind="4d", space=s, kernel=k, seed=seed)`` trained with
``recipes.ablation_train_config(abl, seed)`` in the ablation settings ``abl =
recipes.ablation_profile(prof)``; an even k runs on the reference backend (spconv's submanifold
layers need odd kernels). Built in book/16_spa_sizes.ipynb.
"""
from __future__ import annotations

from .. import profile as _profile
from .. import recipes
from ..train import RunResult, run_dir_for


def run_name(space: int, kernel: int, seed: int = 0) -> str:
    return f"spa-4d-s{space}-k{kernel}" + (f"-seed{seed}" if seed else "")


def _parts(space: int, kernel: int, seed: int, prof):
    abl = recipes.ablation_profile(prof)
    backend = "reference" if kernel % 2 == 0 else "auto"
    model = recipes.spa_model(abl, kind="4d", space=space, kernel=kernel, backend=backend, seed=seed)
    return abl, model, recipes.synthetic_datasets(prof=abl), recipes.ablation_train_config(abl, seed)


def train_row(space: int, kernel: int, seed: int = 0, prof=None) -> RunResult:
    """Train (or reuse) one row with one seed."""
    prof = prof or _profile.current()
    abl, model, sets, cfg = _parts(space, kernel, seed, prof)
    return recipes.train(run_name(space, kernel, seed), model, *sets, cfg, prof=abl)


def row_run_dir(space: int, kernel: int, seed: int = 0, prof=None):
    prof = prof or _profile.current()
    abl, model, (train_set, _), cfg = _parts(space, kernel, seed, prof)
    return run_dir_for(run_name(space, kernel, seed), model, cfg, train_set, abl.name)


train_row.run_dir = row_run_dir


def train_rows(rows, prof=None, seeds=None, processes: int = 2) -> dict[tuple[int, int], list[RunResult]]:
    """(s, k) -> one RunResult per seed, trained ``processes`` at a time on a CPU."""
    prof = prof or _profile.current()
    seeds = tuple(seeds or prof.seeds)
    jobs = [dict(space=s, kernel=k, seed=n, prof=prof) for s, k in rows for n in seeds]
    # a k^4 kernel costs about k^4 per step on the sparse backends: the k = 5 rows first
    runs = recipes.in_parallel(train_row, jobs, recipes.processes_for(prof, processes),
                               cost=lambda job: job["kernel"] ** 4)
    return {sk: runs[i * len(seeds):(i + 1) * len(seeds)] for i, sk in enumerate(rows)}
