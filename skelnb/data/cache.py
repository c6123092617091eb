"""Parse a dataset once into a memory-mapped array; training then never re-parses.

A cache is a folder ``out/``::

    out/current.json      {"key": ..., "dir": "v-<key[:16]>-<pid>-<ns>"}  (replaced atomically)
    out/v-.../data.f32    raw float32 (N, C, T, V, M), opened with numpy.memmap
    out/v-.../labels.npy, lengths.npy, meta.json (names, shape, settings, skipped files)

**Atomic.** A build writes into ``out/.tmp-<pid>-<key>/``, renames that folder to a fresh
``v-...`` name (so the rename is atomic and overwrites nothing), then replaces
``current.json`` with ``os.replace``. A kill at any moment leaves ``current.json`` naming the old complete
version (or no cache at all): never a half-written one. Leftover temporary folders of dead
processes are removed by the next build.

**Healthy.** :func:`load_cache` checks that data.f32's size matches meta.json's shape and that
names, labels and lengths count N (:func:`check_health`); a damaged cache raises
:class:`CacheError` ("damaged cache: ...; rebuild with --force"), and the build command
rebuilds it (a damaged cache is never "up to date").

**Keyed.** The key is a SHA-256 of the settings (dataset, :class:`PreprocessConfig`, the
missing-samples list, error policy, format version) and of the sources: every file's
relative path, size and modification time. If any changes the cache is rebuilt; otherwise
:func:`build_ntu_cache` just opens it.

**Parallel.** Files are parsed and preprocessed by a pool of worker processes
(``concurrent.futures``, in chunks; see :func:`start_method`; they die with their parent, see
:func:`die_with_parent`), with a tqdm progress bar; the
parent writes rows into the memory map in file-name order, so the result does not depend on
the number of workers. With ``spawn`` (used in multi-threaded processes such as notebooks),
the calling script needs the usual ``if __name__ == "__main__":`` guard.

Command line (see ``data/README.md``)::

    python -m skelnb.data.cache ntu60  --root data/raw/ntu/nturgb+d_skeletons --out data/cache/ntu60
    python -m skelnb.data.cache ntu120 --root data/raw/ntu/nturgb+d_skeletons --out data/cache/ntu120
    python -m skelnb.data.cache shrec  --root data/raw/shrec17/HandGestureDataset_SHREC2017 --out data/cache/shrec17
    python -m skelnb.data.cache info data/cache/ntu60
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import ntu
from .formats import SkeletonFormatError
from .preprocess import PreprocessConfig, ntu_worker, shrec_worker

CACHE_VERSION = 1
CURRENT = "current.json"
META_KEYS = ("key", "layout", "shape", "names", "settings")


class CacheError(ValueError):
    """A cache folder whose files do not agree with each other (truncated, edited, half-copied).
    The message names the file and ends with how to fix it: rebuild with ``--force`` (re-running
    the build command without ``--force`` rebuilds a damaged cache too)."""

    def __init__(self, where, problem: str):
        self.where, self.problem = str(where), problem
        super().__init__(f"{where}: damaged cache: {problem}; rebuild with --force "
                         "(python -m skelnb.data.cache ... --force)")

    def __reduce__(self):
        return (type(self), (self.where, self.problem))


@dataclass
class Cache:
    """An opened cache: ``data`` (N, C, T, V, M) memmap, ``labels``, ``lengths``, ``names``."""
    path: Path
    data: np.ndarray
    labels: np.ndarray
    lengths: np.ndarray
    names: list[str]
    meta: dict
    rebuilt: bool = False          # True when this call parsed the sources

    def __len__(self):
        return len(self.labels)

    @property
    def key(self) -> str:
        return self.meta["key"]

    @property
    def layout(self) -> str:
        return self.meta["layout"]

    def split(self, benchmark: str) -> tuple[np.ndarray, np.ndarray]:
        """(train, test) indices: an NTU benchmark (``ntu60-xsub`` ...) or ``"shrec"``."""
        if benchmark == "shrec":
            s = np.array(self.meta["split"])
            return np.flatnonzero(s == "train"), np.flatnonzero(s == "test")
        return ntu.split_indices(self.names, benchmark)

    @property
    def centred(self) -> bool:
        """Whether the build centred the sequences (then a Dataset must not centre them again)."""
        return self.meta["settings"].get("config", {}).get("center") is not None

    def labels_for(self, classes: int) -> np.ndarray:
        """SHREC'17: 0-based labels of the 14- or 28-class protocol (NTU: ``labels``)."""
        if "label_28" in self.meta and classes == 28:
            return np.array(self.meta["label_28"], np.int64) - 1
        return self.labels

    def dataset(self, indices=None, labels=None, **kwargs):
        """A :class:`~skelnb.data.dataset.SkeletonDataset` over (a subset of) the cache,
        reading the memmap lazily (``num_frames``, ``augment``, ``stream`` ... pass through).
        ``center`` defaults to None for a centred cache (centre once) and 'first' otherwise."""
        from .dataset import Rows, SkeletonDataset
        labels = self.labels if labels is None else np.asarray(labels)
        data, lengths = self.data, self.lengths
        if indices is not None:
            idx = np.asarray(indices)
            data, labels, lengths = Rows(data, idx), labels[idx], lengths[idx]
        kwargs.setdefault("layout", self.layout)
        kwargs.setdefault("center", None if self.centred else "first")
        return SkeletonDataset(data, labels, lengths=lengths, **kwargs)


