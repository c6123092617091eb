"""Seed spreads and paired bootstrap intervals for comparing trained rows on the same test clips.

A "row" is one model trained with S seeds and evaluated on the same N test clips, in the same
clip order for every row; it is given as a correctness array ``correct`` of shape (S, N), bool or
0/1 (a single (N,) array is one seed). :func:`correct_from_scores` turns (S, N, K) softmax scores
and (N,) labels into that array.

Accuracy of a row = mean over seeds of the per-seed accuracy. Intervals come from a two-level
percentile bootstrap: each replicate resamples the N clips with replacement (the same clip
indices for every row compared, so the comparison is paired over clips) and, independently within
each row, its S seeds with replacement. Everything is deterministic given ``seed``
(``np.random.default_rng(seed)``). Pure numpy.

Coverage, checked by simulation (tests/test_stats.py): close to nominal when only the clip draw
varies; with 3 seeds it leans conservative when seeds disagree clip by clip at random (that churn
enters both levels) and runs narrow (about 87-89 % for a 95 % interval) when whole-seed shifts
dominate, since a bootstrap over 3 seeds understates their spread -- more seeds help there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CHUNK = 256  # bootstrap replicates drawn per block (bounds memory at _CHUNK x N floats)


# ----------------------------------------------------------------------------- validation
def _as_correct(x, name: str) -> np.ndarray:
    """(S, N) bool from bool or 0/1 input of shape (N,) or (S, N); ValueError naming `name`."""
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"{name}: expected shape (N,) or (S, N), got {np.shape(x)}")
    if a.size == 0:
        raise ValueError(f"{name}: empty (shape {np.shape(x)}); need at least one seed and one clip")
    if a.dtype == bool:
        return a
    if not (np.issubdtype(a.dtype, np.number)):
        raise ValueError(f"{name}: must be bool or 0/1, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) and np.isnan(a).any():
        raise ValueError(f"{name}: contains NaN")
    if not np.isin(a, (0, 1)).all():
        bad = a[~np.isin(a, (0, 1))].flat[0]
        raise ValueError(f"{name}: must be bool or 0/1, found the value {bad!r}")
    return a.astype(bool)


def _same_clips(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """ValueError unless both rows cover the same number of clips N."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{name_b}: has {b.shape[1]} clips but {name_a} has {a.shape[1]}; "
                         "rows must be scored on the same test clips")


def _check_boot(n_boot: int, level: float) -> None:
    """ValueError for a non-positive `n_boot` or a `level` outside (0, 1)."""
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot: must be a positive integer, got {n_boot!r}")
    if not (0.0 < level < 1.0):  # also rejects NaN
        raise ValueError(f"level: must lie strictly between 0 and 1, got {level!r}")


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SeedSummary:
    """Per-seed accuracies of one row: mean, sample std (ddof=1; 0 for one seed), min, max, n."""
    mean: float
    std: float
    min: float
    max: float
    n: int


@dataclass(frozen=True)
class Interval:
    """Mean accuracy of one row with its two-level bootstrap interval [lo, hi] at `level`."""
    estimate: float
    lo: float
    hi: float
    level: float
    n_clips: int
    seeds: int


@dataclass(frozen=True)
class PairedDiff:
    """Accuracy of A minus accuracy of B on the same clips, with its bootstrap interval."""
    diff: float
    lo: float
    hi: float
    level: float
    n_clips: int
    seeds_a: int
    seeds_b: int

    @property
    def survives(self) -> bool:
        """True when the interval excludes 0 (strictly: an end at exactly 0 does not survive)."""
        return self.lo > 0 or self.hi < 0


@dataclass(frozen=True)
class Overlap:
    """Error sets of two models on the same clips (counts; averaged over seeds for (S, N) input)."""
    both_wrong: float
    only_a_wrong: float
    only_b_wrong: float
    both_right: float
    n_clips: int

    @property
    def shared_share(self) -> float:
        """Share of A's errors that B also makes (NaN when A makes none); low = complementary."""
        err_a = self.both_wrong + self.only_a_wrong
        return float(self.both_wrong / err_a) if err_a > 0 else float("nan")


# ----------------------------------------------------------------------------- core
def correct_from_scores(scores, labels) -> np.ndarray:
    """(S, N) bool: top-1 of scores (S, N, K) (or (N, K), one seed) equals labels (N,)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels)
    if s.ndim == 2:
        s = s[None]
    if s.ndim != 3 or s.size == 0:
        raise ValueError(f"scores: expected a non-empty (S, N, K) or (N, K) array, got {np.shape(scores)}")
    if np.isnan(s).any():
        raise ValueError("scores: contains NaN")
    if y.shape != (s.shape[1],):
        raise ValueError(f"labels: expected shape ({s.shape[1]},) to match scores, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (y < 0).any() or (y >= s.shape[2]).any():
        raise ValueError(f"labels: must be integers in [0, {s.shape[2]}), got {y.dtype} "
                         f"in [{y.min()}, {y.max()}]")
    return s.argmax(-1) == y[None, :]


def seed_summary(values) -> SeedSummary:
    """Mean, sample std (ddof=1; 0 when S == 1), min, max and count of per-seed values (S,)."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"values: expected shape (S,), got {v.shape}")
    if v.size == 0:
        raise ValueError("values: empty; need at least one seed")
    if np.isnan(v).any():
        raise ValueError("values: contains NaN")
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return SeedSummary(float(v.mean()), std, float(v.min()), float(v.max()), int(v.size))


