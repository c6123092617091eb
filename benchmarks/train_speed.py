"""Training throughput and efficiency of every model, quick and default (paper) size, on this CPU.

    .venv/bin/python benchmarks/train_speed.py                       # all models, both sizes (a few minutes)
    .venv/bin/python benchmarks/train_speed.py --sizes quick         # the small models only
    .venv/bin/python benchmarks/train_speed.py --models sem-joint --sizes default --steps 3

For each model it runs ``fit``'s own training step (:func:`skelnb.train.step_times`: forward,
cross-entropy, backward, SGD Nesterov step) on batches the DataLoader made from the synthetic
set with the training augmentation (one warm-up step, then ``--steps`` timed), and reports

* samples/s: batch / median step time;
* loader s/step beside step s/step: the time to produce a batch (crop/resample, rotate, scale,
  collate) against the time to train on it -- the data path must not be what limits training;
* efficiency: achieved FLOP/s over this machine's fp32 matmul FLOP/s, measured in the same run
  just before and after the model's steps (:func:`skelnb.flops.matmul_flops_per_s`, same
  threads). A training step costs 3 forward passes (forward + backward ~ 2 x forward), i.e.
  6 x multiply-adds FLOPs per sample. SEM-Net's multiply-adds are counted on the meta device
  (:func:`skelnb.flops.count_macs`); SPA-Net's depend on the sample (sparse rulebooks), so they
  are counted on the very batches that are timed (:func:`skelnb.spa.net.sparse_costs`).

The machine may be shared: the load average is printed before and after, and the matmul rate
is re-measured for every model, so efficiency compares like with like. Reference (facts.md,
measured on this kind of machine, 2 threads): CTR-GCN trains at 9.8 samples/s (batch 16, T=64),
about 54 % of the matmul rate by the same 6 x multiply-adds convention.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn

from skelnb.data.dataset import Augment, from_skeleton_set
from skelnb.data.synthetic import CLASS_NAMES, SyntheticConfig, generate
from skelnb.flops import count_macs, count_params, matmul_flops_per_s
from skelnb.train import TrainConfig, step_times

REFERENCE = dict(model="CTR-GCN (facts.md)", samples_per_s=9.8, efficiency=0.54, batch=16, frames=64)


def build(name: str, size: str):
    """(model, frames) for 'sem-joint' | 'spa-3+1d' | 'spa-4d' in 'quick' | 'default' size."""
    K = len(CLASS_NAMES)
    torch.manual_seed(0)
    if name == "sem-joint":
        from skelnb.sem.net import SEMNet
        m = SEMNet.quick(K, width=24, depth=4, num_frames=32) if size == "quick" else SEMNet(num_classes=K)
        return m, m.num_frames
    from skelnb.spa.net import SPANet
    kind = name.split("-", 1)[1]
    m = SPANet.quick(kind=kind, num_classes=K) if size == "quick" else SPANet(kind=kind, num_classes=K)
    return m, m.num_frames


def macs_per_sample(model: nn.Module, x: torch.Tensor) -> float:
    if type(model).__name__ == "SPANet":
        from skelnb.spa.net import sparse_costs
        return sparse_costs(model, x).per_sample()["macs"]
    return count_macs(model, x[:1])


def measure(name: str, size: str, data, batch: int, steps: int, threads: int) -> dict:
    model, T = build(name, size)
    ds = from_skeleton_set(data, augment=Augment(), num_frames=T)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True,
                                         generator=torch.Generator().manual_seed(0), drop_last=True)
    it, batches, load_t = iter(loader), [], []
    for _ in range(steps):                             # the data path alone: time to produce a batch
        t0 = time.perf_counter()
        batches.append(next(it))
        load_t.append(time.perf_counter() - t0)
    mm_before = matmul_flops_per_s(threads=threads)
    step_t = step_times(model, batches, TrainConfig(lr=0.01), device="cpu", warmup=1)   # fit's own step
    mm_after = matmul_flops_per_s(threads=threads)
    step = statistics.median(step_t)
    mm = statistics.median([mm_before, mm_after])
    mac = statistics.mean(macs_per_sample(model, x) for x, _ in batches)
    return dict(model=name, size=size, params=count_params(model), frames=T, batch=batch, macs=mac,
                step_s=step, loader_s=statistics.median(load_t), samples_per_s=batch / step,
                achieved=6 * mac * batch / step, matmul=mm, efficiency=6 * mac * batch / step / mm)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["sem-joint", "spa-3+1d", "spa-4d"])
    ap.add_argument("--sizes", nargs="+", default=["quick", "default"], choices=["quick", "default"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per model (after one warm-up step)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = list(args.models)
    try:
        import skelnb.spa.net  # noqa: F401
    except ImportError as e:
        print(f"(SPA-Net not available: {e}; SEM-Net only)")
        models = [m for m in models if not m.startswith("spa")]
    data = generate(SyntheticConfig(subjects=tuple(range(1, 4))))
    print(f"torch {torch.__version__}, {args.threads} threads, {os.cpu_count()} CPUs; batch {args.batch}, "
          f"median of {args.steps} steps; load average {os.getloadavg()[0]:.2f} (1 min) at start")
    head = (f"{'model':<10} {'size':<8} {'params':>8} {'T':>4} {'GMACs/s.':>9} {'step s':>8} {'loader s':>9} "
            f"{'samples/s':>10} {'GFLOP/s':>8} {'matmul':>8} {'eff.':>6}")
    print(head)
    rows = []
    for size in args.sizes:
        for name in models:
            r = measure(name, size, data, args.batch, args.steps, args.threads)
            rows.append(r)
            print(f"{r['model']:<10} {r['size']:<8} {r['params'] / 1e6:7.2f}M {r['frames']:>4} {r['macs'] / 1e9:9.3f} "
                  f"{r['step_s']:8.3f} {r['loader_s']:9.4f} {r['samples_per_s']:10.1f} {r['achieved'] / 1e9:8.1f} "
                  f"{r['matmul'] / 1e9:8.1f} {100 * r['efficiency']:5.1f}%", flush=True)
    ref = REFERENCE
    print(f"{'reference':<10} {ref['model']}: {ref['samples_per_s']} samples/s (batch {ref['batch']}, "
          f"T={ref['frames']}), ~{100 * ref['efficiency']:.0f} % of matmul")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end; GMACs/s. = multiply-adds per sample "
          f"(forward), GFLOP/s = 6 x MACs x samples/s, eff. = GFLOP/s / matmul GFLOP/s")
    return rows


if __name__ == "__main__":
    main()
