"""Evaluation: top-1/top-5, per-class accuracy, confusion matrix, per-sample softmax scores.

The scores are what the paper fuses: ``fuse`` averages (or sums) the softmax scores of
several streams, sample by sample, so every evaluation saves them (``scores.npz``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class ScoresError(ValueError):
    """Scores that are not finite probabilities (or a file that is not a scores file)."""


def check_probabilities(scores: np.ndarray, where: str, tol: float = 1e-3) -> None:
    """Raise :class:`ScoresError` unless ``scores`` (N, K) are finite, in [0, 1] and each row
    sums to 1 (within ``tol``): softmax scores, not logits."""
    bad = ~np.isfinite(scores).all(1)
    if bad.any():
        raise ScoresError(f"{where}: the scores of sample {int(np.flatnonzero(bad)[0])} are not finite "
                          f"({int(bad.sum())} of {len(scores)} samples); NaN would count as class 0")
    off = (scores.min(1) < -tol) | (scores.max(1) > 1 + tol) | (np.abs(scores.sum(1) - 1) > tol)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ScoresError(f"{where}: the scores of sample {i} are not probabilities (min {scores[i].min():.4g}, "
                          f"max {scores[i].max():.4g}, sum {scores[i].sum():.4g}; expected softmax scores in "
                          f"[0, 1] summing to 1); if they are logits, convert them explicitly (fuse --logits)")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits (float64, stable)."""
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


@dataclass
class EvalResult:
    scores: np.ndarray        # (N, K) softmax scores
    labels: np.ndarray        # (N,)
    ids: np.ndarray | None = None   # (N,) sample names (e.g. S001C002P003R002A013), if known

    @property
    def num_classes(self) -> int:
        return self.scores.shape[1]

    @property
    def pred(self) -> np.ndarray:
        return self.scores.argmax(1)

    @property
    def top1(self) -> float:
        return float((self.pred == self.labels).mean())

    def topk(self, k: int) -> float:
        k = min(k, self.num_classes)
        top = np.argsort(-self.scores, axis=1)[:, :k]
        return float((top == self.labels[:, None]).any(1).mean())

    @property
    def top5(self) -> float:
        return self.topk(5)

    def confusion(self) -> np.ndarray:
        """(K, K) counts: row = true class, column = predicted class."""
        K = self.num_classes
        return np.bincount(self.labels * K + self.pred, minlength=K * K).reshape(K, K)

    def per_class(self) -> np.ndarray:
        """Accuracy of each class (NaN where a class has no test sample)."""
        c = self.confusion()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(c) / c.sum(1)

    @property
    def mean_class(self) -> float:
        """Mean of the per-class accuracies over the classes that have test samples."""
        pc = self.per_class()
        return float(np.nanmean(pc)) if np.isfinite(pc).any() else float("nan")

    def summary(self) -> dict:
        return dict(top1=self.top1, top5=self.top5, mean_class=self.mean_class, num_samples=int(len(self.labels)),
                    num_classes=int(self.num_classes))

    def save_scores(self, path: str | os.PathLike) -> Path:
        """The scores (scores, labels, ids if known) as an ``.npz`` file, written atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.npz")
        extra = {} if self.ids is None else dict(ids=np.asarray(self.ids).astype(str))
        try:
            np.savez(tmp, scores=self.scores, labels=self.labels, **extra)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path

    def save(self, run_dir: str | os.PathLike) -> None:
        """``scores.npz`` (scores, labels, ids if known) and ``result.json`` (summary), written
        atomically."""
        run_dir = Path(run_dir)
        self.save_scores(run_dir / "scores.npz")
        tmp = run_dir / f".result.tmp{os.getpid()}.json"
        tmp.write_text(json.dumps(dict(self.summary(), per_class=[None if np.isnan(a) else float(a)
                                                                  for a in self.per_class()]), indent=1))
        os.replace(tmp, run_dir / "result.json")

    @classmethod
    def load(cls, path: str | os.PathLike, *, logits: bool = False) -> "EvalResult":
        """From a run folder or a ``scores.npz`` file. The scores must be finite probabilities
        (:func:`check_probabilities`); ``logits=True``: the file holds logits, converted here by
        a softmax. Labels must be class indices 0..K-1."""
        path = Path(path)
        if path.is_dir():
            path = path / "scores.npz"
        try:
            with np.load(path, allow_pickle=False) as z:
                scores, labels = z["scores"], z["labels"]
                ids = z["ids"] if "ids" in z.files else None
        except FileNotFoundError:
            raise
        except Exception as e:
            raise ScoresError(f"{path}: not a scores file ({type(e).__name__}: {e})") from None
        if scores.ndim != 2 or labels.shape != (len(scores),):
            raise ScoresError(f"{path}: scores must be (N, K) and labels (N,), got {scores.shape}, {labels.shape}")
        if ids is not None and ids.shape != labels.shape:
            raise ScoresError(f"{path}: ids must be (N,) like the labels, got {ids.shape}")
        if scores.dtype.kind != "f" or labels.dtype.kind not in "iu":
            raise ScoresError(f"{path}: scores must be floats and labels integers, got {scores.dtype}, {labels.dtype}")
        if len(labels) and (labels.min() < 0 or labels.max() >= scores.shape[1]):
            raise ScoresError(f"{path}: labels must be class indices 0..{scores.shape[1] - 1}, got "
                              f"{labels.min()}..{labels.max()}")
        scores = scores.astype(np.float64)
        if logits:
            if not np.isfinite(scores).all():
                raise ScoresError(f"{path}: the logits hold NaN or inf")
            scores = softmax(scores)
        check_probabilities(scores, str(path))
        return cls(scores, labels.astype(np.int64), ids)


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset | DataLoader, *, batch_size: int = 64,
             device: str | torch.device = "cpu") -> EvalResult:
    """Softmax scores of ``model`` on every sample of ``data`` (in order)."""
    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size, shuffle=False)
    model.eval()
    scores, labels = [], []
    for x, y in loader:
        scores.append(torch.softmax(model(x.to(device)).float(), 1).cpu())
        labels.append(y)
    out = EvalResult(torch.cat(scores).numpy().astype(np.float64), torch.cat(labels).numpy().astype(np.int64))
    check_probabilities(out.scores, f"evaluate({type(model).__name__})")   # a diverged model: NaN, said so
    return out
