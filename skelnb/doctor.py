"""``python -m skelnb doctor``: what this machine runs, checked in one command.

It prints the versions (Python, torch, CUDA, GPU, spconv) and which sparse backend SPA-Net will
use, then

* on a GPU: checks spconv against the plain-PyTorch reference on that GPU (outputs and
  gradients of a whole SPA-Net, both nets), runs one mixed-precision (AMP) training step of
  every model at paper size on a batch of 32 and prints samples/s and peak GPU memory;
* on a CPU: the same spconv check on the CPU (if spconv imports), one training step of every
  model at quick size, and a list of what it skipped.

Exit status 0 if every check passed, 1 if one failed.
"""
from __future__ import annotations

import platform
import resource
import sys
import time
from dataclasses import dataclass

import torch

MODELS = ("sem-joint", "spa-3+1d", "spa-4d")
TOL = {"cpu": 1e-3, "cuda": 1e-2}       # relative: max |difference| / max |reference|


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def _version(mod: str) -> str:
    if mod == "skelnb":
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("skelnb")
        except PackageNotFoundError:
            return "not installed (run from a source tree)"
    try:
        m = __import__(mod)
        return getattr(m, "__version__", "installed")
    except Exception as e:  # noqa: BLE001 -- report any import failure
        return f"not importable ({type(e).__name__}: {e})"


def environment(dev: torch.device) -> list[tuple[str, str]]:
    """(label, value) lines: versions, device, sparse backend."""
    from .spa.sparse import resolve_backend, spconv_available, spconv_problem
    rows = [("python", platform.python_version()), ("skelnb", _version("skelnb")), ("torch", torch.__version__),
            ("CUDA (torch built for)", str(torch.version.cuda)),
            ("CUDA available", str(torch.cuda.is_available()))]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            rows.append((f"GPU {i}", f"{p.name}, {p.total_memory / 2**30:.1f} GiB, compute capability "
                                     f"{p.major}.{p.minor}"))
        rows.append(("cuDNN", str(torch.backends.cudnn.version())))
    else:
        rows.append(("GPU", "none seen by torch"))
    rows.append(("spconv", _version("spconv")))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        be = resolve_backend("auto", subm=True, kernel_size=(5, 5, 5, 5), ndim=4, device=dev)
        even = resolve_backend("auto", subm=True, kernel_size=(6, 6, 6, 6), ndim=4, device=dev)
    why = spconv_problem(dev) if spconv_available() else None     # spconv's test convolution on dev
    rows.append(("sparse backend (auto)", f"{be}" + ("" if spconv_available() else
                                                      " (spconv not importable: the plain-PyTorch reference)")
                 + (f" ({why})" if why else "")
                 + (f"; even kernels (Table 5, k=6): {even}" if even != be else "")))
    rows.append(("device used here", str(dev)))
    return rows


def _skeleton_batch(n: int, num_frames: int, static: bool = False):
    """``n`` synthetic skeleton sequences (N, 3, T, 25, 2) and labels: real body structure, so
    SPA-Net meets the sparsity of real data."""
    from .data.dataset import from_skeleton_set
    from .data.synthetic import SyntheticConfig, generate
    sset = generate(SyntheticConfig(subjects=(1,)))
    ds = from_skeleton_set(sset, range(min(n, len(sset.labels))), num_frames=num_frames)
    xs, ys = zip(*(ds[i % len(ds)] for i in range(n)))
    x, y = torch.stack(xs), torch.as_tensor(ys)
    if static:                          # still frames: sparse max-pooling meets exact ties
        x[:, :, 1: num_frames // 2] = x[:, :, :1]
    return x, y


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def spconv_check(dev: torch.device, kind: str) -> Check:
    """Outputs and parameter gradients of one SPA-Net on spconv vs the reference, on ``dev``."""
    from .spa.net import SPANet
    from .spa.sparse import SparseTensor
    torch.manual_seed(0)
    net = SPANet.quick(kind, num_classes=8, space=16, kernel=3, widths=(8, 16), num_frames=16,
                       backend="reference").to(dev).train()
    x, _ = _skeleton_batch(3, 16, static=True)
    st = net.voxelize(x.to(dev))
    outs, grads = [], []
    for backend in ("reference", "spconv"):
        net.set_backend(backend).zero_grad()
        out = net(SparseTensor(st.features, st.coords, st.spatial_shape, st.batch_size))
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None]))
    d_out, d_grad = _rel(outs[1], outs[0]), _rel(grads[1], grads[0])
    tol = TOL[dev.type]
    return Check(f"spconv vs reference, SPA-{kind.upper()} ({dev.type})", d_out <= tol and d_grad <= tol,
                 f"outputs differ by {d_out:.1e}, gradients by {d_grad:.1e} (relative to the largest; "
                 f"tolerance {tol:.0e}), {st.features.shape[0]} active sites")