# ----------------------------------------------------------------------------- keys
def fingerprint(paths, root) -> list:
    """[relative path, size, mtime_ns] of each source file."""
    root = Path(root)
    out = []
    for p in paths:
        st = os.stat(p)
        out.append([Path(p).relative_to(root).as_posix(), st.st_size, st.st_mtime_ns])
    return out


def cache_key(settings: dict, sources: list) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"version": CACHE_VERSION, "settings": settings}, sort_keys=True).encode())
    for s in sources:
        h.update(json.dumps(s).encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------- open
def _json(path: Path, what: str) -> dict:
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise CacheError(path, f"{what} is missing") from None
    except (OSError, ValueError) as e:
        raise CacheError(path, f"{what} is not readable JSON ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise CacheError(path, f"{what} must be a JSON object, got {type(obj).__name__}")
    return obj


def _int_array(path: Path, n: int, what: str) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CacheError(path, f"{what} is missing") from None
    except (OSError, ValueError, EOFError) as e:
        raise CacheError(path, f"{what} is not a readable .npy file ({type(e).__name__}: {e})") from None
    if a.shape != (n,) or a.dtype.kind not in "iu":
        raise CacheError(path, f"{what} must be {n} integers (N={n} in meta.json), got {a.dtype} {a.shape}")
    return a


def check_health(d: Path, meta: dict, labels: np.ndarray, lengths: np.ndarray) -> None:
    """Raise :class:`CacheError` unless a version folder's files agree: data.f32's size with
    meta.json's shape, and the counts of names, labels, lengths (and per-sample lists) with N;
    lengths within 0..T, labels >= 0."""
    shape = meta["shape"]
    N, T = shape[0], shape[2]
    need = int(np.prod(shape)) * 4
    f = d / "data.f32"
    size = f.stat().st_size if f.is_file() else None
    if N and size != need:
        have = "missing" if size is None else f"{size} bytes"
        raise CacheError(f, f"{have}, but meta.json's shape {tuple(shape)} (float32) needs {need} bytes")
    if not isinstance(meta["names"], list) or len(meta["names"]) != N:
        raise CacheError(d / "meta.json", f"'names' lists {len(meta['names'])} samples, shape says N={N}")
    if len(set(meta["names"])) != N:
        raise CacheError(d / "meta.json", "'names' holds a sample twice")
    for k in ("split", "label_28", "size"):
        if k in meta and (not isinstance(meta[k], list) or len(meta[k]) != N):
            raise CacheError(d / "meta.json", f"{k!r} has {len(meta[k])} entries, shape says N={N}")
    if "split" in meta and not set(meta["split"]) <= {"train", "test"}:
        raise CacheError(d / "meta.json", f"'split' holds {sorted(set(meta['split']) - {'train', 'test'})}, "
                         "expected 'train' or 'test'")
    if N and (lengths.min() < 0 or lengths.max() > T):
        raise CacheError(d / "lengths.npy", f"lengths must lie in 0..T={T}, got {lengths.min()}..{lengths.max()}")
    if N and labels.min() < 0:
        raise CacheError(d / "labels.npy", f"labels must be >= 0, got {labels.min()}")


def load_cache(out, *, mmap: bool = True) -> Cache:
    """Open the current version of the cache in ``out`` (``FileNotFoundError`` if there is none),
    after checking its health (:func:`check_health`; :class:`CacheError` if damaged)."""
    out = Path(out)
    cur_path = out / CURRENT
    if not cur_path.is_file():
        raise FileNotFoundError(f"{out}: no cache here (no {CURRENT}); build one, see data/README.md")
    cur = _json(cur_path, CURRENT)
    if not isinstance(cur.get("dir"), str) or not cur["dir"].startswith("v-") or "/" in cur["dir"]:
        raise CacheError(cur_path, f"'dir' must name a v-... folder of {out}, got {cur.get('dir')!r}")
    d = out / cur["dir"]
    meta = _json(d / "meta.json", "meta.json")
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise CacheError(d / "meta.json", f"keys {missing} are missing")
    if meta["key"] != cur.get("key"):
        raise CacheError(d / "meta.json", f"key {str(meta['key'])[:16]} differs from {CURRENT}'s "
                         f"{str(cur.get('key'))[:16]}")
    shape = meta["shape"]
    if (not isinstance(shape, list) or len(shape) != 5
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in shape)):
        raise CacheError(d / "meta.json", f"shape must be 5 integers >= 0 (N, C, T, V, M), got {shape!r}")
    shape = tuple(shape)
    labels = _int_array(d / "labels.npy", shape[0], "labels.npy")
    lengths = _int_array(d / "lengths.npy", shape[0], "lengths.npy")
    check_health(d, meta, labels, lengths)
    if shape[0] == 0:
        data = np.zeros(shape, np.float32)
    elif mmap:
        data = np.memmap(d / "data.f32", dtype=np.float32, mode="r", shape=shape)
    else:
        data = np.fromfile(d / "data.f32", dtype=np.float32).reshape(shape)
    return Cache(d, data, labels, lengths, meta["names"], meta)


def _current_key(out: Path) -> str | None:
    """The key of the healthy current cache in ``out``; None if there is none or it is damaged
    (the build then rebuilds it)."""
    try:
        return load_cache(out).key
    except (OSError, CacheError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean(out: Path, keep: str | None, versions: bool = True):
    """Remove temporary folders left by dead builders and (``versions``) old versions."""
    for d in out.iterdir():
        if d.name.startswith(".tmp-"):
            try:
                pid = int(d.name.split("-")[1])
            except (IndexError, ValueError):
                pid = -1
            if pid != os.getpid() and not _pid_alive(pid):
                shutil.rmtree(d, ignore_errors=True)
        elif versions and d.is_dir() and d.name.startswith("v-") and d.name != keep:
            shutil.rmtree(d, ignore_errors=True)


def _reuse(out: Path) -> Cache:
    """Open an up-to-date cache (and tidy up after builders that were killed)."""
    try:
        _clean(out, keep=None, versions=False)
    except OSError:          # a read-only cache folder is fine
        pass
    return load_cache(out)


# ----------------------------------------------------------------------------- build
def start_method() -> str:
    """``fork`` (instant) where available and torch is not loaded, as in the command line;
    ``spawn`` (about 0.5 s per pool) once torch is imported (a notebook, a training script):
    forking a process whose OpenMP threads are running is unsafe. (numpy's OpenBLAS threads
    are fork-safe.)"""
    return "fork" if "torch" not in sys.modules and "fork" in mp.get_all_start_methods() else "spawn"


def die_with_parent(parent: int) -> None:
    """Pool initializer: end this worker when ``parent`` dies (a kill -9 of the build leaves no
    worker behind). Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere, and as a second
    guard, a daemon thread that exits once the parent pid changes."""
    import signal
    import threading
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)         # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:                                  # died before prctl took effect
        os._exit(1)

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)
    threading.Thread(target=watch, daemon=True, name="skelnb-parent-watch").start()


