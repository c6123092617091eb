"""One switch for every chapter: the ``quick`` profile (CPU, small synthetic data, few steps)
or the ``full`` profile (GPU, paper-size models, real data).

Set it with the environment variable ``SKELNB_PROFILE=quick|full`` (default ``quick``) or
``skelnb.profile.use("full")``; in Colab, ``skelnb.colab.setup()`` switches to ``full`` when a
GPU is present. Chapters read everything size-related from ``current()``, so the same code runs
in both profiles.
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
    threads: int | None           # torch CPU threads (None: leave torch's default)

    @property
    def quick(self) -> bool:
        return self.name == "quick"


PROFILES = {
    "quick": Profile("quick", "cpu", tuple(range(1, 11)), 32, 12, 32, 2),
    "full": Profile("full", "cuda", tuple(range(1, 41)), 64, 60, 64, None),
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
        raise RuntimeError(f"{ENV}=full needs a CUDA GPU and torch sees none; "
                           f"use {ENV}=quick on a CPU machine")
    if prof.threads:
        torch.set_num_threads(prof.threads)
    return prof