def build(name: str, paper: bool, num_frames: int, num_classes: int = 60) -> torch.nn.Module:
    """One of :data:`MODELS` at paper size (the configs' defaults) or quick size (the book's CPU models)."""
    from .sem.net import SEMNet
    from .spa.net import SPANet
    torch.manual_seed(0)
    if name == "sem-joint":
        return (SEMNet(num_classes=num_classes, num_frames=num_frames) if paper else
                SEMNet.quick(num_classes, width=24, depth=4, num_frames=num_frames))
    kind = name.split("-", 1)[1]
    return (SPANet(kind=kind, num_classes=num_classes, num_frames=num_frames) if paper else
            SPANet.quick(kind, num_classes=num_classes, num_frames=num_frames))


def step_check(name: str, dev: torch.device, paper: bool, batch: int, num_frames: int) -> Check:
    """One training step (AMP on CUDA) after one warm-up step: samples/s and peak memory."""
    from .flops import count_params
    from .train import TrainConfig, step_times
    x, y = _skeleton_batch(batch, num_frames)
    cfg = TrainConfig(amp=True, lr=0.01)
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    try:
        model = build(name, paper, num_frames)
        t0 = time.perf_counter()
        times = step_times(model, [(x, y)], cfg, device=str(dev), warmup=1)
        wall = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 -- a failed step is the finding
        return Check(f"train step {name}", False, f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
    finite = all(torch.isfinite(p).all() for p in model.parameters())
    if dev.type == "cuda":
        mem = f"peak GPU memory {torch.cuda.max_memory_allocated(dev) / 2**30:.2f} GiB"
    else:
        mem = f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
    amp = "AMP fp16" if dev.type == "cuda" else "fp32 (AMP is CUDA-only)"
    return Check(f"train step {name}", finite,
                 f"{'paper' if paper else 'quick'} size, {count_params(model) / 1e6:.2f} M parameters, "
                 f"batch {batch} x {num_frames} frames, {amp}: {times[0]:.3f} s/step = "
                 f"{batch / times[0]:.1f} samples/s, {mem} (with warm-up {wall:.1f} s)"
                 + ("" if finite else "; NON-FINITE weights after the step"))


def run_doctor(device: str | None = None, out=print) -> int:
    """Print the report; 0 if every check passed, else 1."""
    from .spa.sparse import spconv_available
    from .train import device_of
    dev = device_of(device)
    gpu = dev.type == "cuda"
    out("skelnb doctor")
    rows = environment(dev)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        out(f"  {k:<{width}}  {v}")
    checks: list[Check] = []
    skipped: list[str] = []
    if spconv_available():
        for kind in ("3+1d", "4d"):
            checks.append(spconv_check(dev, kind))
    else:
        skipped.append("spconv vs reference (spconv is not importable; SPA-Net runs on the reference)")
    if gpu:
        for name in MODELS:
            checks.append(step_check(name, dev, paper=True, batch=32, num_frames=128))
    else:
        for name in MODELS:
            checks.append(step_check(name, dev, paper=False, batch=8, num_frames=32))
        skipped += ["spconv vs reference on a GPU (no CUDA device here)",
                    "mixed-precision (AMP) training steps at paper size, batch 32 x 128 frames (needs a GPU)",
                    "peak GPU memory per model (needs a GPU)"]
    out("checks")
    for c in checks:
        out(f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.detail}")
    if skipped:
        out("skipped here")
        for s in skipped:
            out(f"  - {s}")
    bad = [c for c in checks if not c.ok]
    out(f"{len(checks) - len(bad)} of {len(checks)} checks passed" + (f"; FAILED: {', '.join(c.name for c in bad)}"
                                                                      if bad else ""))
    sys.stdout.flush()
    return 1 if bad else 0
