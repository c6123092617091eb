"""One switch for every chapter: ``quick`` (CPU, small models, small synthetic set, minutes for
the whole book), ``colab`` (a GPU such as Colab's free T4: paper-size SEM-Net, the small SPA-Net,
a larger synthetic set, 10 epochs: minutes per chapter) or ``full`` (GPU, paper-size models,
60 epochs, real data where a chapter reads it: hours).

Set it with the environment variable ``SKELNB_PROFILE=quick|colab|full`` (default ``quick``) or
``skelnb.profile.use("full")``; in Colab, ``skelnb.colab.setup()`` switches to ``colab`` when a
GPU is present, and ``full`` is only ever chosen explicitly. Chapters read everything
size-related from ``current()``, so the same code runs in every profile.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

ENV = "SKELNB_PROFILE"


@dataclass(frozen=True)
class Profile:
    name: str
    device: str
    subjects: tuple[int, ...]     # synthetic subjects generated
    num_frames: int               # frames per training sample
    epochs: int                   # epochs for the chapters' training runs
    batch_size: int
    threads: int | None           # torch CPU threads (None, or $OMP_NUM_THREADS set: torch's default)
    paper_sem: bool = False       # paper-size SEM-Net (else SEMNet.quick)
    paper_spa: bool = False       # paper-size SPA-Net (else SPANet.quick)
    real_data: bool = False       # chapter 2 reads data/raw ($SKELNB_DATA) where it exists
    seeds: tuple[int, ...] = (0, 1, 2)   # seeds of every row a chapter compares

    @property
    def quick(self) -> bool:
        return self.name == "quick"


PROFILES = {
    # 900 training clips x 10 epochs of batch 16: about a minute per run on 2 CPU cores
    "quick": Profile("quick", "cpu", tuple(range(1, 11)), 32, 10, 16, 2),
    # Sized for a free Colab T4: paper-size SEM-Net (3.7 GMACs a sample at 64 frames) is cheap
    # on 1092 training samples; paper-size SPA-Net (4D kernels of 5^4) is not, so it stays small.
    "colab": Profile("colab", "cuda", tuple(range(1, 21)), 64, 10, 64, None,
                     paper_sem=True, paper_spa=False, real_data=True),
    "full": Profile("full", "cuda", tuple(range(1, 41)), 64, 60, 64, None,
                    paper_sem=True, paper_spa=True, real_data=True),
}


def use(name: str) -> Profile:
    """Switch the profile for this process (and the kernels/subprocesses it starts)."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}: use one of {sorted(PROFILES)} "
                         f"(environment variable {ENV})")
    os.environ[ENV] = name
    return current()


def current() -> Profile:
    """The active profile; ``full`` without a GPU is an error, not a silent CPU run."""
    name = os.environ.get(ENV, "quick").strip().lower() or "quick"
    if name not in PROFILES:
        raise ValueError(f"{ENV}={name!r} is not a profile: use one of {sorted(PROFILES)}")
    prof = PROFILES[name]
    if prof.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{ENV}={name} needs a CUDA GPU and torch sees none; "
                           f"use {ENV}=quick on a CPU machine")
    if prof.threads and not os.environ.get("OMP_NUM_THREADS"):    # an explicit thread count wins
        torch.set_num_threads(prof.threads)
    return prof
