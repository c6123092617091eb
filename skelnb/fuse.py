"""Late fusion: combine the per-sample softmax scores of several trained streams.

The paper fuses at the score level: the joint and bone streams of SEM-Net are summed (Sec. 3.1,
"Bone stream"; Table 3), and the SEM-Net and SPA-Net scores are averaged (Table 6). Both are a
weighted mean of softmax scores,

    p_fused(n) = sum_i w_i p_i(n) / sum_i w_i          (p_i(n): stream i's softmax for sample n)

-- a sum and a mean differ only by the constant sum_i w_i, so they predict the same classes.
With equal weights, "SEM (joint + bone summed) averaged with SPA" is
(p_joint + p_bone + p_spa) / 2, i.e. weights 1, 1, 1.

Fusing is only meaningful sample by sample: every stream must have scored the same test
samples in the same order. :func:`check_aligned` compares the labels (and the sample names,
where the runs saved them) and names the first sample where runs disagree.

How much two streams can gain from each other is measured, not assumed: :func:`contingency`
counts the samples both get right, only one gets right, neither gets right; :func:`oracle`
is the accuracy of an oracle that picks, per sample, a stream that is right.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .evaluate import EvalResult, ScoresError


class FusionError(ValueError):
    """Runs that cannot be fused (different samples, classes or a bad weight list)."""


def check_aligned(results: Sequence[EvalResult], names: Sequence[str] | None = None) -> None:
    """Raise :class:`FusionError` unless every result scored the same samples in the same order
    (same count, same classes, same label sample by sample, same sample names where known)."""
    names = list(names) if names is not None else [f"stream {i}" for i in range(len(results))]
    if len(results) < 1:
        raise FusionError("fuse: need at least one run")
    ref, rname = results[0], names[0]
    for r, n in zip(results[1:], names[1:]):
        if r.scores.shape[0] != ref.scores.shape[0]:
            raise FusionError(f"fuse: {rname} scored {ref.scores.shape[0]} samples but {n} scored "
                              f"{r.scores.shape[0]}; were they evaluated on the same split?")
        if r.num_classes != ref.num_classes:
            raise FusionError(f"fuse: {rname} has {ref.num_classes} classes but {n} has {r.num_classes}")
        if ref.ids is not None and r.ids is not None:
            bad = np.flatnonzero(np.asarray(ref.ids) != np.asarray(r.ids))
            if len(bad):
                i = bad[0]
                raise FusionError(f"fuse: sample {i} is {ref.ids[i]!s} in {rname} but {r.ids[i]!s} in {n} "
                                  f"({len(bad)} samples differ); the runs scored different samples or orders")
        bad = np.flatnonzero(r.labels != ref.labels)
        if len(bad):
            i = bad[0]
            which = f" ({ref.ids[i]!s})" if ref.ids is not None else ""
            raise FusionError(f"fuse: labels disagree at sample {i}{which}: {rname} says {ref.labels[i]}, "
                              f"{n} says {r.labels[i]} ({len(bad)} of {len(r.labels)} samples "
                              f"differ); the runs scored different samples or orders")


def _weights(weights, n: int) -> np.ndarray:
    w = np.ones(n) if weights is None else np.asarray(list(weights), dtype=np.float64)
    if w.shape != (n,):
        raise FusionError(f"fuse: {n} runs but {w.size} weights")
    if not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise FusionError(f"fuse: weights must be finite, >= 0 and not all 0, got {w.tolist()}")
    return w


def fuse(results: Sequence[EvalResult], weights=None, names: Sequence[str] | None = None) -> EvalResult:
    """Weighted mean of the streams' softmax scores (equal weights by default), after
    :func:`check_aligned`."""
    check_aligned(results, names)
    w = _weights(weights, len(results))
    scores = sum(wi * r.scores for wi, r in zip(w, results)) / w.sum()
    ids = next((r.ids for r in results if r.ids is not None), None)
    return EvalResult(scores, results[0].labels.copy(), ids)


def contingency(a: EvalResult, b: EvalResult) -> np.ndarray:
    """2 x 2 sample counts: rows = a right / a wrong, columns = b right / b wrong."""
    check_aligned([a, b])
    ra, rb = a.pred == a.labels, b.pred == b.labels
    return np.array([[np.sum(ra & rb), np.sum(ra & ~rb)], [np.sum(~ra & rb), np.sum(~ra & ~rb)]])


def oracle(results: Sequence[EvalResult]) -> float:
    """Fraction of samples that at least one of the streams classifies correctly (top-1)."""
    check_aligned(results)
    right = np.zeros(len(results[0].labels), bool)
    for r in results:
        right |= r.pred == r.labels
    return float(right.mean())


def complementarity(a: EvalResult, b: EvalResult) -> dict:
    """How differently two streams err: the contingency counts, each stream's accuracy, the
    share of a's errors that b gets right (and vice versa), the overlap of their error sets
    (Jaccard), the oracle accuracy and the accuracy of their equal-weight fusion."""
    c = contingency(a, b)
    n = c.sum()
    err_a, err_b = c[1].sum(), c[:, 1].sum()
    both_wrong = c[1, 1]
    union = err_a + err_b - both_wrong
    return dict(both_right=int(c[0, 0]), only_a=int(c[0, 1]), only_b=int(c[1, 0]), both_wrong=int(both_wrong),
                top1_a=c[0].sum() / n, top1_b=c[:, 0].sum() / n,
                b_fixes_a=c[1, 0] / err_a if err_a else float("nan"),
                a_fixes_b=c[0, 1] / err_b if err_b else float("nan"),
                error_jaccard=both_wrong / union if union else float("nan"),
                oracle=(n - both_wrong) / n, fused=fuse([a, b]).top1)


# ----------------------------------------------------------------------------- runs on disk
WHICH = ("last", "best")


def scores_file(run_dir: str | os.PathLike, which: str = "last") -> Path:
    """A run folder's scores of ``which`` epoch: ``scores_last.npz`` (or, in runs from before
    periodic evaluation, ``scores.npz``) or ``scores_best.npz`` (the epoch of highest test top-1:
    selected on the test set, hence optimistic)."""
    if which not in WHICH:
        raise FusionError(f"fuse: which must be one of {WHICH}, got {which!r}")
    d = Path(run_dir)
    if which == "best":
        return d / "scores_best.npz"
    return d / "scores_last.npz" if (d / "scores_last.npz").is_file() else d / "scores.npz"


def load_run(path: str | os.PathLike, which: str = "last", logits: bool = False) -> EvalResult:
    """The scores of a run folder (see :func:`scores_file`) or of a scores file; a clear error if
    absent or not finite probabilities (``logits=True``: the files hold logits, softmax applied)."""
    path = Path(path)
    f = scores_file(path, which) if path.is_dir() else path
    if not f.is_file():
        if which == "best" and path.is_dir():
            hint = " (a run from before periodic evaluation, or not evaluated yet; use --which last)"
        else:
            hint = " (has this run finished? `python -m skelnb evaluate RUN_DIR` writes it)" if path.is_dir() else ""
        raise FusionError(f"fuse: {f}: no scores file{hint}")
    try:
        return EvalResult.load(f, logits=logits)
    except ScoresError as e:
        raise FusionError(f"fuse: {e}") from None


@dataclass
class FusionReport:
    names: list[str]
    weights: np.ndarray
    streams: list[EvalResult]
    fused: EvalResult

    def rows(self) -> list[dict]:
        out = [dict(stream=n, weight=float(w), top1=r.top1, top5=r.top5)
               for n, w, r in zip(self.names, self.weights, self.streams)]
        return out + [dict(stream="fused", weight=float(self.weights.sum()), top1=self.fused.top1,
                           top5=self.fused.top5)]

    def table(self) -> str:
        width = max(len(n) for n in self.names + ["fused"])
        lines = [f"{'stream':<{width}}  weight  top-1 %  top-5 %"]
        for r in self.rows():
            lines.append(f"{r['stream']:<{width}}  {r['weight']:6.2f}  {100 * r['top1']:7.2f}  {100 * r['top5']:7.2f}")
        extra = f"oracle (a stream is right) {100 * oracle(self.streams):.2f} %" if len(self.streams) > 1 else ""
        return "\n".join(lines + ([extra] if extra else []))

    def save(self, out: str | os.PathLike) -> Path:
        """The fused scores as a run folder (``scores.npz``, ``result.json``) + ``fusion.json``.
        Refuses a folder that is one of the inputs (or holds one) or holds a training run:
        fusing never overwrites a run's own scores."""
        out = Path(out)
        target = out.resolve()
        for n in self.names:
            src = Path(n).resolve()
            if target in (src, src.parent if src.suffix == ".npz" else src):
                raise FusionError(f"fuse --out {out}: that is an input of this fusion ({n}); its scores would be "
                                  f"overwritten. Choose a new folder")
        if (out / "checkpoint.pt").exists() or (out / "config.yaml").exists():
            raise FusionError(f"fuse --out {out}: that folder holds a training run (checkpoint.pt / config.yaml); "
                              f"its scores would be overwritten. Choose a new folder")
        self.fused.save(out)
        info = dict(streams=self.names, weights=self.weights.tolist(), rows=self.rows(),
                    oracle=oracle(self.streams))
        tmp = out / f".fusion.tmp{os.getpid()}.json"
        tmp.write_text(json.dumps(info, indent=1))
        os.replace(tmp, out / "fusion.json")
        return out


