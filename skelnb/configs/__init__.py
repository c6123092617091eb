"""The run configs shipped with the package (``<benchmark>_<stream>.yaml``, ``quick_*.yaml``),
so ``skelnb train ntu60-xsub_sem-joint`` works after a plain ``pip install``. In a clone,
``book/configs`` points here."""
from __future__ import annotations

import os
from pathlib import Path

DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """The shipped configs, by the name ``skelnb train`` takes (shared ``_*.yaml`` bases left out)."""
    return sorted(p.stem for p in DIR.glob("*.yaml") if not p.name.startswith("_"))


def find_config(path: str | os.PathLike) -> Path:
    """``path`` if it is a file; else, for a bare name (``ntu60-xsub_sem-joint``, with or without
    ``.yaml``), ``NAME.yaml`` in the working folder, then the shipped config of that name; else
    ``path`` unchanged (the loader then says it is missing)."""
    p = Path(path)
    if p.is_file() or len(p.parts) != 1:
        return p
    file = p.name if p.suffix in (".yaml", ".yml") else f"{p.name}.yaml"
    for cand in (Path(file), DIR / file):
        if cand.is_file() and not (cand.parent == DIR and cand.name.startswith("_")):
            return cand
    return p
