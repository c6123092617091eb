"""SEM-Net costs beside the paper's Tables 1 and 2, CPU training time, and inference efficiency.

    .venv/bin/python benchmarks/sem_table.py            # all Table 1/2 rows (~2-3 min on 2 cores)
    .venv/bin/python benchmarks/sem_table.py --quick    # default + unified only, shorter timings

Params / GMACs: counted on the meta device (skelnb.flops.count_macs = FlopCounterMode FLOPs / 2),
per 2-person sample at the model's num_frames (128); the paper's "GFLOPs" are multiply-adds.
Train ms/sample: forward + backward (cross-entropy) on a random batch, median over iterations
(and the best iteration: the machine is shared, single iterations can be several times slower).
Efficiency: the default model in inference at T=64, batch 16, 2 threads -- achieved FLOP/s
(2 x multiply-adds / s) over this machine's fp32 matmul FLOP/s measured in the same run.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from skelnb.flops import count_macs, count_params, inference_time, matmul_flops_per_s, train_step_time
from skelnb.paper import PAPER_TABLE1, PAPER_TABLE2
from skelnb.sem import MODES, TABLE2, SEMNet


def measure(model: SEMNet, batch: int, frames: int, iters: int):
    x = torch.randn(1, 3, model.num_frames, model.num_joints, 2)
    params, macs = count_params(model), count_macs(model, x)
    t = train_step_time(model, torch.randn(batch, 3, frames, model.num_joints, 2), model.config.num_classes,
                        iters=iters, warmup=1, stat=None)
    return params, macs, statistics.median(t) / batch, min(t) / batch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="default + unified only, fewer/shorter timings")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=2, help="batch for the training-time column")
    ap.add_argument("--frames", type=int, default=None, help="T for the training-time column (default: num_frames)")
    ap.add_argument("--iters", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    frames = args.frames or (64 if args.quick else SEMNet().num_frames)
    iters = 2 if args.quick else args.iters
    modes = ("unified", "cross-frame+GR") if args.quick else MODES
    rows2 = ("d=(1,3,5,7)",) if args.quick else tuple(TABLE2)
    print(f"SEM-Net, NTU-60 default (T={SEMNet().num_frames}, 2 persons); torch {torch.__version__}, "
          f"{args.threads} threads; train time: batch {args.batch}, T={frames}, median of {iters}\n")

    cache = {}

    def get(mode, tff):
        if (mode, tff) not in cache:
            cache[mode, tff] = measure(SEMNet.variant(mode, tff), args.batch, frames, iters)
        return cache[mode, tff]

    print("Table 1 (feed-forward d=(1,3,5,7))")
    print(f"{'attention':<16}{'params':>9}{'GMACs':>8}{'paper GFLOPs':>14}{'ratio':>7}"
          f"{'paper CS/CV %':>15}{'train ms/sample':>17}{'best':>6}")
    base = get("cross-frame+GR", "d=(1,3,5,7)")[1]
    for mode in modes:
        p, m, t, tb = get(mode, "d=(1,3,5,7)")
        ref = PAPER_TABLE1[mode]
        ratio = f"{m / base:.2f}x"
        print(f"{mode:<16}{p / 1e6:>8.2f}M{m / 1e9:>8.2f}{ref['gflops']:>14.1f}{ratio:>7}"
              f"{ref['cs']:>8.1f}/{ref['cv']:.1f}{t * 1e3:>17.0f}{tb * 1e3:>6.0f}")
    paper_ratio = PAPER_TABLE1["unified"]["gflops"] / PAPER_TABLE1["cross-frame"]["gflops"]
    print(f"(ratio = GMACs / cross-frame+GR's; the paper's unified / cross-frame = {paper_ratio:.2f}x)\n")

    print("Table 2 (attention cross-frame+GR)")
    print(f"{'feed-forward':<16}{'params':>9}{'paper':>8}{'GMACs':>8}{'paper GFLOPs':>14}"
          f"{'paper CS/CV %':>15}{'train ms/sample':>17}{'best':>6}")
    for row in rows2:
        p, m, t, tb = get("cross-frame+GR", row)
        ref = PAPER_TABLE2[row]
        print(f"{row:<16}{p / 1e6:>8.2f}M{ref['mparams']:>7.1f}M{m / 1e9:>8.2f}{ref['gflops']:>14.1f}"
              f"{ref['cs']:>8.1f}/{ref['cv']:.1f}{t * 1e3:>17.0f}{tb * 1e3:>6.0f}")

    # ---- inference efficiency of the default model: T=64, batch 16, 2 threads.
    # The machine is shared, so the matmul rate and the model are measured in alternating rounds;
    # the best round of each (least disturbed) gives the ratio, the median per-round ratio is shown too.
    torch.set_num_threads(2)
    model = SEMNet().eval()
    x = torch.randn(16, 3, 64, 25, 2)
    macs = count_macs(model, x)
    inference_time(model, x, iters=1, warmup=1)
    peaks, times = [], []
    for _ in range(3 if args.quick else 6):
        peaks.append(matmul_flops_per_s(2048, seconds=0.3, threads=2))
        times.append(inference_time(model, x, iters=1, warmup=0))
    ratios = sorted(2 * macs / t / p for p, t in zip(peaks, times))
    peak, t = max(peaks), min(times)
    achieved = 2 * macs / t
    print(f"\nInference, default model, T=64, batch 16, 2 threads: {macs / 16 / 1e9:.2f} GMACs/sample, "
          f"{t * 1e3:.0f} ms/batch = {16 / t:.1f} samples/s (best of {len(times)})")
    print(f"achieved {achieved / 1e9:.1f} GFLOP/s (2 x MACs / s) vs fp32 matmul (2048^3, 2 threads) "
          f"{peak / 1e9:.1f} GFLOP/s -> {100 * achieved / peak:.0f} % (median per-round ratio "
          f"{100 * ratios[len(ratios) // 2]:.0f} %; reference: CTR-GCN about 64 %, 35 samples/s)")

if __name__ == "__main__":
    main()
