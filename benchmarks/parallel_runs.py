"""Two training runs at a time, or one after the other? (A benchmark script, not a test.)

    .venv/bin/python benchmarks/parallel_runs.py [--runs 2] [--kind sem|spa] [--main]

Trains ``--runs`` real chapter runs (SEM-Net's Table 1 row ``cross-frame+GR`` or SPA-4D's
Table 5 row (32, 3) in the ablation settings; with ``--main`` the full SEM-joint or SPA-4D
stream), seeds 0, 1, ..., three ways, each into fresh temporary run folders:

1. one after the other with 2 torch threads;
2. one after the other with 1 thread;
3. two spawned worker processes at once, one thread each (what ``recipes.in_parallel`` does).

Prints the wall time of each and its speed relative to way 1; ways 2 and 3 must give the same
test top-1 per seed (one thread, the same seed, the same weights). ``recipes.train_threads``
is chosen from these figures. Run it on a quiet machine; the load average is printed.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import torch

from skelnb import profile, recipes
from skelnb.experiments import sem_ablation, spa_ablation, streams
from skelnb.train import fit, run_dir_for


def train_one(kind: str, main: bool, seed: int, threads: int, root: str) -> float:
    """Test top-1 of one run trained on ``threads`` threads under ``root``."""
    prof = profile.use("quick")
    torch.set_num_threads(threads)
    if main:
        _, model, (tr, te), cfg = streams._parts("SEM-joint" if kind == "sem" else "SPA-4D", seed,
                                                 prof, streams.DEFAULT_DIFFICULTY, {})
        settings = prof
    elif kind == "sem":
        settings, model, (tr, te), cfg = sem_ablation._parts("cross-frame+GR", prof, seed)
    else:
        settings, model, (tr, te), cfg = spa_ablation._parts(32, 3, seed, prof)
    os.environ["SKELNB_RUNS"] = root
    torch.manual_seed(cfg.seed)
    run = run_dir_for("bench", model, cfg, tr, settings.name)
    return round(100 * fit(model, tr, te, cfg, run, progress=False).top1, 2)


def way(kind: str, main: bool, seeds, how: str) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory(prefix="skelnb-bench-") as root:
        recipes.synthetic_data(profile.use("quick"))                # generated before the clock
        t0 = time.perf_counter()
        if how == "parallel":
            with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(train_one, kind, main, s, 1, root) for s in seeds]
                top = [f.result() for f in futures]
        else:
            top = [train_one(kind, main, s, 2 if how == "2 threads" else 1, root) for s in seeds]
        return time.perf_counter() - t0, top


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--kind", choices=("sem", "spa"), default="sem")
    ap.add_argument("--main", action="store_true", help="the full stream, not the ablation row")
    args = ap.parse_args()
    seeds = range(args.runs)
    print(f"load average before: {os.getloadavg()[0]:.2f}; {args.runs} {args.kind} runs"
          + (" (main streams)" if args.main else " (ablation rows)"))
    out = {how: way(args.kind, args.main, seeds, how) for how in ("2 threads", "1 thread", "parallel")}
    base = out["2 threads"][0]
    for how, (t, top) in out.items():
        print(f"{how:>10s}: {t:6.1f} s  ({base / t:.2f}x the speed of 2 threads)  top-1 {top}")
    print(f"1 thread and parallel give the same top-1 per seed: "
          f"{out['1 thread'][1] == out['parallel'][1]}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
