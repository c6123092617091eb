"""Every number the paper reports about its own models, written once: top-1 accuracy (%) of
Tables 1-9, GFLOPs and parameters of Tables 1-2. All of them are the paper's, none measured here.

``_ROWS`` is the one source; the rest are views of it: :data:`PAPER_RESULTS` (one
:class:`PaperResult` per reported top-1 of a row the shipped configs reproduce, Tables 3, 4,
6-9) and the NTU-60 ablation tables :data:`PAPER_TABLE1`, :data:`PAPER_TABLE2`,
:data:`PAPER_TABLE4`, :data:`PAPER_TABLE5` (``{setting: dict(gflops, mparams, cs, cv)}``, the
columns each table has). ``tests/test_paper.py`` checks every row against the paper's text.

Columns: NTU-60 CS = ntu60-xsub, CV = ntu60-xview; NTU-120 CS = ntu120-xsub, CE = ntu120-xset;
SHREC 14-cls = shrec14, 28-cls = shrec28. ``streams``: the runs
(skelnb/configs/<benchmark>_<stream>.yaml) whose softmax scores make the row, fused with equal
weights: SEM-Net = joint + bone (Sec. 3.1, "summed"); "SPA" in Tables 6, 8, 9 is taken to be
SPA-4D (Table 6's SPA-Net row repeats Table 4's SPA-4D numbers); None for the ablation rows of
Tables 1, 2 and 5, which no shipped config trains (chapters 3, 5, 6, 9, 11 and 16 rebuild them).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PAPER_COLUMNS = {"ntu60-xsub": ("NTU-60", "CS"), "ntu60-xview": ("NTU-60", "CV"),
                 "ntu120-xsub": ("NTU-120", "CS"), "ntu120-xset": ("NTU-120", "CE"),
                 "shrec14": ("SHREC'17", "14-cls"), "shrec28": ("SHREC'17", "28-cls")}
_SEM, _SPA = ("sem-joint", "sem-bone"), ("spa-4d",)
_CS, _CV = "ntu60-xsub", "ntu60-xview"
_ROWS = [  # (table, setting as the paper prints it, streams, {benchmark: the paper's top-1 %, "gflops", "mparams"})
    # Table 1 (Sec. 4.2, SEM-Net): attention blocks, NTU-60
    ("1", "unified", None, {_CS: 85.3, _CV: 91.4, "gflops": 39.7}),
    ("1", "single-frame", None, {_CS: 88.4, _CV: 94.3, "gflops": 7.5}),
    ("1", "cross-frame", None, {_CS: 88.9, _CV: 94.9, "gflops": 7.4}),
    ("1", "cross-frame+GR", None, {_CS: 90.5, _CV: 95.6, "gflops": 7.4}),
    # Table 2 (Sec. 4.2, SEM-Net): feed-forward layer settings, NTU-60; Params in millions
    ("2", "k=3", None, {_CS: 88.6, _CV: 94.2, "gflops": 9.2, "mparams": 6.4}),
    ("2", "k=9", None, {_CS: 89.3, _CV: 95.1, "gflops": 13.9, "mparams": 10.5}),
    ("2", "k=(3,5,7,9)", None, {_CS: 90.3, _CV: 95.5, "gflops": 8.0, "mparams": 5.3}),
    ("2", "d=(1,3,5,7)", None, {_CS: 90.5, _CV: 95.6, "gflops": 7.4, "mparams": 4.8}),
    # Table 3 (Sec. 4.2, SEM-Net): joint, bone and their fusion, NTU-60
    ("3", "SEM-joint", ("sem-joint",), {_CS: 90.5, _CV: 95.6}),
    ("3", "SEM-bone", ("sem-bone",), {_CS: 90.2, _CV: 94.5}),
    ("3", "SEM-fuse", _SEM, {_CS: 91.8, _CV: 96.3}),
    # Table 4 (Sec. 4.2, SPA-Net): 3+1D and 4D convolutions, NTU-60
    ("4", "SPA-3+1D", ("spa-3+1d",), {_CS: 89.2, _CV: 94.9}),
    ("4", "SPA-4D", ("spa-4d",), {_CS: 89.6, _CV: 95.5}),
    # Table 5 (Sec. 4.2, SPA-Net): space size s and kernel size k, NTU-60
    ("5", "s=32, k=5", None, {_CS: 88.5, _CV: 94.7}),
    ("5", "s=64, k=5", None, {_CS: 89.6, _CV: 95.5}),
    ("5", "s=128, k=5", None, {_CS: 89.5, _CV: 95.3}),
    ("5", "s=64, k=3", None, {_CS: 88.6, _CV: 94.5}),
    ("5", "s=64, k=6", None, {_CS: 89.4, _CV: 95.3}),
    # Table 6 (Sec. 4.2, Fusion): SEM-Net and SPA-Net, NTU-60
    ("6", "SPA-Net", _SPA, {_CS: 89.6, _CV: 95.5}),
    ("6", "SEM-Net", _SEM, {_CS: 91.8, _CV: 96.3}),
    ("6", "SEM+SPA", _SEM + _SPA, {_CS: 92.6, _CV: 97.1}),
    ("6", "SEM-joint", ("sem-joint",), {_CS: 90.5, _CV: 95.6}),
    ("6", "SEM-joint+SPA", ("sem-joint",) + _SPA, {_CS: 92.0, _CV: 96.9}),
    # Table 7 (Sec. 4.4): the state of the art on NTU-60, our row (it repeats Table 6's SEM+SPA)
    ("7", "SEM+SPA (ours)", _SEM + _SPA, {_CS: 92.6, _CV: 97.1}),
    # Table 8 (Sec. 4.4): the state of the art on NTU-120, our rows
    ("8", "SEM", _SEM, {"ntu120-xsub": 87.5, "ntu120-xset": 89.4}),
    ("8", "SPA", _SPA, {"ntu120-xsub": 83.8, "ntu120-xset": 85.2}),
    ("8", "SEM+SPA", _SEM + _SPA, {"ntu120-xsub": 88.7, "ntu120-xset": 90.3}),
    # Table 9 (Sec. 4.4): the state of the art on SHREC'17, our rows
    ("9", "SEM", _SEM, {"shrec14": 95.0, "shrec28": 93.9}),
    ("9", "SPA", _SPA, {"shrec14": 93.6, "shrec28": 91.9}),
    ("9", "SEM+SPA", _SEM + _SPA, {"shrec14": 96.2, "shrec28": 94.4}),
]


@dataclass(frozen=True)
class PaperResult:
    """One top-1 the paper reports for a row whose streams the shipped configs train."""
    table: str
    setting: str
    benchmark: str          # a key of PAPER_COLUMNS (also the config files' prefix)
    top1: float             # the paper's top-1 accuracy, %
    streams: tuple[str, ...]

    @property
    def dataset(self) -> str:
        return PAPER_COLUMNS[self.benchmark][0]

    @property
    def column(self) -> str:
        return PAPER_COLUMNS[self.benchmark][1]

    def run_dirs(self, root: str | os.PathLike | None = None) -> list[Path]:
        """The run folders of this row's streams (as the configs name them)."""
        from .train import runs_root
        root = Path(root) if root is not None else runs_root()
        return [root / self.benchmark / s for s in self.streams]