def _boot_means(rows, n_boot: int, rng, shared_seeds: bool = False) -> np.ndarray:
    """(n_boot, len(rows)) bootstrap mean accuracies; the same clip resample for all rows,
    seeds resampled per row (or one seed resample shared by all rows when shared_seeds)."""
    n = rows[0].shape[1]
    ints = [r.astype(np.int64).T for r in rows]                # each (N, S_r)
    out = np.empty((n_boot, len(rows)))
    for start in range(0, n_boot, _CHUNK):
        b = min(_CHUNK, n_boot - start)
        clips = rng.multinomial(n, np.full(n, 1.0 / n), size=b)  # (b, N) clip counts
        seeds = None
        for j, r in enumerate(ints):
            s = r.shape[1]
            if seeds is None or not shared_seeds:
                seeds = rng.multinomial(s, np.full(s, 1.0 / s), size=b)  # (b, S_r) seed counts
            right = ((clips @ r) * seeds).sum(1)                  # (b,) exact integer counts
            out[start:start + b, j] = right / (n * s)             # so equal rows give equal means
    return out


def _percentile(stats: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (n_boot,) at `level`."""
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def accuracy_interval(correct, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Mean accuracy of a row correct (S, N) with the two-level (clips, seeds) bootstrap interval."""
    c = _as_correct(correct, "correct")
    _check_boot(n_boot, level)
    boot = _boot_means([c], n_boot, np.random.default_rng(seed))[:, 0]
    lo, hi = _percentile(boot, level)
    return Interval(float(c.mean()), lo, hi, level, c.shape[1], c.shape[0])


def paired_difference(correct_a, correct_b, n_boot: int = 2000, seed: int = 0, level: float = 0.95,
                      paired_seeds: bool = False) -> PairedDiff:
    """Accuracy of A (S_a, N) minus B (S_b, N) on the same clips, two-level bootstrap interval.

    Both levels are resampled because the difference varies with which clips were drawn (test
    sampling, paired: same clip indices for A and B) and with which seeds were drawn (training
    noise, seeds resampled independently within each row; with paired_seeds=True, S_a == S_b and
    seed s of A is resampled together with seed s of B, e.g. runs sharing init and data order).
    """
    a = _as_correct(correct_a, "correct_a")
    b = _as_correct(correct_b, "correct_b")
    _same_clips(a, b, "correct_a", "correct_b")
    _check_boot(n_boot, level)
    if paired_seeds and a.shape[0] != b.shape[0]:
        raise ValueError(f"paired_seeds: needs as many seeds in correct_a as in correct_b, "
                         f"got {a.shape[0]} and {b.shape[0]}")
    boot = _boot_means([a, b], n_boot, np.random.default_rng(seed), shared_seeds=paired_seeds)
    lo, hi = _percentile(boot[:, 0] - boot[:, 1], level)
    return PairedDiff(float(a.mean() - b.mean()), lo, hi, level, a.shape[1], a.shape[0], b.shape[0])


def per_group(correct, groups) -> dict:
    """Per-seed accuracy within each group label: correct (S, N), groups (N,) -> {group: (S,)}."""
    c = _as_correct(correct, "correct")
    g = np.asarray(groups)
    if g.shape != (c.shape[1],):
        raise ValueError(f"groups: expected shape ({c.shape[1]},) to match correct, got {g.shape}")
    if g.dtype.kind == "f" and np.isnan(g).any():
        raise ValueError("groups: contains NaN")
    return {k.item() if hasattr(k, "item") else k: c[:, g == k].mean(1) for k in np.unique(g)}


def error_overlap(correct_a, correct_b) -> Overlap:
    """Both-wrong / only-A-wrong / only-B-wrong / both-right counts of (N,) or (S, N) rows;
    for (S, N) seed s of A is matched with seed s of B and the counts are averaged over seeds."""
    a = _as_correct(correct_a, "correct_a")
    b = _as_correct(correct_b, "correct_b")
    _same_clips(a, b, "correct_a", "correct_b")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"correct_b: has {b.shape[0]} seeds but correct_a has {a.shape[0]}; "
                         "error_overlap matches seed s of A with seed s of B")
    count = lambda m: float(m.sum(1).mean())  # noqa: E731  (S, N) mask -> mean count per seed
    return Overlap(count(~a & ~b), count(~a & b), count(a & ~b), count(a & b), a.shape[1])


def fusion_gain(correct_fused, correct_a, correct_b, n_boot: int = 2000, seed: int = 0,
                level: float = 0.95, paired_seeds: bool = False) -> tuple[str, PairedDiff]:
    """("a" or "b", paired_difference(fused, better)): gain of the fusion over the better stream
    (higher mean accuracy; "a" on a tie), each (S, N) on the same clips."""
    a = _as_correct(correct_a, "correct_a")
    b = _as_correct(correct_b, "correct_b")
    _same_clips(a, b, "correct_a", "correct_b")
    better, row = ("a", a) if a.mean() >= b.mean() else ("b", b)
    f = _as_correct(correct_fused, "correct_fused")
    _same_clips(row, f, f"correct_{better}", "correct_fused")
    return better, paired_difference(f, row, n_boot=n_boot, seed=seed, level=level,
                                     paired_seeds=paired_seeds)


# ----------------------------------------------------------------------------- formatting
def format_diff(d: PairedDiff, unit: str = "pp", scale: float = 100.0, digits: int = 1) -> str:
    """'+1.2 pp [-0.3, +2.8]': signed difference and interval, times `scale`, then `unit`."""
    f = lambda x: f"{x * scale:+.{digits}f}"  # noqa: E731
    u = f" {unit}" if unit else ""
    return f"{f(d.diff)}{u} [{f(d.lo)}, {f(d.hi)}]"


def format_summary(s: SeedSummary, scale: float = 100.0, digits: int = 1) -> str:
    """'71.3 ± 1.2' (mean ± sample std over seeds, times `scale`) for a table cell."""
    return f"{s.mean * scale:.{digits}f} ± {s.std * scale:.{digits}f}"
