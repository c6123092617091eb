"""Table 1 at small scale: SEM-Net's four attention rows, trained with the chapters' recipe.

Every row is ``recipes.train(name, recipes.sem_model(abl, seed=s, attention=mode), ...)`` in
the ablation settings ``abl = recipes.ablation_profile(prof)``: the same data, augmentation,
epochs, optimiser and seeds; only the attention layer of the SEM-blocks differs (Eq. 2-3, 4-5,
6 or 7; ``skelnb.sem.GRCFSA``). Built in book/06_semnet.ipynb.

Besides the per-class accuracy, :func:`order_pair_stats` looks inside the *order pairs* of the
benchmark (sit down / stand up ...: exact time reversals, ``skelnb.data.actions``): how much of
the probability that a model puts on a pair goes to the right member, a finer measure than the
accuracy, which is 1 as soon as the right member wins by any margin.
"""
from __future__ import annotations

import numpy as np
import torch

from .. import profile as _profile
from .. import recipes
from ..data.synthetic import CLASS_NAMES, CLASSES
from ..evaluate import EvalResult
from ..flops import count_macs, count_params, train_step_time
from ..sem.attention import MODES
from ..sem.net import SEMNet
from ..train import RunResult, run_dir_for

DEFAULT_MODE = "cross-frame+GR"
ORDER_PAIRS = tuple((c.reverse_of, c.name) for c in CLASSES if c.reverse_of)   # (forward, reversed)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown attention mode {mode!r}; Table 1 has {MODES}")


def run_name(mode: str, seed: int = 0) -> str:
    """``"sem-<mode>"``, with ``-seed<s>`` for seeds other than 0."""
    _check_mode(mode)
    return f"sem-{mode}" + (f"-seed{seed}" if seed else "")


def _parts(mode: str, prof, seed: int):
    _check_mode(mode)
    abl = recipes.ablation_profile(prof)
    model = recipes.sem_model(abl, seed=seed, attention=mode)
    return abl, model, recipes.synthetic_datasets(prof=abl), recipes.ablation_train_config(abl, seed)


def train_row(mode: str, prof=None, seed: int = 0) -> RunResult:
    """Train (or reuse the finished run of) one Table 1 row with one seed on the benchmark's
    cross-subject split, in the chapters' ablation settings (``recipes.ablation_profile``)."""
    abl, model, sets, cfg = _parts(mode, prof, seed)
    return recipes.train(run_name(mode, seed), model, *sets, cfg, prof=abl)


def row_run_dir(mode: str, prof=None, seed: int = 0):
    """The run folder ``train_row`` uses (finished when it holds ``result.json``)."""
    abl, model, (train_set, _), cfg = _parts(mode, prof, seed)
    return run_dir_for(run_name(mode, seed), model, cfg, train_set, abl.name)


train_row.run_dir = row_run_dir


def train_rows(modes, prof=None, seeds=None) -> dict[str, list[RunResult]]:
    """mode -> one RunResult per seed of the profile, trained one after the other (SEM-Net
    trains on the profile's threads, ``recipes.train_threads``)."""
    prof = prof or _profile.current()
    seeds = tuple(seeds or prof.seeds)
    return {m: [train_row(m, prof, s) for s in seeds] for m in modes}


def row_cost(mode: str, prof=None, iters: int = 3, seed: int = 0) -> dict:
    """Cost of one row: parameters and multiply-adds per 2-person sample of the profile's model
    (at ``prof.num_frames``) and of the paper-size variant (``SEMNet.variant``, 128 frames), and
    the measured wall time (s) of one training step (forward + backward, SGD not included) on a
    random batch of ``prof.batch_size`` samples: the fastest of ``iters`` steps after one warm-up
    step (on a shared machine the fastest step is the least disturbed one)."""
    _check_mode(mode)
    prof = prof or _profile.current()
    model = recipes.sem_model(prof, attention=mode)
    V = model.num_joints
    paper = SEMNet.variant(mode)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(prof.batch_size, 3, prof.num_frames, V, 2, generator=g)
    step = train_step_time(model.to(prof.device), x.to(prof.device), model.config.num_classes,
                           iters=iters, warmup=1, stat=min)
    return dict(mode=mode, params=count_params(model), macs=count_macs(model, x[:1]),
                paper_params=count_params(paper),
                paper_macs=count_macs(paper, torch.zeros(1, 3, paper.num_frames, V, 2)), step_s=step)


def order_pair_stats(result: EvalResult, class_names=CLASS_NAMES, pairs=ORDER_PAIRS) -> dict[str, dict]:
    """For the test samples of each class c of an order pair (c, c'):

    * ``acc``: top-1 accuracy over all classes;
    * ``pair_acc``: share of samples with p(c) > p(c') (the right member of the pair wins);
    * ``share``: mean of p(c) / (p(c) + p(c')), the probability put on the pair that goes to the
      right member (1: certain, 0.5: a coin flip);
    * ``pair_nll``: mean of -log of that share (the pair's log-loss, nats);
    * ``n``: number of test samples.
    """
    names = list(class_names)
    if result.num_classes != len(names):
        raise ValueError(f"order_pair_stats: scores have {result.num_classes} classes but "
                         f"{len(names)} class names were given")
    out = {}
    for a, b in pairs:
        for c, partner in ((a, b), (b, a)):
            if c not in names or partner not in names:
                raise ValueError(f"order_pair_stats: order pair ({a!r}, {b!r}) is not in the class names")
            k, kp = names.index(c), names.index(partner)
            sel = result.labels == k
            if not sel.any():
                raise ValueError(f"order_pair_stats: no test sample of class {c!r}")
            p, pp = result.scores[sel, k], result.scores[sel, kp]
            share = p / np.maximum(p + pp, 1e-300)
            out[c] = dict(acc=float((result.pred[sel] == k).mean()), pair_acc=float((p > pp).mean()),
                          share=float(share.mean()), pair_nll=float(-np.log(np.maximum(share, 1e-300)).mean()),
                          n=int(sel.sum()))
    return out


def mean_nll(result: EvalResult) -> float:
    """Mean negative log-likelihood (nats) of the true class over all test samples."""
    p = result.scores[np.arange(len(result.labels)), result.labels]
    return float(-np.log(np.maximum(p, 1e-300)).mean())
