"""Two training runs at a time, or one after the other? (A benchmark script, not a test.)

    .venv/bin/python benchmarks/parallel_runs.py [--runs 2] [--kind sem|spa]

Trains ``--runs`` real chapter runs (SEM-Net's Table 1 row ``cross-frame+GR``, or SPA-4D's
Table 5 row (32, 3), in the ablation settings, seeds 0, 1, ...) three ways, each into fresh
temporary run folders:

1. one after the other with 2 torch threads (``fit`` called directly);
2. one after the other with 1 thread (what ``recipes.train`` does on a CPU);
3. ``recipes.in_parallel``: two spawned worker processes, one thread each.

Prints the wall time of each, the ratios to way 1, and whether ways 2 and 3 give the same test
top-1 per seed (they must: one thread, the same seed, the same weights). Run it on a quiet
machine; the load average is printed before and after.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from skelnb import profile, recipes
from skelnb.experiments import sem_ablation, spa_ablation
from skelnb.train import fit, run_dir_for


def way(kind: str, seeds, how: str) -> tuple[float, list[float]]:
    fn = sem_ablation.train_row if kind == "sem" else spa_ablation.train_row
    jobs = [dict(mode="cross-frame+GR", seed=s) if kind == "sem" else
            dict(space=32, kernel=3, seed=s) for s in seeds]
    with tempfile.TemporaryDirectory(prefix="skelnb-bench-") as root:
        os.environ["SKELNB_RUNS"] = root
        t0 = time.perf_counter()
        if how == "parallel":
            runs = recipes.in_parallel(fn, jobs, 2)
        elif how == "1 thread":
            runs = [fn(**job) for job in jobs]
        else:                                               # fit itself, on 2 threads
            torch.set_num_threads(2)
            runs = []
            for job in jobs:
                parts = (sem_ablation._parts(job["mode"], None, job["seed"]) if kind == "sem"
                         else spa_ablation._parts(job["space"], job["kernel"], job["seed"], None))
                abl, model, (tr, te), cfg = parts
                torch.manual_seed(cfg.seed)
                runs.append(fit(model, tr, te, cfg, run_dir_for("bench", model, cfg, tr, abl.name),
                                progress=False))
        return time.perf_counter() - t0, [round(100 * r.top1, 2) for r in runs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--kind", choices=("sem", "spa"), default="sem")
    args = ap.parse_args()
    profile.use("quick")
    seeds = range(args.runs)
    print(f"load average before: {os.getloadavg()[0]:.2f}; {args.runs} {args.kind} runs")
    out = {how: way(args.kind, seeds, how) for how in ("2 threads", "1 thread", "parallel")}
    base = out["2 threads"][0]
    for how, (t, top) in out.items():
        print(f"{how:>10s}: {t:6.1f} s  ({base / t:.2f}x the speed of 2 threads)  top-1 {top}")
    print(f"1 thread and parallel give the same top-1 per seed: "
          f"{out['1 thread'][1] == out['parallel'][1]}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