PAPER_RESULTS: tuple[PaperResult, ...] = tuple(
    PaperResult(t, s, b, v, streams) for t, s, streams, cols in _ROWS if streams
    for b, v in cols.items() if b in PAPER_COLUMNS)


def _ntu60_table(table: str, key=lambda setting: setting) -> dict:
    """Table ``table`` as ``{key(setting): dict(gflops=, mparams=, cs=, cv=)}``, the columns it has."""
    short = {"gflops": "gflops", "mparams": "mparams", _CS: "cs", _CV: "cv"}
    return {key(s): {short[c]: cols[c] for c in short if c in cols} for t, s, _, cols in _ROWS if t == table}


def _space_kernel(setting: str) -> tuple[int, int]:
    """``"s=64, k=5"`` -> (64, 5)."""
    s, k = re.fullmatch(r"s=(\d+), k=(\d+)", setting).groups()
    return int(s), int(k)


PAPER_TABLE1 = _ntu60_table("1")                          # attention mode -> gflops, cs, cv
PAPER_TABLE2 = _ntu60_table("2")                          # MS-TFF row (sem.mstff.TABLE2) -> gflops, mparams, cs, cv
PAPER_TABLE4 = _ntu60_table("4", lambda s: s.removeprefix("SPA-").lower())   # SPA kind "3+1d" | "4d" -> cs, cv
PAPER_TABLE5 = _ntu60_table("5", _space_kernel)           # (space size s, kernel k) -> cs, cv
