"""Colab: install skelnb and the spconv wheel that matches Colab's Python and CUDA.

Every chapter's first code cell runs only in Colab::

    import sys
    if "google.colab" in sys.modules:  # Colab only: install skelnb + the matching spconv wheel
        %pip install -q "skelnb @ git+https://github.com/skelnb/skelnb"
        import skelnb.colab; skelnb.colab.setup()

``setup()`` keeps Colab's own torch, picks the spconv wheel with :func:`spconv_requirement`
and switches the profile to ``full`` when a GPU is present.
"""
from __future__ import annotations

import subprocess
import sys

REPO = "https://github.com/skelnb/skelnb"
BRANCH = "main"

# spconv wheels on PyPI: (package, version, CUDA version it was built for, Pythons with wheels)
SPCONV_WHEELS = (
    ("spconv-cu126", "2.3.8", (12, 6), ((3, 11), (3, 12), (3, 13))),
    ("spconv-cu124", "2.3.8", (12, 4), ((3, 11), (3, 12), (3, 13))),
    ("spconv-cu121", "2.3.8", (12, 1), ((3, 11), (3, 12), (3, 13))),
    ("spconv-cu120", "2.3.6", (12, 0), ((3, 8), (3, 9), (3, 10), (3, 11))),
)
SPCONV_CPU = ("spconv", "2.3.8", ((3, 11), (3, 12), (3, 13)))


def _version(v) -> tuple[int, ...]:
    if isinstance(v, str):
        return tuple(int(p) for p in v.split(".")[:2])
    return tuple(v)[:2]


def spconv_requirement(python, cuda) -> str:
    """The pip requirement of the spconv wheel for a Python version and torch's CUDA version.

    ``python``: ``(3, 12)`` or ``"3.12"``; ``cuda``: torch's CUDA version (``torch.version.cuda``,
    e.g. ``"12.4"``) or ``None`` for a CPU-only torch. Picks the newest wheel built for a CUDA
    version not newer than torch's (a newer driver runs older CUDA builds), among those with a
    wheel for this Python. Raises ``RuntimeError`` naming the case when no wheel exists.
    """
    py = _version(python)
    if cuda is None:
        name, ver, pys = SPCONV_CPU
        if py in pys:
            return f"{name}=={ver}"
        raise RuntimeError(f"no CPU spconv wheel for Python {py[0]}.{py[1]} (wheels: 3.11-3.13)")
    cu = _version(cuda)
    for name, ver, built, pys in SPCONV_WHEELS:
        if built <= cu and py in pys:
            return f"{name}=={ver}"
    raise RuntimeError(f"no spconv wheel for Python {py[0]}.{py[1]} with CUDA {cu[0]}.{cu[1]}: "
                       f"spconv 2.3.x wheels need CUDA >= 12.0 (cu120 for Python <= 3.11, "
                       f"cu121/cu124/cu126 for 3.11-3.13); the reference sparse convolution "
                       f"in skelnb.spa works without spconv")


def in_colab() -> bool:
    return "google.colab" in sys.modules


def setup(install: bool = True) -> str:
    """Install the matching spconv wheel (keeping Colab's torch) and pick the profile.

    Returns the spconv requirement installed. The profile becomes ``full`` when torch sees a
    GPU, else stays ``quick``.
    """
    import torch

    from . import profile

    req = spconv_requirement(sys.version_info[:2], torch.version.cuda)
    if install:
        # --no-deps would skip cumm; plain install keeps torch because spconv does not pin it
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", req])
    profile.use("full" if torch.cuda.is_available() else "quick")
    print(f"skelnb: installed {req}; profile {profile.current().name!r}")
    return req


def badge_url(notebook_path: str) -> str:
    """The 'Open in Colab' link of a chapter (path relative to the repository root)."""
    return f"https://colab.research.google.com/github/{REPO.split('github.com/')[1]}/blob/{BRANCH}/{notebook_path}"