def _run_jobs(worker, jobs, workers: int, chunksize: int, progress: bool, desc: str):
    """Yield worker(job) in job order: in-process for one worker, else a process pool."""
    if workers <= 1:
        it = map(worker, jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(start_method()),
                                   initializer=die_with_parent, initargs=(os.getpid(),))
        it = pool.map(worker, jobs, chunksize=chunksize)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, total=len(jobs), desc=desc, unit="file", mininterval=0.5)
    try:
        yield from it
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _build(out: Path, key: str, settings: dict, names: list, labels: list, jobs: list, worker,
           item_shape: tuple, layout: str, extra: dict, workers: int, chunksize: int, progress: bool,
           on_error: str, desc: str) -> Cache:
    out.mkdir(parents=True, exist_ok=True)
    _clean(out, keep=None, versions=False)
    tmp = out / f".tmp-{os.getpid()}-{key[:16]}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        N = len(jobs)
        data_path = tmp / "data.f32"
        row = np.zeros(item_shape, np.float32)
        kept, lengths, skipped, errors, dropped_bodies = [], [], [], [], 0
        t0 = time.perf_counter()
        # rows arrive in file order: append them to one file with plain sequential writes (a
        # memmap written row by row, zero padding left as holes, makes a fragmented file)
        with open(data_path, "wb", buffering=1 << 22) as f:
            for k, res in enumerate(_run_jobs(worker, jobs, workers, chunksize, progress, desc)):
                status = res[0]
                if status == "ok" and not np.isfinite(res[1]).all():        # the last check before the store
                    status, res = "error", ("error", SkeletonFormatError(
                        jobs[k][0], 0, "preprocessing produced NaN or inf (a degenerate body?); not cached"))
                if status == "ok":
                    n = res[1].shape[1]
                    row[:, :n] = res[1]
                    row[:, n:] = 0
                    f.write(memoryview(row).cast("B"))
                    kept.append(k)
                    lengths.append(res[2])
                    dropped_bodies += res[3]
                elif status == "empty":
                    skipped.append({"name": names[k], "reason": res[1]})
                else:
                    if on_error == "raise":
                        raise res[1]
                    errors.append({"name": names[k], "reason": str(res[1])})
            f.flush()
            os.fsync(f.fileno())
        seconds = time.perf_counter() - t0
        np.save(tmp / "labels.npy", np.array([labels[k] for k in kept], np.int64))
        np.save(tmp / "lengths.npy", np.array(lengths, np.int64))
        meta = dict(key=key, version=CACHE_VERSION, layout=layout, settings=settings,
                    shape=[len(kept), *item_shape], names=[names[k] for k in kept],
                    skipped=skipped, errors=errors, dropped_bodies=dropped_bodies, sources=N,
                    build_seconds=round(seconds, 3), workers=workers,
                    **{k: [v[i] for i in kept] for k, v in extra.items()})
        (tmp / "meta.json").write_text(json.dumps(meta))
        final = out / f"v-{key[:16]}-{os.getpid()}-{time.time_ns()}"
        os.replace(tmp, final)              # atomic: a fresh name, so nothing is overwritten
        cur_tmp = out / f".current-{os.getpid()}.json"
        cur_tmp.write_text(json.dumps({"key": key, "dir": final.name}))
        os.replace(cur_tmp, out / CURRENT)   # the switch: old version until here, new after
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _clean(out, keep=final.name)
    cache = load_cache(out)
    cache.rebuilt = True
    if (skipped or errors) and progress:
        print(f"{out}: skipped {len(skipped)} file(s) with no skeleton and {len(errors)} unreadable file(s); "
              f"names in {final / 'meta.json'} ('skipped', 'errors')", file=sys.stderr)
    return cache