def fuse_runs(paths: Sequence[str | os.PathLike], weights=None, which: str = "last",
              logits: bool = False) -> FusionReport:
    """Load the runs' scores (``which``: each run's last or best epoch; ``logits``: the files
    hold logits, converted by a softmax), check they are aligned, fuse them."""
    names = [str(p) for p in paths]
    results = [load_run(p, which, logits) for p in paths]
    fused = fuse(results, weights, names)
    return FusionReport(names, _weights(weights, len(results)), results, fused)


def reproduction_table(root: str | os.PathLike | None = None) -> list[dict]:
    """One row per paper number (:data:`skelnb.paper.PAPER_RESULTS`): the paper's top-1 and,
    where every stream of the row has its scores under ``root`` (default $SKELNB_RUNS), the
    top-1 of those runs fused with equal weights (None: not run): ``ours_top1`` from each run's
    last epoch, then ``ours_best_top1`` from each run's best epoch -- selected on the test set,
    hence optimistic, the way the authors' code keeps its scores."""
    from .paper import PAPER_RESULTS
    rows = []
    for p in PAPER_RESULTS:
        dirs = p.run_dirs(root)
        ours = {}
        for which in WHICH:
            have = all(scores_file(d, which).is_file() for d in dirs)
            ours[which] = (100 * fuse([load_run(d, which) for d in dirs], names=[str(d) for d in dirs]).top1
                           if have else None)
        rows.append(dict(table=p.table, setting=p.setting, dataset=p.dataset, column=p.column,
                         benchmark=p.benchmark, paper_top1=p.top1,
                         ours_top1=ours["last"], ours_best_top1=ours["best"],
                         runs=[str(d) for d in dirs]))
    return rows
