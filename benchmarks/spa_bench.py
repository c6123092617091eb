"""SPA-Net costs and CPU speed: SPA-3+1D and SPA-4D, quick and default size, spconv vs the reference.

    .venv/bin/python benchmarks/spa_bench.py                 # batch 2, 1 thread (under a minute on one idle core)
    .venv/bin/python benchmarks/spa_bench.py --batch 4 --iters 5
    .venv/bin/python benchmarks/spa_bench.py --device cuda    # the same table on a GPU (spconv's CUDA path)
    .venv/bin/python benchmarks/spa_bench.py --layers         # + every sparse layer of the default nets, both ways

For every model: parameters; multiply-adds actually spent on the active sites (rulebook pairs x
C_in x C_out, :func:`skelnb.spa.sparse_costs`) against the same layers run densely on the full
grid; activation memory (every layer's output features, float32) against dense grids of the
same size; CPU time of one forward + backward (cross-entropy) per sample with spconv and with
the plain-PyTorch reference, and the spconv time of the sparse-conv layers alone (replayed on
their recorded inputs, rulebooks included). Inputs: synthetic NTU-25 sequences through the
shared Dataset (centred, resampled to the model's num_frames), as in training.

Targets (from the issue), checked side by side in one run:
  1. spconv >= 10x faster than the reference at default size;
  2. active-site features >= 100x smaller than a dense grid of the same size;
  3. SPA-4D forward + backward <= 2x its sparse-conv layers alone (spconv, default size).
"""
from __future__ import annotations

import argparse
import statistics

import torch

from skelnb.data.dataset import from_skeleton_set
from skelnb.data.synthetic import SyntheticConfig, generate
from skelnb.flops import count_params, time_calls
from skelnb.spa import SPANet, SparseConv, SparseTensor, sparse_costs, spconv_available
from skelnb.spa.sparse import sparse_layers


def batch_for(model: SPANet, n: int, sset) -> tuple[torch.Tensor, torch.Tensor]:
    ds = from_skeleton_set(sset, num_frames=model.num_frames)
    idx = torch.linspace(0, len(ds) - 1, n).long().tolist()          # spread over classes (1 and 2 persons)
    xs, ys = zip(*(ds[i] for i in idx))
    return torch.stack(xs), torch.tensor(ys) % model.config.num_classes


def train_step(model, x, y):
    model.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()


def layer_inputs(model: SPANet, x) -> list[tuple]:
    """(name, layer, input SparseTensor) of every sparse layer (convs and pools), in the order one
    training-mode forward pass of ``x`` calls them."""
    recorded = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: recorded.append((n, mod, inp[0])))
             for n, m in sparse_layers(model)]
    with torch.no_grad():
        model.train()(x)
    for h in hooks:
        h.remove()
    return recorded


def conv_layers_alone(model: SPANet, x) -> callable:
    """A function that runs only the model's SparseConv layers (forward + backward) on the inputs they
    saw in one forward pass; layers on the same sites share one fresh rulebook cache, as in the net."""
    recorded = [(mod, inp) for _, mod, inp in layer_inputs(model, x) if isinstance(mod, SparseConv)]

    def run():
        caches = {}
        total = 0
        for mod, inp in recorded:
            cache = caches.setdefault(id(inp.cache), {})
            f = inp.features.detach().requires_grad_(True)
            out = mod(SparseTensor(f, inp.coords, inp.spatial_shape, inp.batch_size, cache=cache, check=False))
            total = total + out.features.sum()
        model.zero_grad(set_to_none=True)
        total.backward()
    return run


def layer_times(model: SPANet, x, iters: int, synced) -> list[tuple]:
    """(name, layer, active input sites, spconv s, reference s) for every sparse layer of the model:
    each layer forward + backward alone on the input it saw in the net, building its own rulebook
    (fastest of ``iters`` after one warm-up): where the two backends differ, and where they cannot."""
    rows = []
    for name, mod, inp in layer_inputs(model, x):
        keep, t = mod.backend, {}
        for backend in ("spconv", "reference"):
            mod.backend = backend

            def run():
                f = inp.features.detach().requires_grad_(True)
                out = mod(SparseTensor(f, inp.coords, inp.spatial_shape, inp.batch_size, cache={}, check=False))
                out.features.sum().backward()
            t[backend] = min(time_calls(synced(run), iters, 1))
        mod.backend = keep
        rows.append((name, mod, inp.num_active, t["spconv"], t["reference"]))
    model.zero_grad(set_to_none=True)
    return rows