def _workers(workers):
    return max(1, os.cpu_count() or 1) if workers in (None, 0) else int(workers)


def build_ntu_cache(root, out, dataset: str = "ntu60", config: PreprocessConfig = PreprocessConfig(), *,
                    missing=None, workers: int | None = None, chunksize: int = 16, progress: bool = True,
                    force: bool = False, on_error: str = "raise", nonfinite: str = "error") -> Cache:
    """Parse the NTU ``*.skeleton`` files under ``root`` that belong to ``dataset``
    (``"ntu60"`` or ``"ntu120"``) into a cache at ``out``, or open it if it is up to date.

    ``missing``: a text file of sample names to leave out (NTU's published list of samples
    with missing skeletons). Files with no body at all are skipped and listed in
    ``meta['skipped']`` (and reported); malformed files raise :class:`SkeletonFormatError`
    (``on_error="skip"`` lists them in ``meta['errors']`` instead). ``workers``: processes
    (default: all cores). ``nonfinite``: see :func:`skelnb.data.ntu.read_skeleton`.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    root, out = Path(root), Path(out)
    files = ntu.list_skeleton_files(root, dataset)
    excluded = sorted(set(ntu.read_name_list(missing))) if missing else []
    ex = set(excluded)
    files = [p for p in files if p.name.split(".")[0] not in ex]
    settings = dict(kind="ntu", dataset=dataset, config=config.as_dict(), missing=excluded,
                    on_error=on_error, nonfinite=nonfinite)
    key = cache_key(settings, fingerprint(files, root))
    if not force and _current_key(out) == key:
        return _reuse(out)
    names = [p.name.split(".")[0] for p in files]
    labels = [ntu.parse_name(n).label for n in names]
    cfg = config.as_dict()
    jobs = [(str(p), cfg, nonfinite) for p in files]
    shape = (3, config.num_frames, 25, config.max_bodies)
    return _build(out, key, settings, names, labels, jobs, ntu_worker, shape, "ntu25",
                  dict(), _workers(workers), chunksize, progress, on_error, f"{dataset} cache")


SHREC_CONFIG = PreprocessConfig(max_bodies=1, num_frames=0, center="first", center_joint=1)


def build_shrec_cache(root, out, config: PreprocessConfig | None = None, *, workers: int | None = None,
                      chunksize: int = 16, progress: bool = True, force: bool = False,
                      check_length: bool = True) -> Cache:
    """Cache SHREC'17 (both official splits; ``Cache.split('shrec')`` gives them back).
    ``labels`` are the 14-class ones, ``Cache.labels_for(28)`` the 28-class ones. With
    ``config.num_frames == 0`` (default) T is the longest ``size_sequence`` of the split files."""
    from . import shrec
    root, out = Path(root), Path(out)
    entries, split = [], []
    for s, e in shrec.read_splits(root).items():       # train, then test; checked not to overlap
        entries += e
        split += [s] * len(e)
    config = config or SHREC_CONFIG
    if config.num_frames == 0:
        config = replace(config, num_frames=max(e.size for e in entries))
    paths = [root / e.relpath for e in entries]
    for p, e in zip(paths, entries):
        if not p.is_file():
            raise SkeletonFormatError(p, 0, "sequence file missing (listed in the split files)")
    split_sources = [root / f for f in shrec.SPLIT_FILES.values()]
    settings = dict(kind="shrec", config=config.as_dict(), check_length=check_length)
    key = cache_key(settings, fingerprint(split_sources + paths, root))
    if not force and _current_key(out) == key:
        return _reuse(out)
    if check_length:
        for p, e in zip(paths, entries):
            n = sum(1 for line in open(p, "rb") if line.strip())
            if n != e.size:
                raise SkeletonFormatError(p, 0, f"{n} frames, but the split file says {e.size} "
                                          "(check_length=False to accept)")
    cfg = config.as_dict()
    jobs = [(str(p), cfg) for p in paths]
    shape = (3, config.num_frames, shrec.NUM_JOINTS, 1)
    extra = dict(split=split, label_28=[e.label_28 for e in entries], size=[e.size for e in entries])
    return _build(out, key, settings, [e.name for e in entries], [e.label(14) for e in entries], jobs,
                  shrec_worker, shape, "shrec22", extra, _workers(workers), chunksize, progress, "raise",
                  "shrec17 cache")


# ----------------------------------------------------------------------------- command line
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m skelnb.data.cache",
                                 description="Build (or check) the memory-mapped cache of a skeleton dataset.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("ntu60", "ntu120", "shrec"):
        p = sub.add_parser(name, help=f"cache {name}")
        p.add_argument("--root", required=True, help="folder of .skeleton files (NTU) or HandGestureDataset_SHREC2017")
        p.add_argument("--out", required=True, help="cache folder, e.g. data/cache/" + name)
        p.add_argument("--frames", type=int, default=None, help="T of the stored tensors (NTU default 300)")
        p.add_argument("--time", choices=("pad", "resample"), default="pad")
        p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
        p.add_argument("--force", action="store_true", help="rebuild even if up to date")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        if name != "shrec":
            p.add_argument("--missing", default=None, help="text file of sample names to leave out "
                           "(NTU's list of samples with missing skeletons)")
            p.add_argument("--align", action="store_true", help="view alignment (spine +y, hips +x)")
            p.add_argument("--center", choices=("first", "mean", "none"), default="first")
            p.add_argument("--on-error", choices=("raise", "skip"), default="raise")
    p = sub.add_parser("info", help="describe a cache")
    p.add_argument("out")
    a = ap.parse_args(argv)
    if a.cmd == "info":
        try:
            c = load_cache(a.out)
        except (CacheError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        print(json.dumps({k: c.meta[k] for k in ("key", "layout", "shape", "settings", "sources",
                                                  "build_seconds", "workers")}, indent=1))
        print(f"skipped: {len(c.meta['skipped'])}, errors: {len(c.meta['errors'])}")
        return 0
    t0 = time.perf_counter()
    try:
        if a.cmd == "shrec":
            cfg = replace(SHREC_CONFIG, num_frames=a.frames or 0, time=a.time)
            c = build_shrec_cache(a.root, a.out, cfg, workers=a.workers, force=a.force, progress=not a.quiet)
        else:
            cfg = PreprocessConfig(num_frames=a.frames or 300, time=a.time, align=a.align,
                                   center=None if a.center == "none" else a.center)
            c = build_ntu_cache(a.root, a.out, a.cmd, cfg, missing=a.missing, workers=a.workers,
                                force=a.force, progress=not a.quiet, on_error=a.on_error)
    except (SkeletonFormatError, CacheError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    state = "built" if c.rebuilt else "up to date, reused"
    print(f"{a.out}: {state}: {len(c)} samples, data {tuple(c.data.shape)} "
          f"({c.data.nbytes / 2**20:.1f} MiB), {len(c.meta['skipped'])} skipped, "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
