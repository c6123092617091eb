"""How fast are the NTU reader and the cache? (A benchmark script, not a test.)

    .venv/bin/python benchmarks/data_speed.py [--files 300] [--workers N] [--dir DIR]

1. Writes ``--files`` NTU ``.skeleton`` files with the synthetic generator, sized like real
   ones (real files average ~380 KB, ~100 frames, often a second body): ~110-frame
   performances, and in 60 % of the one-person samples a bystander body tracked for part of
   the sequence. Prints their average size, frames and bodies per frame.
2. Files per second: the parser alone (:func:`read_skeleton`) on one core; the whole cache
   build (parse + body selection + preprocessing + writing the memmap) with one worker and
   with all cores. Reference: CTR-GCN's own NTU parser reads 162 files/s on one core of this
   kind of machine; the target is at least that per core, and all of NTU-120 (114,480 files)
   in <= 10 minutes.
3. Batches per second from the cache: SkeletonDataset (training augmentation, 64 frames) and a
   DataLoader over the memmap, 0 and 2 loader workers.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from skelnb.data.ntu import write_skeleton

REFERENCE = 162.0          # files/s, CTR-GCN's NTU parser, one core (measured on this machine)
NTU120_FILES = 114_480


def write_files(root: Path, n: int, seed: int = 0) -> list[Path]:
    from skelnb.data.synthetic import CLASS_NAMES, SyntheticConfig, generate
    subjects = tuple(range(1, 1 + int(np.ceil(n / (len(CLASS_NAMES) * 2 * 3)))))
    s = generate(SyntheticConfig(subjects=subjects, replications=(1, 2), base_frames=110, seed=seed))
    rng = np.random.default_rng(seed)
    paths = []
    for i in rng.permutation(len(s))[:n]:
        T = int(s.lengths[i])
        seq = s.data[i, :, :T].transpose(1, 3, 2, 0).astype(np.float64)         # (T, 2, V, 3)
        present = np.abs(seq).sum(axis=(2, 3)) > 0
        if not present[:, 1].any() and rng.random() < 0.6:                  # a bystander
            a = int(rng.integers(0, T // 2))
            b = int(rng.integers(a + T // 3, T + 1))
            seq[a:b, 1] = seq[a:b, 0] + [1.2, 0.0, 0.6] + rng.normal(0, 0.01, (b - a, 25, 3))
            present[a:b, 1] = True
        paths.append(write_skeleton(root / f"{s.names[i]}.skeleton", seq, present))
    return paths


def files_per_second(fn, items) -> tuple[float, float]:
    """(files per wall-clock second, files per CPU second of this process)."""
    t, c = time.perf_counter(), time.process_time()
    for it in items:
        fn(it)
    return len(items) / (time.perf_counter() - t), len(items) / (time.process_time() - c)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the pool's workers)."""
    import resource
    me, ch = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def load() -> str:
    return "load average %.1f %.1f %.1f" % os.getloadavg()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--dir", default=None, help="where to write the files (default: a temp dir)")
    ap.add_argument("--batches", type=int, default=60)
    a = ap.parse_args()

    from skelnb.data import cache as C
    from skelnb.data.ntu import read_skeleton
    from skelnb.data.preprocess import PreprocessConfig

    tmp = tempfile.TemporaryDirectory() if a.dir is None else None
    base = Path(a.dir or tmp.name)
    src = base / "nturgb+d_skeletons"
    t = time.perf_counter()
    paths = sorted(src.glob("*.skeleton")) if src.is_dir() else []
    if len(paths) < a.files:
        paths = write_files(src, a.files)
    paths = paths[: a.files]
    print(f"machine: {os.cpu_count()} cores, {load()} (other jobs share these cores: wall-clock "
          f"rates drop when they run; CPU-second rates do not); {len(paths)} files ready in "
          f"{time.perf_counter() - t:.1f} s")
    sizes = np.array([p.stat().st_size for p in paths])
    raws = [read_skeleton(p) for p in paths]                       # also warms the page cache
    frames = np.array([r.num_frames for r in raws])
    bpf = np.array([r.bodies_per_frame.mean() for r in raws])
    print(f"files: {sizes.mean() / 1024:.0f} KB on average (min {sizes.min() / 1024:.0f}, max "
          f"{sizes.max() / 1024:.0f}); {frames.mean():.0f} frames; {bpf.mean():.2f} bodies per frame; "
          f"{np.mean([r.bodies_per_frame.sum() * 27 for r in raws]):.0f} lines; "
          f"{(bpf > 1).mean():.0%} of files with a 2nd body")
    print("  (real files: ~380 KB, ~100 frames; their joint lines carry ~110 bytes, these ~80, so the "
          "same size means more values here)")

    print("\n== files per second ==")
    r1, r1c = files_per_second(read_skeleton, paths)
    print(f"parse only (read_skeleton), 1 core:        {r1:6.0f} files/s wall, {r1c:6.0f} per CPU-s  "
          f"({r1 / REFERENCE:.1f}x the {REFERENCE:.0f} files/s reference)")
    cfg = PreprocessConfig()                                       # T=300, pad: the default cache
    out = base / "cache"
    t, c = time.perf_counter(), cpu_seconds()
    c1 = C.build_ntu_cache(src, out, "ntu60", cfg, workers=1, progress=False, force=True)
    b1, b1c = len(paths) / (time.perf_counter() - t), len(paths) / (cpu_seconds() - c)
    print("cache build (parse+select+preprocess+write):")
    print(f"  1 worker:                     {b1:6.0f} files/s wall ({len(paths) / c1.meta['build_seconds']:4.0f} in "
          f"the parse loop), {b1c:6.0f} per CPU-s  ({b1 / REFERENCE:.1f}x reference)")
    W = max(1, a.workers)
    t, c = time.perf_counter(), cpu_seconds()
    cW = C.build_ntu_cache(src, out, "ntu60", cfg, workers=W, progress=False, force=True)
    bW, bWc = len(paths) / (time.perf_counter() - t), len(paths) / (cpu_seconds() - c)
    print(f"  {W} workers (pool: {C.start_method()}):        {bW:6.0f} files/s wall "
          f"({len(paths) / cW.meta['build_seconds']:4.0f} in "
          f"the parse loop), {bWc:6.0f} per CPU-s  ({bW / REFERENCE:.1f}x reference, {bW / b1:.2f}x one worker)")
    print("  (wall = everything: listing, key, pool, parse loop, fsync of the memmap, old version removal)")
    print(f"  -> NTU-120 ({NTU120_FILES:,} files) at {bW:.0f} files/s: {NTU120_FILES / bW / 60:.1f} min "
          f"(target <= 10 min); with {W} idle cores at the per-CPU-s rate: "
          f"{NTU120_FILES / (bWc * W) / 60:.1f} min")
    print(f"  ({load()})")
    assert np.array_equal(np.asarray(c1.data), np.asarray(cW.data))

    print("\n== batches per second from the cache (memmap -> SkeletonDataset -> DataLoader) ==")
    import torch
    from torch.utils.data import DataLoader
    from skelnb.data.dataset import Augment
    torch.set_num_threads(1)
    cache = C.load_cache(out)
    best32 = 0.0
    for workers in (0, 2):
        for bs in (32, 64):
            ds = cache.dataset(num_frames=64, augment=Augment())
            if len(ds) < 2 * bs:
                print(f"batch {bs:3d}: skipped, only {len(ds)} samples in the cache (use more --files)")
                continue
            dl = DataLoader(ds, batch_size=bs, shuffle=True, num_workers=workers, drop_last=True,
                            persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
            n, t = 0, None
            while n < a.batches:
                for x, y in dl:
                    if t is None:                       # start the clock after the first batch
                        t, n = time.perf_counter(), 0
                        continue
                    n += 1
                    if n >= a.batches:
                        break
            dt = time.perf_counter() - t
            if bs == 32:
                best32 = max(best32, n / dt)
            print(f"batch {bs:3d}, {workers} loader workers: {n / dt:7.1f} batches/s "
                  f"({n * bs / dt:6.0f} samples/s, batch {tuple(x.shape)})")

    print("\n== the loader against what SEM-Net's training consumes ==")
    from skelnb.flops import train_step_time
    from skelnb.sem.net import SEMNet
    torch.set_num_threads(os.cpu_count())
    model = SEMNet(num_frames=64)
    step = train_step_time(model, torch.randn(32, 3, 64, 25, 2), 60, iters=2)
    print(f"SEM-Net (paper size) training step, batch 32, T=64, {os.cpu_count()} threads: {step:.2f} s "
          f"= {1 / step:.2f} batches/s consumed")
    ratio = best32 * step
    print(f"cache loader: {best32:.0f} batches/s = {ratio:.0f}x what training consumes "
          f"(target >= 20x): {'met' if ratio >= 20 else 'NOT met'}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