def fmt_bytes(b: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if b < 1024:
            return f"{b:.1f} {unit}"
        b /= 1024
    return f"{b:.1f} PB"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=2, help="samples per timed step")
    ap.add_argument("--iters", type=int, default=3, help="timed iterations (median reported), after 1 warm-up")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cpu (default, as the issue's targets) or cuda")
    ap.add_argument("--layers", action="store_true", help="also time every sparse layer of the default nets")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no CUDA GPU")

    def synced(fn):  # CUDA runs asynchronously: a timed call ends when the GPU is done
        if dev.type != "cuda":
            return fn
        return lambda: (fn(), torch.cuda.synchronize())
    torch.manual_seed(0)
    if not spconv_available():
        print("spconv is not installed: only the reference can be timed")
    sset = generate(SyntheticConfig(subjects=(1, 2)))
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {args.threads} thread(s)"
    print(f"SPA-Net benchmark: {where}, batch {args.batch}, median of {args.iters} "
          f"(after 1 warm-up); torch {torch.__version__}")

    rows = []
    for size in ("quick", "default"):
        for kind in ("3+1d", "4d"):
            model = SPANet.quick(kind) if size == "quick" else SPANet(kind=kind)
            x, y = batch_for(model, args.batch, sset)
            model, x, y = model.to(dev), x.to(dev), y.to(dev)
            cfg = model.config
            costs = sparse_costs(model, x).per_sample()
            t_vox = statistics.median(time_calls(synced(lambda: model.voxelize(x)), 3, 1))
            st = model.voxelize(x)
            r = dict(size=size, kind=kind, space=cfg.space, kernel=cfg.kernel, frames=model.num_frames,
                     widths=cfg.widths, params=count_params(model), sites=st.num_active / args.batch, vox=t_vox,
                     **costs)
            for backend in ("spconv", "reference"):
                if backend == "spconv" and not spconv_available():
                    continue
                model.set_backend(backend)
                step = synced(lambda: train_step(model, x, y))
                r[backend] = statistics.median(time_calls(step, args.iters, 1)) / args.batch
            if spconv_available():
                model.set_backend("spconv")
                convs = synced(conv_layers_alone(model, x))
                r["conv_only"] = statistics.median(time_calls(convs, args.iters, 1)) / args.batch
            if args.layers and size == "default" and spconv_available():
                r["layers"] = layer_times(model, x, args.iters, synced)
                model.set_backend("spconv")
            rows.append(r)
            print(f"  measured {size} SPA-{kind.upper()}", flush=True)

    print()
    hdr = (f"{'model':<22}{'s':>4}{'k':>3}{'T':>4} {'widths':<18}{'params':>8}{'sites':>7}{'MMACs':>9}"
           f"{'dense GMACs':>12}{'feat mem':>10}{'dense mem':>11}{'mem x':>9}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['size'] + ' SPA-' + r['kind'].upper():<22}{r['space']:>4}{r['kernel']:>3}{r['frames']:>4} "
              f"{str(r['widths']):<18}{r['params'] / 1e6:>7.2f}M{r['sites']:>7.0f}{r['macs'] / 1e6:>9.1f}"
              f"{r['dense_macs'] / 1e9:>12.0f}{fmt_bytes(r['feature_bytes']):>10}{fmt_bytes(r['dense_bytes']):>11}"
              f"{r['dense_bytes'] / r['feature_bytes']:>9.0f}")
    print("(per sample; MACs/memory over every sparse conv and per-site linear layer; dense = the same layers "
          "on the full s^3 x T grids)")
    print()
    hdr = (f"{'model':<22}{'voxelize':>10}{'spconv':>10}{'reference':>11}{'ref/spconv':>11}{'convs only':>11}"
           f"{'whole/convs':>12}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        sp, ref, co = r.get("spconv"), r["reference"], r.get("conv_only")
        print(f"{r['size'] + ' SPA-' + r['kind'].upper():<22}{1e3 * r['vox'] / args.batch:>8.2f}ms"
              f"{1e3 * sp if sp else float('nan'):>8.1f}ms{1e3 * ref:>9.1f}ms"
              f"{ref / sp if sp else float('nan'):>10.1f}x{1e3 * co if co else float('nan'):>9.1f}ms"
              f"{sp / co if co else float('nan'):>11.2f}x")
    print(f"({dev.type.upper()} ms per sample, forward + backward; 'convs only': spconv, the SparseConv layers "
          f"replayed alone)")

    for r in rows:
        if "layers" not in r:
            continue
        print(f"\ndefault SPA-{r['kind'].upper()}, layer by layer "
              "(ms for the batch, forward + backward, own rulebook):")
        print(f"{'layer':<32}{'sites':>7}  {'kernel':<14}{'C_in->C_out':>12}"
              f"{'spconv':>9}{'reference':>10}{'ref/sp':>8}")
        for name, mod, sites, sp, ref in r["layers"]:
            chans = f"{mod.in_channels}->{mod.out_channels}" if hasattr(mod, "in_channels") else "pool"
            print(f"{name:<32}{sites:>7}  {'x'.join(map(str, mod.kernel_size)):<14}{chans:>12}"
                  f"{1e3 * sp:>9.2f}{1e3 * ref:>10.2f}{ref / sp:>7.1f}x")

    print("\nTargets:")
    default = [r for r in rows if r["size"] == "default"]
    ok1 = all(r.get("spconv") and r["reference"] / r["spconv"] >= 10 for r in default)
    ratios = ", ".join(f"SPA-{r['kind'].upper()} {r['reference'] / r['spconv']:.1f}x"
                       for r in default if r.get("spconv"))
    print(f"  [{'met' if ok1 else 'NOT met'}] spconv >= 10x faster than the reference at default size ({ratios})")
    mem = min(r["dense_bytes"] / r["feature_bytes"] for r in rows)
    print(f"  [{'met' if mem >= 100 else 'NOT met'}] >= 100x less memory than a dense grid (smallest ratio {mem:.0f}x)")
    r4 = next(r for r in default if r["kind"] == "4d")
    if r4.get("conv_only"):
        q = r4["spconv"] / r4["conv_only"]
        print(f"  [{'met' if q <= 2 else 'NOT met'}] SPA-4D forward+backward <= 2x its sparse-conv layers alone "
              f"({q:.2f}x)")


if __name__ == "__main__":
    main()
