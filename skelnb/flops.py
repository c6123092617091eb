"""Counting helpers shared by the nets: parameters, multiply-adds, CPU timing, matmul peak.

Convention of this field: the "GFLOPs" in skeleton-action papers are *multiply-adds* (MACs), e.g.
CTR-GCN's 1.97 "GFLOPs" are 1.94 G multiply-adds measured here. ``torch.utils.flop_counter``
counts FLOPs = 2 x MACs for matmul/conv/einsum (softmax, BN, ReLU, pooling are not counted), so
:func:`count_macs` divides its total by 2.

Counting runs on the *meta* device by default: shapes only, no memory, no arithmetic -- the
39.7-G "unified" variant is counted in milliseconds.
"""
from __future__ import annotations

import copy
import statistics
import time

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, *inputs: torch.Tensor, meta: bool = True, by_module: bool = False):
    """Multiply-adds of one forward pass of ``model(*inputs)`` (FlopCounterMode total / 2).

    ``meta=True`` runs a deep copy of the model on the meta device (inputs are moved there too),
    so nothing is computed. With ``by_module=True`` also returns {submodule name: MACs} for every
    submodule that does any (names as in ``named_modules``, e.g. "blocks.0.att"; nested counts
    include their children).
    """
    if meta:
        model = copy.deepcopy(model).to("meta")
        inputs = tuple(x.to("meta") if torch.is_tensor(x) else x for x in inputs)
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False, depth=None)
    with torch.no_grad(), counter:
        model(*inputs)
    model.train(was_training)
    total = counter.get_total_flops() // 2
    if not by_module:
        return total
    per = {}
    for name, ops in counter.get_flop_counts().items():
        if "." in name:                                 # "<ModelClass>.blocks.0.att" -> "blocks.0.att"
            per[name.split(".", 1)[1]] = sum(ops.values()) // 2
    return total, per


def matmul_flops_per_s(n: int = 1024, seconds: float = 1.0, threads: int | None = None) -> float:
    """This machine's fp32 matmul rate in FLOP/s (2 n^3 per n x n @ n x n), median over repeats."""
    old = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(3):
            a @ b                                               # warm-up
        rates, t_end = [], time.perf_counter() + seconds
        while time.perf_counter() < t_end or len(rates) < 5:
            t0 = time.perf_counter()
            a @ b
            rates.append(2 * n ** 3 / (time.perf_counter() - t0))
        return statistics.median(rates)
    finally:
        torch.set_num_threads(old)


def time_calls(fn, iters: int = 5, warmup: int = 1) -> list[float]:
    """Wall times (s) of ``iters`` calls of ``fn()`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def time_call(fn, iters: int = 5, warmup: int = 1) -> float:
    """Median wall time (s) of ``fn()`` over ``iters`` calls after ``warmup`` calls."""
    return statistics.median(time_calls(fn, iters, warmup))


def train_step_time(model: nn.Module, x: torch.Tensor, num_classes: int, iters: int = 3, warmup: int = 1,
                    stat=statistics.median):
    """Time (s) of one forward + backward (cross-entropy on random labels) on batch x: ``stat`` of the
    ``iters`` timings (median by default; ``stat=None`` returns the list)."""
    model.train()
    y = torch.randint(num_classes, (x.shape[0],))

    def step():
        model.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
    times = time_calls(step, iters, warmup)
    return times if stat is None else stat(times)


def inference_time(model: nn.Module, x: torch.Tensor, iters: int = 5, warmup: int = 1) -> float:
    """Median time (s) of one forward pass in eval mode without autograd."""
    model.eval()
    with torch.inference_mode():
        return time_call(lambda: model(x), iters, warmup)
