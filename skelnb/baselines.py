"""Two trivial baselines that each ignore one thing the paper's models must use.

All three runs share one small temporal-convolution classifier (``TCNClassifier``); only its
input changes:

* ``ordered``  — joint coordinates, frames in order (the control);
* ``shuffled`` — the same coordinates with the frames randomly permuted (blind to *order*);
* ``angles``   — per frame, only the angles between bones that meet at a joint (blind to
  *where*: invariant to where the body is and to rotations about a bone's own axis).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .data.layouts import Layout, get_layout, to_bones


def angle_pairs(layout: Layout) -> list[tuple[int, int]]:
    """Pairs of bones (by child joint) that meet at a joint: a bone and its parent's bone, and
    sibling bones sharing a parent. The root's bone is zero and takes part in no pair."""
    bones = {c: p for c, p in layout.bones}
    pairs = [(c, p) for c, p in bones.items() if p in bones]                    # consecutive
    kids: dict[int, list[int]] = {}
    for c, p in bones.items():
        kids.setdefault(p, []).append(c)
    pairs += [(a, b) for ks in kids.values() for i, a in enumerate(ks) for b in ks[i + 1:]]  # siblings
    return pairs


def joint_angles(x: torch.Tensor, layout: str | Layout = "ntu25") -> torch.Tensor:
    """(N, C, T, V, M) coordinates -> (N, A, T, M) cosines of the angles between bone pairs.

    A missing (zero) bone gives cosine 0."""
    lay = get_layout(layout)
    b = to_bones(x, lay, joint_axis=3)                                          # (N, C, T, V, M)
    i, j = zip(*angle_pairs(lay))
    u, v = b[:, :, :, list(i)], b[:, :, :, list(j)]                                 # (N, C, T, A, M)
    cos = (u * v).sum(1) / (u.norm(dim=1) * v.norm(dim=1)).clamp_min(1e-6)     # (N, T, A, M)
    return cos.permute(0, 2, 1, 3)


class TCNClassifier(nn.Module):
    """Temporal convolutions over per-frame feature vectors, global average pool, linear."""

    def __init__(self, in_features: int, num_classes: int, width: int = 96):
        super().__init__()
        self.net = nn.Sequential(
            nn.BatchNorm1d(in_features),
            nn.Conv1d(in_features, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, 5, padding=4, dilation=2), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, 5, padding=4, dilation=2, stride=2), nn.BatchNorm1d(width), nn.ReLU(),
        )
        self.fc = nn.Linear(width, num_classes)

    def forward(self, f):                        # f: (N, F, T)
        return self.fc(self.net(f).mean(-1))     # (N, classes)


def features(x: torch.Tensor, kind: str, layout="ntu25", generator: torch.Generator | None = None):
    """(N, C, T, V, M) -> (N, F, T) per-frame features for the baseline ``kind``."""
    N, C, T, V, M = x.shape
    if kind == "angles":
        return joint_angles(x, layout).permute(0, 1, 3, 2).reshape(N, -1, T)
    f = x.permute(0, 1, 3, 4, 2).reshape(N, C * V * M, T)
    if kind == "ordered":
        return f
    if kind == "shuffled":
        perm = torch.stack([torch.randperm(T, generator=generator) for _ in range(N)])
        return torch.gather(f, 2, perm[:, None, :].expand(-1, f.shape[1], -1))
    raise ValueError(f"unknown baseline {kind!r}: use 'ordered', 'shuffled' or 'angles'")


def train_baseline(kind: str, train_loader, test_loader, num_classes: int, *, epochs: int = 10,
                   lr: float = 3e-3, seed: int = 0, layout="ntu25"):
    """Train one baseline; returns (model, test predictions, test labels)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    xb, _ = next(iter(train_loader))
    model = TCNClassifier(features(xb, kind, layout, g).shape[1], num_classes)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * len(train_loader))
    for epoch in range(epochs):
        model.train()
        if hasattr(train_loader.dataset, "set_epoch"):
            train_loader.dataset.set_epoch(epoch)
        for x, y in train_loader:
            loss = nn.functional.cross_entropy(model(features(x, kind, layout, g)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    preds, labels = [], []
    with torch.no_grad():
        for x, y in test_loader:
            preds.append(model(features(x, kind, layout, g)).argmax(1))
            labels.append(y)
    return model, torch.cat(preds).numpy(), torch.cat(labels).numpy()


def per_class_accuracy(pred: np.ndarray, label: np.ndarray, num_classes: int) -> np.ndarray:
    """Accuracy of each class (NaN for a class absent from ``label``)."""
    acc = np.full(num_classes, np.nan)
    for k in range(num_classes):
        m = label == k
        if m.any():
            acc[k] = (pred[m] == k).mean()
    return acc
