"""Two runs at once on one thread each, or one run on two threads? (A benchmark, not a test.)

    .venv/bin/python benchmarks/parallel_runs.py [--steps 30] [--models sem spa]

The chapters train many small runs on a 2-core CPU (``skelnb.recipes.in_parallel``). For the
quick SEM-Net and SPA-Net this times training steps (forward, loss, backward, SGD) on batches of
the quick profile, in one run:

* one process with 2 torch threads doing ``2 * steps`` steps;
* two processes with 1 thread each doing ``steps`` steps at the same time (a barrier starts
  them together; the wall time is from the barrier to the later one's end).

and prints the throughput ratio (two processes / one). Above 1, two runs at once finish a list
of runs sooner. The machine may be shared: the load average is printed, and the two settings
alternate ``--repeats`` times so that a burst of load hits both.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time


def _steps(model_name: str, threads: int, steps: int, barrier=None, out=None) -> float:
    import torch

    from skelnb import recipes
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = recipes.sem_model() if model_name == "sem" else recipes.spa_model(kind="4d")
    train_set, _ = recipes.synthetic_datasets()
    batch = recipes.train_config().batch_size
    x = torch.stack([train_set[i][0] for i in range(batch)])           # (N, C, T, V, M)
    y = torch.tensor([int(train_set[i][1]) for i in range(batch)])
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(2):                                                  # warm-up
        step()
    if barrier is not None:
        barrier.wait()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    t1 = time.perf_counter()
    if out is not None:
        out.put((t0, t1))
    return t1 - t0


def two_at_once(model_name: str, steps: int) -> float:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_steps, args=(model_name, 1, steps, barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    spans = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return max(t1 for _, t1 in spans) - min(t0 for t0, _ in spans)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=["sem", "spa"], choices=["sem", "spa"])
    a = ap.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")
    for m in a.models:
        ratios = []
        for _ in range(a.repeats):
            one = _steps(m, 2, 2 * a.steps)
            two = two_at_once(m, a.steps)
            ratios.append(one / two)
            print(f"  {m}: one process x 2 threads {2 * a.steps / one:6.1f} steps/s, "
                  f"two x 1 thread {2 * a.steps / two:6.1f} steps/s  -> ratio {one / two:.2f}")
        print(f"{m}: two runs at once give {statistics.median(ratios):.2f}x the throughput of one run "
              f"on two threads (median of {a.repeats})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
