"""The official NTU RGB+D / NTU RGB+D 120 action names (``ntu_actions.txt``, package data)."""
from __future__ import annotations

import re
from functools import lru_cache
from importlib.resources import files

_CODE = re.compile(r"A(\d{3})")


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    text = files(__package__).joinpath("ntu_actions.txt").read_text(encoding="utf-8")
    return tuple(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


def ntu_action_names(num_classes: int = 120) -> list[str]:
    """Names of classes A001.. (index k: action A<k+1>): 60 for NTU-60, 120 for NTU-120."""
    names = _names()
    if not 1 <= num_classes <= len(names):
        raise ValueError(f"NTU has {len(names)} action classes, asked for {num_classes}")
    return list(names[:num_classes])


def describe_class(name: str) -> str:
    """``"A013"`` -> ``"A013 tear up paper"``; any other class name unchanged."""
    m = _CODE.fullmatch(str(name))
    if m and 1 <= int(m.group(1)) <= len(_names()):
        return f"{name} {_names()[int(m.group(1)) - 1]}"
    return str(name)
